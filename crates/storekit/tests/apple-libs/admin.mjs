// The running crabapple both Node suites talk to, and its admin API.
//
// Environment: CRABAPPLE_BASE_URL (e.g. http://127.0.0.1:8686), CRABAPPLE_DATA (its data dir,
// where `crabapple serve` keeps the admin API's token).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import lib from '@apple/app-store-server-library';

export const BASE = (process.env.CRABAPPLE_BASE_URL || 'http://127.0.0.1:8686').replace(/\/$/, '');
export const ADMIN = `${BASE}/crabapple/admin`;

/** The admin API's token header. */
export function adminHeaders() {
  const data = process.env.CRABAPPLE_DATA;
  assert.ok(data, "set CRABAPPLE_DATA to the server's data dir (its admin-token file)");
  return { 'x-crabapple-admin-token': readFileSync(path.join(data, 'admin-token'), 'utf8').trim() };
}

/** An admin request; asserts `expect` (or any status below 400) and returns the JSON body. */
export async function admin(method, path, body, expect) {
  const r = await fetch(ADMIN + path, {
    method, headers: { 'content-type': 'application/json', ...adminHeaders() }, body: body ? JSON.stringify(body) : undefined,
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
