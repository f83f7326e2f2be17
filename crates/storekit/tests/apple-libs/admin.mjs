// The running crabapple both Node suites talk to, and its admin API (no token).
//
// Environment: CRABAPPLE_BASE_URL (e.g. http://127.0.0.1:8686).

import assert from 'node:assert/strict';
import lib from '@apple/app-store-server-library';

export const BASE = (process.env.CRABAPPLE_BASE_URL || 'http://127.0.0.1:8686').replace(/\/$/, '');
export const ADMIN = `${BASE}/crabapple/admin`;

/** An admin request; asserts `expect` (or any status below 400) and returns the JSON body. */
export async function admin(method, path, body, expect) {
  const r = await fetch(ADMIN + path, {
    method, headers: { 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  if (expect !== undefined) assert.equal(r.status, expect, `${method} ${path}: ${text}`);
  else assert.ok(r.status < 400, `${method} ${path}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Apple's AppStoreServerAPIClient for `w`'s key, pointed at crabapple (clients.md §3.4: the
 * base URL is a plain JS property). */
export function client(w, env, bundle = w.bundle) {
  const c = new lib.AppStoreServerAPIClient(w.keyPem, w.keyId, w.issuer, bundle, env);
  c.urlBase = BASE + (env === lib.Environment.SANDBOX ? '/sandbox' : '');
  return c;
}
