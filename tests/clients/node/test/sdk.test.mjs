// npm appstore-connect-sdk (unmodified) against crabapple, via its official `baseUrl` option.
//
// Environment (scripts/test.sh sets it): see ../lib/crabapple.mjs.
//
// Run: cd tests/clients/node && CRABAPPLE_BASE_URL=… CRABAPPLE_DATA=… node --test test/

import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  createClient,
  appsGetCollection,
  appsGetInstance,
  appsBuildsGetToManyRelated,
  bundleIdsGetCollection,
  zAppsResponse,
  zAppResponse,
  zBundleIdsResponse,
} from 'appstore-connect-sdk';
import { base, clientUrl, data, cli, adminClient, ok, zodOk } from '../lib/crabapple.mjs';

// Our own ground-truth fetches say who they are (the server's op recording keeps real clients apart).
const UA = 'crabapple-tests/raw';
let client;
let token; // for ground-truth requests straight to crabapple

async function raw(pathAndQuery) {
  const res = await fetch(base + pathAndQuery, { headers: { Authorization: `Bearer ${token}`, 'User-Agent': UA } });
  assert.equal(res.status, 200, `GET ${pathAndQuery} -> ${res.status}`);
  return res.json();
}

async function rawAll(pathAndQuery) {
  const items = [];
  let url = base + pathAndQuery;
  for (let i = 0; url && i < 1000; i++) {
    const res = await fetch(url, { headers: { Authorization: `Bearer ${token}`, 'User-Agent': UA } });
    assert.equal(res.status, 200, `GET ${url} -> ${res.status}`);
    const doc = await res.json();
    items.push(...doc.data);
    url = doc.links && doc.links.next;
  }
  return items;
}

const ids = (items) => items.map((x) => x.id).sort();

before(() => {
  client = adminClient(createClient);
  token = cli('token', '--data', data).trim();
});

test('lists apps, and filters them by bundleId', async () => {
  const want = await rawAll('/v1/apps?limit=200');
  assert.ok(want.length > 0, 'the world has no apps');

  const all = ok(await appsGetCollection({ client, query: { limit: 200 } }), 'appsGetCollection');
  zodOk(zAppsResponse, all, 'GET /v1/apps');
  assert.deepEqual(ids(all.data), ids(want));
  for (const a of all.data) {
    assert.equal(a.type, 'apps');
    assert.equal(a.links.self, `${clientUrl}/v1/apps/${a.id}`);
  }

  const first = want[0];
  const one = ok(
    await appsGetCollection({ client, query: { 'filter[bundleId]': [first.attributes.bundleId] } }),
    'appsGetCollection filter[bundleId]',
  );
  zodOk(zAppsResponse, one, 'GET /v1/apps?filter[bundleId]');
  assert.deepEqual(one.data.map((a) => a.id), [first.id]);
  assert.equal(one.data[0].attributes.name, first.attributes.name);
  assert.equal(one.meta.paging.total, 1);

  // undici sends the brackets raw and joins an array with commas (explode=false).
  if (want.length >= 2) {
    const two = want.slice(0, 2);
    const both = ok(
      await appsGetCollection({ client, query: { 'filter[bundleId]': two.map((a) => a.attributes.bundleId) } }),
      'appsGetCollection filter[bundleId]=a,b',
    );
    assert.deepEqual(ids(both.data), ids(two));
  }

  const none = ok(
    await appsGetCollection({ client, query: { 'filter[bundleId]': ['com.crabapple.does-not-exist'] } }),
    'appsGetCollection no match',
  );
  assert.deepEqual(none.data, []);
});

test('gets one app with include=builds,appInfos', async () => {
  const [first] = await rawAll('/v1/apps?limit=1');
  const doc = ok(
    await appsGetInstance({ client, path: { id: first.id }, query: { include: ['builds', 'appInfos'], 'limit[builds]': 50 } }),
    'appsGetInstance',
  );
  zodOk(zAppResponse, doc, `GET /v1/apps/${first.id}?include=builds,appInfos`);
  assert.equal(doc.data.id, first.id);
  assert.equal(doc.data.attributes.bundleId, first.attributes.bundleId);

  const included = doc.included || [];
  for (const r of included) assert.ok(['builds', 'appInfos'].includes(r.type), `unexpected included type ${r.type}`);

  // With include, the relationship carries linkage data, and it names exactly the included builds.
  const linked = doc.data.relationships.builds.data;
  assert.ok(Array.isArray(linked), 'relationships.builds.data present when builds are included');
  assert.deepEqual(ids(linked), ids(included.filter((r) => r.type === 'builds')));

  // …which are the app's builds (the to-many related endpoint, through the SDK too).
  const related = ok(
    await appsBuildsGetToManyRelated({ client, path: { id: first.id }, query: { limit: 200 } }),
    'appsBuildsGetToManyRelated',
  );
  const all = new Set(related.data.map((b) => b.id));
  for (const b of linked) assert.ok(all.has(b.id), `included build ${b.id} is not among the app's builds`);
  assert.equal(linked.length, Math.min(50, related.data.length));

  const infos = doc.data.relationships.appInfos.data;
  assert.ok(Array.isArray(infos));
  assert.deepEqual(ids(infos), ids(included.filter((r) => r.type === 'appInfos')));
});

test('lists bundle ids', async () => {
  const want = await rawAll('/v1/bundleIds?limit=200');
  assert.ok(want.length > 0, 'the world has no bundle ids');
  const doc = ok(await bundleIdsGetCollection({ client, query: { limit: 200 } }), 'bundleIdsGetCollection');
  zodOk(zBundleIdsResponse, doc, 'GET /v1/bundleIds');
  assert.deepEqual(ids(doc.data), ids(want));
  const byId = new Map(want.map((b) => [b.id, b]));
  for (const b of doc.data) {
    assert.equal(b.type, 'bundleIds');
    assert.equal(b.attributes.identifier, byId.get(b.id).attributes.identifier);
    assert.ok(['IOS', 'MAC_OS', 'UNIVERSAL', 'SERVICES'].includes(b.attributes.platform), b.attributes.platform);
  }

  const firstId = want[0].attributes.identifier;
  const filtered = ok(
    await bundleIdsGetCollection({ client, query: { 'filter[identifier]': [firstId] } }),
    'bundleIdsGetCollection filter[identifier]',
  );
  // Apple matches filter[identifier] loosely (codemagic's --strict-match-identifier exists because
  // com.example.app also finds com.example.app.extension): the exact one is there, all contain it.
  assert.ok(filtered.data.some((b) => b.id === want[0].id));
  assert.ok(filtered.data.every((b) => b.attributes.identifier.includes(firstId)));
});
