// Subscription pricing through npm appstore-connect-sdk (unmodified): list a subscription's price
// points, read one and its equalizations, make the subscription available, schedule prices and
// delete a future change (apple-semantics.md §5). Works on a subscription it creates, so the
// demo world's subscriptions stay as they are for the other suites.
//
// Environment: see ../lib/crabapple.mjs.

import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  createClient,
  subscriptionsCreateInstance,
  subscriptionsPricePointsGetToManyRelated,
  subscriptionPricePointsGetInstance,
  subscriptionPricePointsEqualizationsGetToManyRelated,
  subscriptionAvailabilitiesCreateInstance,
  subscriptionPricesCreateInstance,
  subscriptionPricesDeleteInstance,
  subscriptionsPricesGetToManyRelated,
  appsGetCollection,
  appsSubscriptionGroupsGetToManyRelated,
  zSubscriptionsPricePointsGetToManyRelatedResponse,
  zSubscriptionPricePointsGetInstanceResponse,
  zSubscriptionPricePointsEqualizationsGetToManyRelatedResponse,
  zSubscriptionPricesCreateInstanceResponse,
  zSubscriptionsPricesGetToManyRelatedResponse,
} from 'appstore-connect-sdk';
import { base, adminClient, adminHeaders, ok, zodOk } from '../lib/crabapple.mjs';

let client;

// YYYY-MM-DD, `days` after today (UTC) on the server's virtual clock.
async function day(days) {
  const res = await fetch(`${base}/crabapple/admin/status`, { headers: adminHeaders() });
  assert.equal(res.status, 200, 'GET /crabapple/admin/status');
  const { clock } = await res.json();
  return new Date(clock.nowMs + days * 86_400_000).toISOString().slice(0, 10);
}

before(() => {
  client = adminClient(createClient);
});

// A subscription group of the world: the first app that has one.
async function someGroup() {
  const apps = ok(await appsGetCollection({ client, query: { limit: 200 } }), 'appsGetCollection');
  for (const a of apps.data) {
    const g = ok(await appsSubscriptionGroupsGetToManyRelated({ client, path: { id: a.id }, query: { limit: 1 } }), 'appsSubscriptionGroupsGetToManyRelated');
    if (g.data.length) return g.data[0].id;
  }
  assert.fail('the world has no subscription group');
}

test('lists subscription price points and schedules subscription prices', async () => {
  const group = await someGroup();
  const productId = `com.crabapple.node.pricing.${Date.now()}`;
  const sub = ok(
    await subscriptionsCreateInstance({
      client,
      body: { data: { type: 'subscriptions', attributes: { name: 'Node Pricing', productId, subscriptionPeriod: 'ONE_MONTH' }, relationships: { group: { data: { type: 'subscriptionGroups', id: group } } } } },
    }),
    'subscriptionsCreateInstance',
    201,
  ).data;

  // Price points exist at once, per territory (filter[territory]).
  const usa = ok(
    await subscriptionsPricePointsGetToManyRelated({ client, path: { id: sub.id }, query: { 'filter[territory]': ['USA'], include: ['territory'], limit: 200 } }),
    'subscriptionsPricePointsGetToManyRelated',
  );
  zodOk(zSubscriptionsPricePointsGetToManyRelatedResponse, usa, 'GET /v1/subscriptions/{id}/pricePoints');
  assert.ok(usa.data.length > 10, `only ${usa.data.length} USA price points`);
  for (const p of usa.data) {
    assert.equal(p.type, 'subscriptionPricePoints');
    assert.equal(p.relationships.territory.data.id, 'USA');
    // Apple's opaque id: base64 JSON naming the subscription, territory and tier.
    const decoded = JSON.parse(Buffer.from(p.id, 'base64url').toString('utf8'));
    assert.equal(decoded.s, sub.id);
    assert.equal(decoded.t, 'USA');
  }
  assert.deepEqual(usa.included.map((t) => t.id), ['USA']);
  const p999 = usa.data.find((p) => p.attributes.customerPrice === '9.99');
  const p1299 = usa.data.find((p) => p.attributes.customerPrice === '12.99');
  assert.ok(p999 && p1299, 'no USD 9.99 / 12.99 price point');
  assert.ok(Number(p999.attributes.proceeds) < 9.99);
  assert.ok(p999.attributes.proceedsYear2);

  const one = ok(await subscriptionPricePointsGetInstance({ client, path: { id: p999.id } }), 'subscriptionPricePointsGetInstance');
  zodOk(zSubscriptionPricePointsGetInstanceResponse, one, 'GET /v1/subscriptionPricePoints/{id}');
  assert.equal(one.data.attributes.customerPrice, '9.99');
  const eq = ok(
    await subscriptionPricePointsEqualizationsGetToManyRelated({ client, path: { id: p999.id }, query: { 'filter[territory]': ['GBR', 'JPN'], include: ['territory'] } }),
    'subscriptionPricePointsEqualizationsGetToManyRelated',
  );
  zodOk(zSubscriptionPricePointsEqualizationsGetToManyRelatedResponse, eq, 'GET /v1/subscriptionPricePoints/{id}/equalizations');
  assert.deepEqual(eq.data.map((p) => p.relationships.territory.data.id).sort(), ['GBR', 'JPN']);

  // §5: no price before the subscription is available in the territory.
  const priceBody = (point, startDate) => ({
    data: {
      type: 'subscriptionPrices',
      attributes: startDate ? { startDate, preserveCurrentPrice: false } : {},
      relationships: {
        subscription: { data: { type: 'subscriptions', id: sub.id } },
        subscriptionPricePoint: { data: { type: 'subscriptionPricePoints', id: point } },
      },
    },
  });
  const refused = await subscriptionPricesCreateInstance({ client, body: priceBody(p999.id) });
  assert.equal(refused.response.status, 409);
  assert.equal(refused.error.errors[0].detail, 'An error occurred while processing the pricing information.');

  ok(
    await subscriptionAvailabilitiesCreateInstance({
      client,
      body: {
        data: {
          type: 'subscriptionAvailabilities',
          attributes: { availableInNewTerritories: false },
          relationships: {
            subscription: { data: { type: 'subscriptions', id: sub.id } },
            availableTerritories: { data: [{ type: 'territories', id: 'USA' }] },
          },
        },
      },
    }),
    'subscriptionAvailabilitiesCreateInstance',
    201,
  );
  const current = ok(await subscriptionPricesCreateInstance({ client, body: priceBody(p999.id) }), 'subscriptionPricesCreateInstance', 201);
  zodOk(zSubscriptionPricesCreateInstanceResponse, current, 'POST /v1/subscriptionPrices');
  const future = ok(
    await subscriptionPricesCreateInstance({ client, body: priceBody(p1299.id, await day(7)) }),
    'subscriptionPricesCreateInstance (future)',
    201,
  );
  assert.equal(future.data.attributes.preserved, false);

  const prices = ok(
    await subscriptionsPricesGetToManyRelated({ client, path: { id: sub.id }, query: { include: ['subscriptionPricePoint'] } }),
    'subscriptionsPricesGetToManyRelated',
  );
  zodOk(zSubscriptionsPricesGetToManyRelatedResponse, prices, 'GET /v1/subscriptions/{id}/prices');
  assert.deepEqual(prices.data.map((p) => p.id).sort(), [current.data.id, future.data.id].sort());

  // §5: only future price changes can be deleted.
  const inEffect = await subscriptionPricesDeleteInstance({ client, path: { id: current.data.id } });
  assert.equal(inEffect.response.status, 409);
  assert.equal(
    inEffect.error.errors[0].detail,
    `Cannot delete Subscription Price with id ${current.data.id}. Only future price changes can be deleted.`,
  );
  const gone = await subscriptionPricesDeleteInstance({ client, path: { id: future.data.id } });
  assert.equal(gone.response.status, 204);
});
