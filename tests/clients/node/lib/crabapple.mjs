// What the node suites share: where the crabapple under test is (scripts/test.sh sets the
// environment), its CLI, an appstore-connect-sdk client holding the team's Admin key, and the
// checks every SDK answer gets.
//
//   CRABAPPLE_BASE_URL    crabapple itself (ground truth is read from here with plain fetch)
//   CRABAPPLE_CLIENT_URL  where the SDK is pointed (default: CRABAPPLE_BASE_URL)
//   CRABAPPLE_DATA        the server's data dir;  CRABAPPLE_BIN  the crabapple binary

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..', '..', '..');
export const base = (process.env.CRABAPPLE_BASE_URL || '').replace(/\/$/, '');
export const clientUrl = (process.env.CRABAPPLE_CLIENT_URL || base).replace(/\/$/, '');
export const data = process.env.CRABAPPLE_DATA;
export const bin = process.env.CRABAPPLE_BIN || path.join(process.env.CARGO_TARGET_DIR || path.join(repo, 'target'), 'debug', 'crabapple');

// The admin API's token header (`crabapple serve` keeps the token in DATA/admin-token).
export function adminHeaders() {
  assert.ok(data, 'set CRABAPPLE_DATA to its data dir');
  return { 'x-crabapple-admin-token': readFileSync(path.join(data, 'admin-token'), 'utf8').trim() };
}

export function cli(...args) {
  return execFileSync(bin, args, { encoding: 'utf8' });
}

// An SDK client (made by the SDK's own `createClient`) signing with the team's Admin key.
export function adminClient(createClient) {
  assert.ok(base, 'set CRABAPPLE_BASE_URL to a running crabapple');
  assert.ok(data, 'set CRABAPPLE_DATA to its data dir');
  assert.ok(existsSync(bin), `${bin} not found: cargo build -p crabapple, or set CRABAPPLE_BIN`);
  const keys = JSON.parse(cli('keys', 'list', '--data', data, '--json'));
  const admin = keys.find((k) => k.kind === 'team' && !k.revoked && k.roles.includes('ADMIN'));
  assert.ok(admin, 'no active Admin team key');
  const privateKey = readFileSync(admin.keyPath || path.join(data, `AuthKey_${admin.keyId}.p8`), 'utf8');
  return createClient({ issuerId: admin.issuerId, privateKeyId: admin.keyId, privateKey, baseUrl: clientUrl });
}

// A failed SDK call returns { error, response }: show Apple's error body, not just "undefined".
export function ok(result, what, status = 200) {
  assert.ok(result.response, `${what}: no response (${result.error})`);
  assert.equal(result.response.status, status, `${what}: HTTP ${result.response.status} ${JSON.stringify(result.error)}`);
  assert.equal(result.response.headers.get('content-type'), 'application/json', `${what}: Content-Type`);
  return result.data;
}

// Apple renders unset attributes as null, where the spec (and so the SDK's zod schemas) declares
// most of them optional but not nullable. Strict on everything else: the document is checked with
// null-valued members removed, so a required member that is null still fails (as missing).
export function withoutNulls(v, dropped, at = '') {
  if (Array.isArray(v)) return v.map((x, i) => withoutNulls(x, dropped, `${at}[${i}]`));
  if (v && typeof v === 'object') {
    const out = {};
    for (const [k, x] of Object.entries(v)) {
      if (x === null) dropped.push(`${at}.${k}`.replace(/^\./, ''));
      else out[k] = withoutNulls(x, dropped, `${at}.${k}`);
    }
    return out;
  }
  return v;
}

export function zodOk(schema, doc, what) {
  const r = schema.safeParse(withoutNulls(doc, []));
  assert.ok(r.success, `${what} does not match the SDK's zod schema (null members removed first): ${r.success ? '' : JSON.stringify(r.error.issues.slice(0, 5))}`);
}
