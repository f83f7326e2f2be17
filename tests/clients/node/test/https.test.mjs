// Issue 13: node-app-store-connect-api, unmodified, pages a collection from crabapple over HTTPS.
// The library treats any `links.next` that is not `https://` as a path under its urlBase, so on
// plain http its pagination breaks (docs/clients.md §3); over crabapple's HTTPS listener, with
// crabapple's CA given by NODE_EXTRA_CA_CERTS (an environment variable Node reads at start), every
// page is followed. Node 20's fetch ignores HTTPS_PROXY, so this client is given the listener as
// its documented `urlBase` rather than going through the proxy.
//
//   CRABAPPLE_HTTPS_URL  crabapple's HTTPS listener;  NODE_EXTRA_CA_CERTS  its CA (PEM)

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { api } from 'node-app-store-connect-api';
import { base, cli, data } from '../lib/crabapple.mjs';

function adminKey() {
  const keys = JSON.parse(cli('keys', 'list', '--data', data, '--json'));
  const k = keys.find((k) => k.kind === 'team' && !k.revoked && k.roles.includes('ADMIN'));
  assert.ok(k, 'no active Admin team key');
  return { issuerId: k.issuerId, apiKey: k.keyId,
    privateKey: readFileSync(k.keyPath || path.join(data, `AuthKey_${k.keyId}.p8`), 'utf8') };
}

async function allAppIds() {
  const token = cli('token', '--data', data).trim();
  const r = await fetch(`${base}/v1/apps?limit=200`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(r.status, 200);
  return (await r.json()).data.map((a) => a.id).sort();
}

test('node-app-store-connect-api follows links.next over crabapple HTTPS (NODE_EXTRA_CA_CERTS)', async () => {
  const https = (process.env.CRABAPPLE_HTTPS_URL || '').replace(/\/$/, '');
  assert.ok(https && process.env.NODE_EXTRA_CA_CERTS,
    'set CRABAPPLE_HTTPS_URL and NODE_EXTRA_CA_CERTS (scripts/test.sh does)');
  const { read, readAll } = await api({ ...adminKey(), urlBase: https, automaticRetries: 0 });
  const first = await read('apps', { params: { limit: 2 } });
  assert.equal(first.data.length, 2);
  assert.ok(first.links.next.startsWith(`${https}/v1/apps?`), first.links.next);
  const { data: apps } = await readAll('apps', { params: { limit: 2 } });
  assert.deepEqual(apps.map((a) => a.id).sort(), await allAppIds());
});
