// Issue 13, faults on demand: node-app-store-connect-api's own retry logic (it repeats a request
// that answered 401, 429 or 500, `automaticRetries` times) rides out counted injected faults;
// with no retries left the client sees Apple's error. Faults are armed through the admin API.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test, afterEach } from 'node:test';
import { api } from 'node-app-store-connect-api';
import { adminHeaders, base, cli, data } from '../lib/crabapple.mjs';

function adminKey() {
  const keys = JSON.parse(cli('keys', 'list', '--data', data, '--json'));
  const k = keys.find((k) => k.kind === 'team' && !k.revoked && k.roles.includes('ADMIN'));
  return { issuerId: k.issuerId, apiKey: k.keyId,
    privateKey: readFileSync(k.keyPath || path.join(data, `AuthKey_${k.keyId}.p8`), 'utf8') };
}

async function arm(fault) {
  const r = await fetch(`${base}/crabapple/admin/faults`, { method: 'POST',
    headers: { ...adminHeaders(), 'content-type': 'application/json' }, body: JSON.stringify(fault) });
  assert.equal(r.status, 201, await r.text());
}

afterEach(async () => {
  const r = await fetch(`${base}/crabapple/admin/faults`, { method: 'DELETE', headers: adminHeaders() });
  assert.equal(r.status, 204);
});

for (const status of [500, 429]) {
  test(`node-app-store-connect-api retries through two injected ${status}s`, async () => {
    await arm({ route: 'GET /v1/apps', kind: 'status', status, retryAfter: 1, count: 2 });
    const { read } = await api({ ...adminKey(), urlBase: base, automaticRetries: 2 });
    const { data: apps } = await read('apps');
    assert.ok(apps.length > 0);
  });
}

test('node-app-store-connect-api with no retries left sees Apple\'s 500', async () => {
  await arm({ route: 'GET /v1/apps', kind: 'status', status: 500, count: 1 });
  const { read } = await api({ ...adminKey(), urlBase: base, automaticRetries: 0 });
  await assert.rejects(read('apps'), (e) => {
    assert.match(String(e.message ?? e), /500|UNEXPECTED_ERROR|unexpected/i);
    return true;
  });
});
