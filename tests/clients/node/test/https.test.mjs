// Issue 13: node-app-store-connect-api, unmodified, pages a collection from crabapple over HTTPS.
// The library treats any `links.next` that is not `https://` as a path under its urlBase, so on
// plain http its pagination breaks (docs/clients.md §3); over crabapple's HTTPS listener, with
// crabapple's CA given by NODE_EXTRA_CA_CERTS (an environment variable Node reads at start), every
// page is followed. Node 20's fetch ignores HTTPS_PROXY by itself; with lib/env-proxy.cjs preloaded
// through NODE_OPTIONS (still only environment) the client, not given any urlBase, pages Apple's
// host through crabapple's proxy.
//
//   CRABAPPLE_HTTPS_URL  crabapple's HTTPS listener;  NODE_EXTRA_CA_CERTS  its CA (PEM)
//   CRABAPPLE_PROXY_URL  its proxy for Apple's hosts;  CRABAPPLE_CA_FILE  the same CA

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

test('node-app-store-connect-api, not given a urlBase, pages Apple\'s host through the proxy (environment only)', async () => {
  const proxy = process.env.CRABAPPLE_PROXY_URL;
  assert.ok(proxy && process.env.CRABAPPLE_CA_FILE, 'set CRABAPPLE_PROXY_URL and CRABAPPLE_CA_FILE (scripts/test.sh does)');
  // A script as a user writes it for Apple, run with HTTPS_PROXY, NODE_EXTRA_CA_CERTS and the
  // proxy preload in NODE_OPTIONS.
  const script = `
    import { api } from 'node-app-store-connect-api';
    const k = JSON.parse(process.env.KEY);
    const { readAll, read } = await api({ issuerId: k.issuerId, apiKey: k.apiKey, privateKey: k.privateKey, automaticRetries: 0 });
    const first = await read('apps', { params: { limit: 2 } });
    const { data } = await readAll('apps', { params: { limit: 2 } });
    console.log(JSON.stringify({ next: first.links.next, ids: data.map((a) => a.id).sort() }));`;
  const { execFileSync } = await import('node:child_process');
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    cwd: path.resolve(path.dirname(new URL(import.meta.url).pathname), '..'),
    env: { ...process.env, KEY: JSON.stringify(adminKey()), HTTPS_PROXY: proxy,
      NODE_EXTRA_CA_CERTS: process.env.CRABAPPLE_CA_FILE,
      NODE_OPTIONS: `--require ${path.resolve(path.dirname(new URL(import.meta.url).pathname), '../lib/env-proxy.cjs')}` },
  });
  const got = JSON.parse(out.trim().split('\n').pop());
  assert.ok(got.next.startsWith('https://api.appstoreconnect.apple.com/v1/apps?'), got.next);
  assert.deepEqual(got.ids, await allAppIds());
});
