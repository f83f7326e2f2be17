// Issue 13: Apple's Node App Store Server Library, unmodified and not given a base URL, reaches
// crabapple through its proxy for Apple's hosts with environment variables only. The library
// sends with node-fetch v2, which ignores HTTPS_PROXY; `NODE_OPTIONS=--require
// global-agent/bootstrap` with GLOBAL_AGENT_HTTP_PROXY routes Node's https module through the
// proxy (still only environment), and NODE_EXTRA_CA_CERTS trusts crabapple's CA. The host name
// the library picks for its Environment chooses the environment, as Apple's hosts do.
//
// Needs CRABAPPLE_PROXY_URL and CRABAPPLE_CA_FILE (scripts/test.sh starts crabapple with --proxy).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { admin } from './admin.mjs';

// What runs in the child process: the library as a user calls it, nothing pointed anywhere.
const CHILD = `
const lib = require('@apple/app-store-server-library');
const [keyPem, keyId, issuer, bundle, env, id] = JSON.parse(process.argv[1]);
const c = new lib.AppStoreServerAPIClient(keyPem, keyId, issuer, bundle, lib.Environment[env]);
c.getTransactionInfo(id).then(
  (r) => console.log(JSON.stringify({ ok: !!r.signedTransactionInfo })),
  (e) => console.log(JSON.stringify({ status: e.httpStatusCode, apiError: e.apiError })));
`;

test("Apple's Node library reaches the production and sandbox host names through the proxy", async () => {
  const proxy = process.env.CRABAPPLE_PROXY_URL;
  const ca = process.env.CRABAPPLE_CA_FILE;
  assert.ok(proxy && ca, 'set CRABAPPLE_PROXY_URL and CRABAPPLE_CA_FILE (scripts/test.sh does)');
  const tag = randomUUID().slice(0, 8);
  const bundle = `com.crabapple.it.hosts${tag}`;
  const app = await admin('POST', '/resources/apps', { attributes: {
    name: `Hosts ${tag}`, bundleId: bundle, sku: `HOSTS${tag}`, primaryLocale: 'en-US' } }, 201);
  const gems = `${bundle}.gems`;
  await admin('POST', '/resources/inAppPurchases', { attributes: {
    name: 'Gems', productId: gems, inAppPurchaseType: 'CONSUMABLE' }, relationships: { apps: [app.data.id] } }, 201);
  const key = await admin('POST', '/keys', { kind: 'inAppPurchase' }, 201);
  const keyPem = readFileSync(key.keyPath, 'utf8');
  const bought = {};
  for (const env of ['production', 'sandbox']) {
    bought[env] = (await admin('POST', '/commerce/purchase', {
      bundleId: bundle, productId: gems, customer: `hosts-${env}`, environment: env })).transactionId;
  }
  const run = (env, id) => JSON.parse(execFileSync(process.execPath, ['-e', CHILD,
    JSON.stringify([keyPem, key.keyId, key.issuerId, bundle, env, id])], {
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: '--require global-agent/bootstrap',
      GLOBAL_AGENT_HTTP_PROXY: proxy, NODE_EXTRA_CA_CERTS: ca },
  }));
  assert.deepEqual(run('PRODUCTION', bought.production), { ok: true });
  assert.deepEqual(run('SANDBOX', bought.sandbox), { ok: true });
  // Each host sees only its environment's transactions.
  assert.deepEqual(run('PRODUCTION', bought.sandbox), { status: 404, apiError: 4040010 });
  assert.deepEqual(run('SANDBOX', bought.production), { status: 404, apiError: 4040010 });
});
