// Every GET operation of Apple's spec through npm appstore-connect-sdk (unmodified), plus a handful
// of write operations on disposable resources, against a running crabapple.
//
// Environment (scripts/test.sh sets it): CRABAPPLE_BASE_URL, CRABAPPLE_DATA, CRABAPPLE_BIN and
// optionally CRABAPPLE_CLIENT_URL (see sdk.test.mjs).
//
// 1. The operations are those of crates/spec/manifest.json (Apple's operationIds). Each maps to the
//    SDK's generated function (hey-api: `apps_getCollection` -> `appsGetCollection`) and, when the
//    SDK has one, to its zod response schema (`zAppsGetCollectionResponse`).
// 2. Ids are discovered as tests/prism/sweep.py does: collections first, then related endpoints of
//    every id known (breadth first, data + included + linkage), then crabapple's admin listing
//    (`GET /crabapple/admin/resources/{type}`) for more candidates. For an operation on `{id}` the
//    test prefers, among the candidates, one whose related data is not empty (a probe with plain
//    fetch), so to-one related endpoints are checked with something to show.
// 3. Each GET operation is one test: SDK call with the operation's required query parameters only
//    (enum: first value; relationship filters: an id; report downloads: the team's vendor number),
//    then status, Content-Type, links.self, the shape of `data` for the operation's kind, the type
//    of every resource object, and the SDK's zod schema.
//
// Our own ground-truth requests send User-Agent crabapple-tests/* (kept out of exercised-ops.txt).

import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import * as sdk from 'appstore-connect-sdk';
import { withoutNulls } from '../lib/crabapple.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..', '..', '..');
const base = (process.env.CRABAPPLE_BASE_URL || '').replace(/\/$/, '');
const clientUrl = (process.env.CRABAPPLE_CLIENT_URL || base).replace(/\/$/, '');
const dataDir = process.env.CRABAPPLE_DATA;
const bin = process.env.CRABAPPLE_BIN || path.join(process.env.CARGO_TARGET_DIR || path.join(repo, 'target'), 'debug', 'crabapple');
const manifest = JSON.parse(readFileSync(path.join(repo, 'crates', 'spec', 'manifest.json'), 'utf8'));

const UA = 'crabapple-tests/every-operation';
const CONCURRENCY = 8;
// Candidate ids tried per operation when looking for non-empty related data.
const MAX_PROBES = 12;
const MAX_PROBES_TO_ONE = 60;
const TO_ONE = new Set(['getToOneRelated', 'getToOneRelationship']);
const NO_SALES = 'There were no sales for the date specified.';

// ------------------------------------------------------------------------------ SDK mapping
// hey-api's names: operationId parts joined in camelCase.
const sdkName = (opId) =>
  opId
    .split('_')
    .map((p, i) => (i === 0 ? p[0].toLowerCase() + p.slice(1) : p[0].toUpperCase() + p.slice(1)))
    .join('');
const norm = (s) => s.toLowerCase().replace(/[^a-z0-9]/g, '');
const sdkFunctions = new Map(); // normalized name -> export name
for (const [k, v] of Object.entries(sdk)) {
  if (typeof v === 'function' && /^[a-y]/.test(k)) sdkFunctions.set(norm(k), k);
}
function sdkFunctionFor(opId) {
  const direct = sdkName(opId);
  if (typeof sdk[direct] === 'function') return direct;
  return sdkFunctions.get(norm(opId)) || null;
}
function zodFor(fnName, suffix) {
  const s = sdk[`z${fnName[0].toUpperCase()}${fnName.slice(1)}${suffix}`];
  return s && typeof s.safeParse === 'function' ? s : null;
}

// ------------------------------------------------------------------------------ raw HTTP
let token;
let rawRequests = 0;
let client;
let setupError = null;
let vendorNumber = null;
let serverNowMs = Date.now();

function cli(...args) {
  return execFileSync(bin, args, { encoding: 'utf8' });
}

const ourKeys = [];
function createKey(name) {
  const k = JSON.parse(cli('keys', 'create', '--data', dataDir, '--role', 'ADMIN', '--name', name, '--json'));
  ourKeys.push(k.keyId);
  return k;
}

async function rawGet(pathAndQuery, { auth = true } = {}) {
  const headers = { 'User-Agent': UA };
  if (auth) headers.Authorization = `Bearer ${token}`;
  // The admin API's own token (`crabapple serve` keeps it in DATA/admin-token).
  if (pathAndQuery.startsWith('/crabapple/admin')) {
    headers['x-crabapple-admin-token'] = readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim();
  }
  rawRequests++;
  const res = await fetch(base + pathAndQuery, { headers });
  const ctype = res.headers.get('content-type') || '';
  const body = ctype.includes('json') ? await res.json().catch(() => null) : await res.text();
  return { status: res.status, ctype, body };
}

async function pool(items, n, fn) {
  const out = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  });
  await Promise.all(workers);
  return out;
}

// ---------------------------------------------------------------------------- discovery
const ids = new Map(); // type -> [id] (API walk first, then the admin listing)
function addId(type, id) {
  if (typeof type !== 'string' || typeof id !== 'string' || !id) return 0;
  let list = ids.get(type);
  const newType = !list;
  if (!list) ids.set(type, (list = []));
  if (!list.includes(id)) list.push(id);
  return newType ? 1 : 0;
}
const firstId = (type) => (ids.get(type) || [])[0] || null;

function harvest(doc) {
  if (!doc || typeof doc !== 'object') return 0;
  let fresh = 0;
  const items = [];
  if (Array.isArray(doc.data)) items.push(...doc.data);
  else if (doc.data && typeof doc.data === 'object') items.push(doc.data);
  if (Array.isArray(doc.included)) items.push(...doc.included);
  for (const it of items) {
    if (!it || typeof it !== 'object') continue;
    fresh += addId(it.type, it.id);
    for (const rel of Object.values(it.relationships || {})) {
      const ld = rel && rel.data;
      for (const x of Array.isArray(ld) ? ld : [ld]) if (x && typeof x === 'object') fresh += addId(x.type, x.id);
    }
  }
  return fresh;
}

// Values for required parameters that are neither an enum nor an id (report downloads).
function specialValue(name) {
  if (name === 'filter[vendorNumber]') return vendorNumber;
  if (name === 'filter[regionCode]') return 'ZZ';
  if (name === 'filter[reportDate]') {
    const t = new Date(serverNowMs - 45 * 86400e3); // a finished fiscal month
    return `${t.getUTCFullYear()}-${String(t.getUTCMonth() + 1).padStart(2, '0')}`;
  }
  return null;
}

// The operation's required query parameters as SDK query values, or { why }.
function fillRequired(op) {
  const query = {};
  const target = op.target || op.resource;
  const rels = (target && manifest.resources[target] && manifest.resources[target].relationships) || {};
  for (const p of op.params || []) {
    if (!p.required) continue;
    const schema = p.schema || {};
    const isArray = schema.type === 'array';
    const enumValues = schema.enum || (schema.items && schema.items.enum);
    let value = null;
    if (enumValues && enumValues.length) value = enumValues[0];
    else value = specialValue(p.name);
    if (value == null) {
      const m = /^filter\[([A-Za-z0-9]+)\]$/.exec(p.name);
      if (!m) return { why: `required ${p.name} has no enum to pick from` };
      const field = m[1];
      let rtype = null;
      if (field === 'id') rtype = target;
      else if (rels[field] && rels[field].target) rtype = rels[field].target;
      else if (manifest.resources[field]) rtype = field;
      value = rtype ? firstId(rtype) : null;
      if (!value) return { why: `required ${p.name}: no id of ${rtype || 'a known type'}` };
    }
    const t = isArray ? (schema.items || {}).type : schema.type;
    if (t === 'integer' || t === 'number') value = Number(value);
    query[p.name] = isArray ? [value] : value;
  }
  return { query };
}

function queryString(query) {
  const parts = [];
  for (const [k, v] of Object.entries(query)) parts.push(`${k}=${encodeURIComponent(Array.isArray(v) ? v.join(',') : v)}`);
  return parts.length ? `?${parts.join('&')}` : '';
}

// Discovery calls answered with anything but 200 (or a report's documented 404).
const refused = [];
async function discover(gets) {
  const status = await rawGet('/crabapple/admin/status', { auth: false });
  assert.equal(status.status, 200, 'GET /crabapple/admin/status');
  vendorNumber = (status.body.team && status.body.team.vendorNumber) || null;
  if (status.body.clock && status.body.clock.nowMs) serverNowMs = status.body.clock.nowMs;

  const called = new Set();
  let apiCalls = 0;
  for (let round = 1; round <= 20; round++) {
    const batch = [];
    for (const op of gets) {
      if (called.has(op.id) || op.kind === 'getInstance') continue;
      let p = op.path;
      if (p.includes('{id}')) {
        const id = firstId(op.resource);
        if (!id) continue;
        p = p.replace('{id}', encodeURIComponent(id));
      }
      const { query } = fillRequired(op);
      if (!query) continue;
      if ((op.params || []).some((x) => x.name === 'limit')) query.limit = op.path.includes('{id}') ? 50 : 200;
      called.add(op.id);
      batch.push(p + queryString(query));
    }
    if (!batch.length) break;
    apiCalls += batch.length;
    // Harvested in the batch's order, not as the parallel calls answer: the first id found of a
    // type is the next round's parent, and it must not depend on which replica answered first
    // (one app of the world has analytics report requests; a walk from another app found none).
    const bodies = await pool(batch, CONCURRENCY, async (u) => {
      const r = await rawGet(u);
      // A walk that silently drops an answer finds fewer ids and fails far from the cause
      // (a replica refusing a new key once made 7 analytics operations "have no id").
      if (r.status !== 200 && !(r.status === 404 && JSON.stringify(r.body).includes(NO_SALES))) {
        refused.push(`${u} -> ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
      }
      return r.status === 200 ? r.body : null;
    });
    const fresh = bodies.map((b) => (b ? harvest(b) : 0));
    if (fresh.reduce((a, b) => a + b, 0) === 0) break;
  }
  // More candidates (and the types the walk did not reach) from crabapple's admin listing.
  const needed = new Set();
  for (const op of gets) {
    if (op.path.includes('{id}') && op.resource) needed.add(op.resource);
    if (op.target) needed.add(op.target);
  }
  let adminTypes = 0;
  await pool([...needed].sort(), CONCURRENCY, async (type) => {
    const r = await rawGet(`/crabapple/admin/resources/${encodeURIComponent(type)}?limit=200`, { auth: false });
    if (r.status !== 200 || !r.body || !Array.isArray(r.body.data)) return;
    if (!ids.has(type) && r.body.data.length) adminTypes++;
    for (const it of r.body.data) addId(type, it && it.id);
  });
  return { apiCalls, adminTypes };
}

// Is this document's related data non-empty?
function hasData(r) {
  if (r.status !== 200) return false;
  if (typeof r.body === 'string') return r.body.length > 0;
  const d = r.body && r.body.data;
  if (Array.isArray(d)) return d.length > 0;
  if (d && typeof d === 'object') return true;
  // xcode metrics / diagnostic logs: anything but an empty object
  return !!r.body && typeof r.body === 'object' && !('data' in r.body) && Object.keys(r.body).length > 0;
}

// Pick the id for `{id}`: the first candidate whose response has data, else the first that answers.
async function pickId(op, query) {
  const candidates = (ids.get(op.resource) || []).slice(0, TO_ONE.has(op.kind) ? MAX_PROBES_TO_ONE : MAX_PROBES);
  if (!candidates.length) return { why: `no ${op.resource} id in the world` };
  if (op.kind === 'getInstance') return { id: candidates[0], probes: 0 };
  let firstOk = null;
  let probes = 0;
  for (const id of candidates) {
    probes++;
    const r = await rawGet(op.path.replace('{id}', encodeURIComponent(id)) + queryString(query));
    if (hasData(r)) return { id, probes, nonEmpty: true };
    if (r.status === 200 && firstOk == null) firstOk = id;
  }
  return { id: firstOk || candidates[0], probes, nonEmpty: false };
}

// --------------------------------------------------------------------------------- setup
const gets = manifest.operations
  .filter((o) => o.method === 'GET')
  .sort((a, b) => a.path.split('/').length - b.path.split('/').length || a.path.localeCompare(b.path) || a.id.localeCompare(b.id));
const noExport = manifest.operations.filter((o) => !sdkFunctionFor(o.id)).map((o) => o.id);
let discovery = null;
const t0 = Date.now();
try {
  assert.ok(base, 'set CRABAPPLE_BASE_URL to a running crabapple');
  assert.ok(dataDir, 'set CRABAPPLE_DATA to its data dir');
  assert.ok(existsSync(bin), `${bin} not found: cargo build -p crabapple, or set CRABAPPLE_BIN`);
  // Keys of our own (revoked at the end): ~800 SDK calls and ~2000 ground-truth requests would
  // otherwise eat most of the Admin key's 3600 requests per hour, which later suites share.
  const issuerId = JSON.parse(cli('keys', 'list', '--data', dataDir, '--json')).find((k) => k.kind === 'team')?.issuerId;
  const sdkKey = createKey('every-operation sdk');
  const probeKey = createKey('every-operation probes');
  const privateKey = readFileSync(sdkKey.keyPath || path.join(dataDir, `AuthKey_${sdkKey.keyId}.p8`), 'utf8');
  client = sdk.createClient({ issuerId: sdkKey.issuerId || issuerId, privateKeyId: sdkKey.keyId, privateKey, baseUrl: clientUrl });
  token = cli('token', '--data', dataDir, '--key', probeKey.keyId, '--ttl', '1200').trim();
  // The server picks up new keys within a second.
  let st = 0;
  for (let i = 0; i < 50 && st !== 200; i++) {
    st = (await rawGet('/v1/apps?limit=1')).status;
    if (st !== 200) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(st, 200, `GET /v1/apps with our new key ${probeKey.keyId}`);
  discovery = await discover(gets);
  discovery.seconds = (Date.now() - t0) / 1000;
} catch (e) {
  setupError = e;
}

const tally = { called: 0, passed: 0, failed: [], emptyToOne: [], emptyRelated: 0, notFoundReports: [], zodMissing: [], nullMembers: [], divergent: new Set(), zodChecked: 0 };

after(() => {
  for (const k of ourKeys) {
    try {
      cli('keys', 'revoke', '--data', dataDir, k);
    } catch (e) {
      console.log(`# could not revoke our key ${k}: ${e.message}`);
    }
  }
  const lines = [
    `every-operation: ${gets.length} GET operations in the manifest; ${noExport.length} of ${manifest.operations.length} operations have no SDK export` +
      (noExport.length ? `: ${noExport.join(', ')}` : ''),
    discovery && `discovery: ${discovery.apiCalls} API calls, ids of ${ids.size} types (${discovery.adminTypes} only from the admin listing) in ${discovery.seconds.toFixed(1)}s`,
    `called ${tally.called} through the SDK; passed ${tally.passed}; failed ${tally.failed.length}` +
      (tally.failed.length ? ` (${tally.failed.join(', ')})` : ''),
    `validated with the SDK's zod response schema: ${tally.zodChecked}`,
    `to-one with data: null (zod skipped): ${tally.emptyToOne.length}${tally.emptyToOne.length ? ` (${tally.emptyToOne.join(', ')})` : ''}`,
    `related operations with empty data for every candidate id: ${tally.emptyRelated}`,
    tally.notFoundReports.length && `reports answered with the documented 404 "${NO_SALES}": ${tally.notFoundReports.join(', ')}`,
    tally.zodMissing.length && `no zod response schema in the SDK: ${tally.zodMissing.join(', ')}`,
    tally.divergent.size && `zod issues where the SDK predates spec 4.4.1 (not failed): ${[...tally.divergent].join(', ')}`,
    `operations whose documents had null members (optional in the spec; removed before zod): ${tally.nullMembers.length}${tally.nullMembers.length ? ` (${tally.nullMembers.join(', ')})` : ''}`,
    `ground-truth requests (plain fetch, own key): ${rawRequests}; total ${((Date.now() - t0) / 1000).toFixed(1)}s`,
  ].filter(Boolean);
  for (const l of lines) console.log(`# ${l}`);
});

test('setup: server, key, discovery', () => {
  if (setupError) throw setupError;
  assert.deepEqual(refused, [], 'discovery calls not answered 200');
  assert.ok(ids.size > 50, `discovery found ids of only ${ids.size} resource types`);
});

// --------------------------------------------------------------------------- assertions
const ARRAY_KINDS = new Set(['getCollection', 'getToManyRelated', 'getToManyRelationship', 'getMetrics']);
const LINKAGE = new Set(['getToOneRelationship', 'getToManyRelationship']);

function assertSelfLink(links, requestPath, what) {
  assert.ok(links && typeof links.self === 'string' && links.self, `${what}: links.self missing`);
  assertOurLinks(links, what);
  const u = new URL(links.self);
  assert.equal(decodeURIComponent(u.pathname), decodeURIComponent(requestPath), `${what}: links.self ${links.self} is not the requested path`);
}

// Every link points back at the server the client talks to.
function assertOurLinks(links, what) {
  for (const [name, v] of Object.entries(links || {})) {
    if (v == null) continue;
    assert.equal(typeof v, 'string', `${what}: links.${name}`);
    assert.ok(v.startsWith(`${clientUrl}/`), `${what}: links.${name} ${v} is not on ${clientUrl}`);
  }
}

// Runs a check, keeping its assertion failure for the end (so one test reports every problem).
function softly(problems) {
  return (fn) => {
    try {
      return fn();
    } catch (e) {
      if (!(e instanceof assert.AssertionError)) throw e;
      problems.push(e.message);
      return undefined;
    }
  };
}
const hard = (fn) => fn();

function checkResourceObject(r, expectType, what, soft = hard) {
  assert.ok(r && typeof r === 'object' && !Array.isArray(r), `${what}: not an object`);
  assert.equal(typeof r.type, 'string', `${what}: type`);
  assert.equal(typeof r.id, 'string', `${what}: id`);
  if (expectType) assert.equal(r.type, expectType, `${what}: type`);
  assert.ok(r.links && typeof r.links.self === 'string' && r.links.self, `${what} (${r.type} ${r.id}): links.self missing`);
  soft(() => assertOurLinks(r.links, `${what} (${r.type} ${r.id})`));
  for (const [name, rel] of Object.entries(r.relationships || {})) {
    if (rel && rel.links) soft(() => assertOurLinks(rel.links, `${what}.relationships.${name}`));
  }
}

function checkJsonDoc(op, doc, requestPath, id, soft = hard) {
  assert.ok(doc && typeof doc === 'object' && !Array.isArray(doc), 'body is not a JSON object');
  assert.ok('data' in doc, 'document has no data');
  soft(() => assertSelfLink(doc.links, requestPath, 'document'));
  const expectType = op.kind === 'getMetrics' ? null : op.target || op.resource;
  const d = doc.data;
  if (ARRAY_KINDS.has(op.kind)) {
    assert.ok(Array.isArray(d), `data of a ${op.kind} must be an array, got ${JSON.stringify(d)?.slice(0, 200)}`);
  } else if (TO_ONE.has(op.kind)) {
    assert.ok(d === null || (typeof d === 'object' && !Array.isArray(d)), `data of a ${op.kind} must be an object or null`);
  } else {
    assert.ok(d && typeof d === 'object' && !Array.isArray(d), `data of a ${op.kind} must be an object`);
  }
  if (op.kind === 'getInstance') assert.equal(d.id, id, 'data.id is not the requested id');
  const paging = doc.meta && doc.meta.paging;
  if (Array.isArray(d) && paging) {
    assert.ok(Number.isInteger(paging.limit), 'meta.paging.limit');
    assert.ok(d.length <= paging.limit || op.kind === 'getMetrics', `${d.length} items on a page of limit ${paging.limit}`);
    if (doc.links.next) {
      // A next page exists only after a full one.
      assert.ok(d.length === paging.limit || op.kind === 'getMetrics', `links.next on a short page (${d.length} of limit ${paging.limit})`);
      if (paging.total != null) assert.ok(paging.total > d.length, `links.next although meta.paging.total ${paging.total} items are all here`);
    }
  }
  if (op.kind === 'getMetrics') return;
  const items = d == null ? [] : Array.isArray(d) ? d : [d];
  items.forEach((r, i) => {
    const what = `data${Array.isArray(d) ? `[${i}]` : ''}`;
    if (LINKAGE.has(op.kind)) {
      assert.equal(r.type, expectType, `${what}: linkage type`);
      assert.equal(typeof r.id, 'string', `${what}: linkage id`);
    } else {
      checkResourceObject(r, expectType, what, soft);
    }
  });
  (doc.included || []).forEach((r, i) => checkResourceObject(r, null, `included[${i}]`, soft));
}

// Where the SDK (generated from an older spec) and Apple's spec 4.4.1 (which crabapple follows)
// disagree: such zod issues are counted, not failed.
const SDK_DIVERGENCES = [
  {
    // Spec 4.4.1: every *V1MetricResponse has data[].dataPoints as an array; the SDK: an object.
    path: /^data\.\d+\.dataPoints$/,
    message: /expected object, received array/,
  },
];
const divergent = (issue) => SDK_DIVERGENCES.some((d) => d.path.test(issue.path.join('.')) && d.message.test(issue.message));

function zodCheck(schema, doc, what, label = what) {
  const dropped = [];
  const r = schema.safeParse(withoutNulls(doc, dropped));
  const real = r.success ? [] : r.error.issues.filter((x) => !divergent(x));
  if (!r.success && real.length < r.error.issues.length) tally.divergent.add(label);
  if (real.length) {
    const issues = real.slice(0, 5).map((x) => `${x.path.join('.')}: ${x.message}`);
    assert.fail(`${what} does not match the SDK's zod schema (${real.length} issues; null members removed first): ${issues.join(' | ')}`);
  }
  return dropped;
}

// ------------------------------------------------------------------------- GET operations
// Only operations the SDK has a function for are tests: the others (listed in the summary line
// as "no SDK export") cannot be called through this client at all — the Prism GET sweep covers
// them — so they are not registered as skipped tests.
describe('every GET operation through appstore-connect-sdk', { concurrency: CONCURRENCY }, () => {
  for (const op of gets.filter((o) => sdkFunctionFor(o.id))) {
    test(op.id, async (t) => {
      try {
        await getOperation(op, t);
      } catch (e) {
        tally.failed.push(op.id);
        throw e;
      }
    });
  }
});

async function getOperation(op, t) {
  if (setupError) throw setupError;
  const fnName = sdkFunctionFor(op.id);
  const { query, why } = fillRequired(op);
  // An operation whose required query cannot be filled is a failure, not a skip.
  if (!query) assert.fail(`cannot fill the required query: ${why}`);
  let id = null;
  let pick = {};
  if (op.path.includes('{id}')) {
    pick = await pickId(op, query);
    if (!pick.id) assert.fail(`no id to call it with: ${pick.why}`);
    id = pick.id;
    if (pick.nonEmpty === false && op.kind !== 'getInstance') tally.emptyRelated++;
  }
  const requestPath = id ? op.path.replace('{id}', encodeURIComponent(id)) : op.path;
  const options = { client };
  if (id) options.path = { id };
  if (Object.keys(query).length) options.query = query;

  // The request we build must be one the SDK's own request schema accepts.
  const zData = zodFor(fnName, 'Data');
  if (zData) {
    const r = zData.safeParse({ path: options.path, query: options.query });
    assert.ok(r.success, `our request does not match ${fnName}'s zod Data schema: ${JSON.stringify(r.error?.issues?.slice(0, 3))}`);
  }

  tally.called++;
  const res = await sdk[fnName](options);
  assert.ok(res.response, `${fnName}: no response (${res.error})`);
  const status = res.response.status;
  const ctype = res.response.headers.get('content-type') || '';
  const declared = (op.success.content || []).map((c) => c.type);
  const where = `GET ${requestPath}${queryString(query)}`;
  const problems = [];
  const soft = softly(problems);

  if (op.resource === 'salesReports' || op.resource === 'financeReports') {
    if (status === 404) {
      // Apple's documented answer when there is nothing to report.
      assert.equal(res.error?.errors?.[0]?.detail, NO_SALES, `${where}: 404 ${JSON.stringify(res.error)}`);
      tally.notFoundReports.push(op.id);
      tally.passed++;
      return;
    }
  }
  assert.equal(status, 200, `${where}: HTTP ${status} ${JSON.stringify(res.error)?.slice(0, 500)}`);
  const mediaType = ctype.split(';')[0].trim();
  if (declared.includes('application/json')) {
    assert.equal(ctype, 'application/json', `${where}: Content-Type`);
  } else {
    assert.ok(declared.includes(mediaType), `${where}: Content-Type ${ctype}, the spec says ${declared.join(' or ')}`);
  }

  if (mediaType === 'application/json') {
    checkJsonDoc(op, res.data, requestPath, id, soft);
  } else if (mediaType === 'application/a-gzip') {
    const buf = Buffer.from(await res.data.arrayBuffer());
    assert.ok(buf.length > 2 && buf[0] === 0x1f && buf[1] === 0x8b, `${where}: body is not gzip`);
  } else if (mediaType === 'text/csv') {
    assert.equal(typeof res.data, 'string', `${where}: CSV body`);
    assert.ok(res.data.length > 0, `${where}: empty CSV`);
  } else {
    assert.ok(res.data && typeof res.data === 'object', `${where}: ${mediaType} body is not JSON`);
  }

  if (mediaType.includes('json')) {
    const zResp = zodFor(fnName, 'Response');
    if (!zResp) tally.zodMissing.push(op.id);
    else if (res.data && res.data.data === null && TO_ONE.has(op.kind)) {
      tally.emptyToOne.push(op.id);
      t.diagnostic(`data: null (nothing related to any of ${pick.probes} candidate ids); zod not applied (the spec says object)`);
    } else {
      tally.zodChecked++;
      const dropped = soft(() => zodCheck(zResp, res.data, where, op.id));
      if (dropped && dropped.length) tally.nullMembers.push(op.id);
    }
  }
  if (pick.nonEmpty === false && op.kind !== 'getInstance') t.diagnostic(`empty for all ${pick.probes} candidate ids`);
  if (problems.length) assert.fail(`${where}:\n  ${problems.join('\n  ')}`);
  tally.passed++;
}

// ------------------------------------------------------------------------ write operations
// Disposable resources only; every change is read back through the SDK.
function created(res, what) {
  assert.ok(res.response, `${what}: no response (${res.error})`);
  assert.equal(res.response.status, 201, `${what}: HTTP ${res.response.status} ${JSON.stringify(res.error)}`);
  assert.equal(res.response.headers.get('content-type'), 'application/json', `${what}: Content-Type`);
  return res.data;
}
function okDoc(res, what) {
  assert.ok(res.response, `${what}: no response (${res.error})`);
  assert.equal(res.response.status, 200, `${what}: HTTP ${res.response.status} ${JSON.stringify(res.error)}`);
  assert.equal(res.response.headers.get('content-type'), 'application/json', `${what}: Content-Type`);
  return res.data;
}
function noContent(res, what) {
  assert.ok(res.response, `${what}: no response (${res.error})`);
  assert.equal(res.response.status, 204, `${what}: HTTP ${res.response.status} ${JSON.stringify(res.error)}`);
}
const suffix = () => randomBytes(4).toString('hex');

describe('write operations through appstore-connect-sdk', () => {
  test('bundleIds: create, rename (PATCH), delete', async (t) => {
    if (setupError) throw setupError;
    const identifier = `com.crabapple.everyop.${suffix()}`;
    const doc = created(
      await sdk.bundleIdsCreateInstance({
        client,
        body: { data: { type: 'bundleIds', attributes: { name: 'Every Op Disposable', platform: 'IOS', identifier } } },
      }),
      'bundleIdsCreateInstance',
    );
    zodCheck(sdk.zBundleIdsCreateInstanceResponse, doc, 'POST /v1/bundleIds');
    const id = doc.data.id;
    assert.equal(doc.data.type, 'bundleIds');
    assert.equal(doc.data.attributes.identifier, identifier);
    assert.equal(doc.data.attributes.name, 'Every Op Disposable');
    assert.equal(doc.data.attributes.platform, 'IOS');
    assert.equal(doc.data.links.self, `${clientUrl}/v1/bundleIds/${id}`);

    const patched = okDoc(
      await sdk.bundleIdsUpdateInstance({
        client,
        path: { id },
        body: { data: { type: 'bundleIds', id, attributes: { name: 'Every Op Renamed' } } },
      }),
      'bundleIdsUpdateInstance',
    );
    zodCheck(sdk.zBundleIdsUpdateInstanceResponse, patched, `PATCH /v1/bundleIds/${id}`);
    assert.equal(patched.data.attributes.name, 'Every Op Renamed');
    // A PATCH merges: what it did not mention stays.
    assert.equal(patched.data.attributes.identifier, identifier);
    assert.equal(patched.data.attributes.platform, 'IOS');

    const got = okDoc(await sdk.bundleIdsGetInstance({ client, path: { id } }), 'bundleIdsGetInstance');
    assert.equal(got.data.attributes.name, 'Every Op Renamed');
    assert.equal(got.data.attributes.identifier, identifier);
    const listed = okDoc(
      await sdk.bundleIdsGetCollection({ client, query: { 'filter[identifier]': [identifier] } }),
      'bundleIdsGetCollection filter[identifier]',
    );
    assert.deepEqual(listed.data.map((b) => b.id), [id]);

    noContent(await sdk.bundleIdsDeleteInstance({ client, path: { id } }), 'bundleIdsDeleteInstance');
    const gone = await sdk.bundleIdsGetInstance({ client, path: { id } });
    assert.equal(gone.response.status, 404, `GET a deleted bundle id: HTTP ${gone.response.status}`);
    assert.equal(gone.error?.errors?.[0]?.status, '404');
    const afterDelete = okDoc(
      await sdk.bundleIdsGetCollection({ client, query: { 'filter[identifier]': [identifier] } }),
      'bundleIdsGetCollection after delete',
    );
    assert.deepEqual(afterDelete.data, []);
  });

  test('devices: register, rename and disable (PATCH)', async (t) => {
    if (setupError) throw setupError;
    const udid = `00008130-${randomBytes(8).toString('hex').toUpperCase()}`;
    const name = `Every Op iPhone ${suffix()}`;
    const doc = created(
      await sdk.devicesCreateInstance({ client, body: { data: { type: 'devices', attributes: { name, platform: 'IOS', udid } } } }),
      'devicesCreateInstance',
    );
    zodCheck(sdk.zDevicesCreateInstanceResponse, doc, 'POST /v1/devices');
    const id = doc.data.id;
    assert.equal(doc.data.type, 'devices');
    assert.equal(doc.data.attributes.name, name);
    assert.equal(doc.data.attributes.udid, udid);
    assert.equal(doc.data.attributes.platform, 'IOS');
    assert.equal(doc.data.attributes.status, 'ENABLED');

    const renamed = okDoc(
      await sdk.devicesUpdateInstance({ client, path: { id }, body: { data: { type: 'devices', id, attributes: { name: `${name} (renamed)` } } } }),
      'devicesUpdateInstance name',
    );
    zodCheck(sdk.zDevicesUpdateInstanceResponse, renamed, `PATCH /v1/devices/${id}`);
    assert.equal(renamed.data.attributes.name, `${name} (renamed)`);
    assert.equal(renamed.data.attributes.udid, udid);
    assert.equal(renamed.data.attributes.status, 'ENABLED');

    const disabled = okDoc(
      await sdk.devicesUpdateInstance({ client, path: { id }, body: { data: { type: 'devices', id, attributes: { status: 'DISABLED' } } } }),
      'devicesUpdateInstance status',
    );
    assert.equal(disabled.data.attributes.status, 'DISABLED');
    assert.equal(disabled.data.attributes.name, `${name} (renamed)`, 'a PATCH of status keeps the earlier name');

    const got = okDoc(await sdk.devicesGetInstance({ client, path: { id } }), 'devicesGetInstance');
    assert.equal(got.data.attributes.name, `${name} (renamed)`);
    assert.equal(got.data.attributes.status, 'DISABLED');
    const listed = okDoc(await sdk.devicesGetCollection({ client, query: { 'filter[udid]': [udid] } }), 'devicesGetCollection filter[udid]');
    assert.deepEqual(listed.data.map((d) => d.id), [id]);
    assert.equal(listed.data[0].attributes.status, 'DISABLED');
  });

  test('users visibleApps: add and remove an app (to-many linkage POST/DELETE)', async (t) => {
    if (setupError) throw setupError;
    const users = okDoc(await sdk.usersGetCollection({ client, query: { limit: 200 } }), 'usersGetCollection').data;
    const user = users.find((u) => u.attributes.allAppsVisible === false);
    assert.ok(user, 'the demo world has a user with allAppsVisible false');
    const apps = okDoc(await sdk.appsGetCollection({ client, query: { limit: 200 } }), 'appsGetCollection').data;
    const linkage = async () =>
      okDoc(await sdk.usersVisibleAppsGetToManyRelationship({ client, path: { id: user.id }, query: { limit: 200 } }), 'usersVisibleAppsGetToManyRelationship').data.map((x) => x.id);
    const before = await linkage();
    const app = apps.find((a) => !before.includes(a.id));
    assert.ok(app, `user ${user.id} already sees every app`);

    noContent(
      await sdk.usersVisibleAppsCreateToManyRelationship({ client, path: { id: user.id }, body: { data: [{ type: 'apps', id: app.id }] } }),
      'usersVisibleAppsCreateToManyRelationship',
    );
    assert.deepEqual((await linkage()).sort(), [...before, app.id].sort(), 'the app was added to the linkage');
    const related = okDoc(await sdk.usersVisibleAppsGetToManyRelated({ client, path: { id: user.id }, query: { limit: 200 } }), 'usersVisibleAppsGetToManyRelated');
    assert.ok(related.data.some((a) => a.id === app.id && a.type === 'apps'), 'the related endpoint lists the added app');

    noContent(
      await sdk.usersVisibleAppsDeleteToManyRelationship({ client, path: { id: user.id }, body: { data: [{ type: 'apps', id: app.id }] } }),
      'usersVisibleAppsDeleteToManyRelationship',
    );
    assert.deepEqual((await linkage()).sort(), [...before].sort(), 'the linkage is back as it was');
  });

  test('betaGroups: create for an app, add and remove a beta tester, delete', async (t) => {
    if (setupError) throw setupError;
    const [app] = okDoc(await sdk.appsGetCollection({ client, query: { limit: 1 } }), 'appsGetCollection').data;
    const name = `Every Op Group ${suffix()}`;
    const doc = created(
      await sdk.betaGroupsCreateInstance({
        client,
        body: {
          data: {
            type: 'betaGroups',
            attributes: { name, publicLinkEnabled: false, feedbackEnabled: true },
            relationships: { app: { data: { type: 'apps', id: app.id } } },
          },
        },
      }),
      'betaGroupsCreateInstance',
    );
    zodCheck(sdk.zBetaGroupsCreateInstanceResponse, doc, 'POST /v1/betaGroups');
    const gid = doc.data.id;
    assert.equal(doc.data.type, 'betaGroups');
    assert.equal(doc.data.attributes.name, name);
    assert.equal(doc.data.attributes.feedbackEnabled, true);
    assert.equal(doc.data.attributes.publicLinkEnabled, false);
    // Checked at the end, so the linkage part runs either way.
    const problems = [];
    softly(problems)(() =>
      assert.equal(doc.data.attributes.isInternalGroup, false, `POST /v1/betaGroups without isInternalGroup: Apple creates an external group (isInternalGroup false), got ${doc.data.attributes.isInternalGroup}`),
    );

    const groupApp = okDoc(await sdk.betaGroupsAppGetToOneRelated({ client, path: { id: gid } }), 'betaGroupsAppGetToOneRelated');
    assert.equal(groupApp.data.id, app.id);
    const appGroups = okDoc(await sdk.appsBetaGroupsGetToManyRelated({ client, path: { id: app.id }, query: { limit: 200 } }), 'appsBetaGroupsGetToManyRelated');
    assert.ok(appGroups.data.some((g) => g.id === gid), "the new group is among the app's beta groups");

    const testers = okDoc(await sdk.betaTestersGetCollection({ client, query: { limit: 1 } }), 'betaTestersGetCollection').data;
    if (testers.length) {
      const tid = testers[0].id;
      const members = async () =>
        okDoc(await sdk.betaGroupsBetaTestersGetToManyRelationship({ client, path: { id: gid }, query: { limit: 200 } }), 'betaGroupsBetaTestersGetToManyRelationship').data.map((x) => x.id);
      assert.deepEqual(await members(), []);
      noContent(
        await sdk.betaGroupsBetaTestersCreateToManyRelationship({ client, path: { id: gid }, body: { data: [{ type: 'betaTesters', id: tid }] } }),
        'betaGroupsBetaTestersCreateToManyRelationship',
      );
      assert.deepEqual(await members(), [tid]);
      const testerGroups = okDoc(
        await sdk.betaTestersBetaGroupsGetToManyRelationship({ client, path: { id: tid }, query: { limit: 200 } }),
        'betaTestersBetaGroupsGetToManyRelationship',
      );
      assert.ok(testerGroups.data.some((g) => g.id === gid), "the inverse linkage lists the group");
      noContent(
        await sdk.betaGroupsBetaTestersDeleteToManyRelationship({ client, path: { id: gid }, body: { data: [{ type: 'betaTesters', id: tid }] } }),
        'betaGroupsBetaTestersDeleteToManyRelationship',
      );
      assert.deepEqual(await members(), []);
    } else {
      t.diagnostic('no beta testers in the world: linkage part not run');
    }

    const renamed = okDoc(
      await sdk.betaGroupsUpdateInstance({ client, path: { id: gid }, body: { data: { type: 'betaGroups', id: gid, attributes: { name: `${name} (renamed)` } } } }),
      'betaGroupsUpdateInstance',
    );
    assert.equal(renamed.data.attributes.name, `${name} (renamed)`);
    assert.equal(renamed.data.attributes.feedbackEnabled, true, 'a PATCH merges');

    noContent(await sdk.betaGroupsDeleteInstance({ client, path: { id: gid } }), 'betaGroupsDeleteInstance');
    const gone = await sdk.betaGroupsGetInstance({ client, path: { id: gid } });
    assert.equal(gone.response.status, 404, `GET a deleted beta group: HTTP ${gone.response.status}`);
    if (problems.length) assert.fail(problems.join('\n'));
  });
});
