// Apple's unmodified Node AppStoreServerAPIClient and SignedDataVerifier against a running
// crabapple (`node --test`): every client method over real ledger state with its error paths,
// and every signed payload verified — and rejected for the wrong bundle id or environment.
//
// Environment: CRABAPPLE_BASE_URL (e.g. http://127.0.0.1:8686).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import lib from '@apple/app-store-server-library';
import { ADMIN, admin, adminHeaders, client as serverApiClient } from './admin.mjs';

const {
  AppStoreServerAPIClient, APIException, APIError, Environment, SignedDataVerifier,
  VerificationException, VerificationStatus, GetTransactionHistoryVersion, ProductType, Order,
  Status, NotificationTypeV2, Subtype, SendAttemptResult, ExtendReasonCode, DeliveryStatus,
  OrderLookupStatus,
} = lib;


const w = {};
const received = [];
let server;

const event = (name, args) => admin('POST', `/commerce/${name}`, args);
const buy = (product, customer, extra = {}) =>
  event('purchase', { bundleId: w.bundle, productId: product, customer, ...extra });

async function apiError(promise) {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof APIException, `expected APIException, got ${e}`);
    return e;
  }
  assert.fail('expected an APIException');
}

async function waitFor(pred, what, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await pred();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

const client = (env, bundle = w.bundle) => serverApiClient(w, env, bundle);

before(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      received.push({ path: req.url, payload: JSON.parse(body || '{}').signedPayload });
      res.statusCode = req.url.endsWith('/fail') ? 500 : 200;
      res.end();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  const tag = randomUUID().slice(0, 8);
  w.tag = tag;
  w.bundle = `com.crabapple.it.node${tag}`;
  // The app and its products through the admin API (the Python suite uses the ASC API).
  const app = await admin('POST', '/resources/apps', { attributes: {
    name: `Node ${tag}`, bundleId: w.bundle, sku: `NODE${tag}`, primaryLocale: 'en-US' } }, 201);
  w.appId = app.data.id;
  w.gems = `${w.bundle}.gems`;
  w.monthly = `${w.bundle}.monthly`;
  w.premium = `${w.bundle}.premium`;
  await admin('POST', '/resources/inAppPurchases', { attributes: {
    name: 'Gems', productId: w.gems, inAppPurchaseType: 'CONSUMABLE' }, relationships: { apps: [w.appId] } }, 201);
  const group = await admin('POST', '/resources/subscriptionGroups', { attributes: { referenceName: 'Plus' } }, 201);
  w.group = group.data.id;
  await admin('PATCH', `/resources/apps/${w.appId}`, { relationships: { subscriptionGroups: [w.group] } });
  for (const [pid, level] of [[w.monthly, 2], [w.premium, 1]]) {
    await admin('POST', '/resources/subscriptions', { attributes: {
      name: pid, productId: pid, subscriptionPeriod: 'ONE_MONTH', groupLevel: level },
    relationships: { group: w.group } }, 201);
  }
  await admin('PUT', `/commerce/apps/${w.bundle}/notification-urls`, {
    production: `http://127.0.0.1:${port}/${tag}/prod/ok`,
    sandbox: `http://127.0.0.1:${port}/${tag}/sandbox/ok`,
  });
  const key = await admin('POST', '/keys', { kind: 'inAppPurchase' }, 201);
  w.keyId = key.keyId;
  w.issuer = key.issuerId;
  w.keyPem = readFileSync(key.keyPath, 'utf8');
  const r = await fetch(`${ADMIN}/commerce/ca?format=der`, { headers: adminHeaders() });
  w.root = Buffer.from(await r.arrayBuffer());
  w.sandbox = client(Environment.SANDBOX);
  w.production = client(Environment.PRODUCTION);
  w.verify = {
    Sandbox: new SignedDataVerifier([w.root], false, Environment.SANDBOX, w.bundle),
    Production: new SignedDataVerifier([w.root], false, Environment.PRODUCTION, w.bundle, Number(w.appId)),
  };
});

after(() => server.close());

test('transaction info, history v1/v2 with paging and filters, finish', async () => {
  const first = await buy(w.gems, 'hist');
  for (let i = 0; i < 24; i++) await buy(w.gems, 'hist');
  const sub = await buy(w.monthly, 'hist');
  const info = await w.sandbox.getTransactionInfo(first.transactionId);
  const t = await w.verify.Sandbox.verifyAndDecodeTransaction(info.signedTransactionInfo);
  assert.equal(t.transactionId, first.transactionId);
  assert.equal(t.environment, Environment.SANDBOX);
  let e = await apiError(w.production.getTransactionInfo(first.transactionId));
  assert.equal(e.httpStatusCode, 404);
  assert.equal(e.apiError, APIError.TRANSACTION_ID_NOT_FOUND);
  e = await apiError(w.sandbox.getTransactionInfo('x1'));
  assert.equal(e.apiError, APIError.INVALID_TRANSACTION_ID);

  let revision = null; let all = []; let pages = 0;
  for (;;) {
    const h = await w.sandbox.getTransactionHistory(first.transactionId, revision, {}, GetTransactionHistoryVersion.V2);
    assert.equal(h.bundleId, w.bundle);
    assert.ok(h.signedTransactions.length <= 20);
    all = all.concat(h.signedTransactions);
    pages++;
    revision = h.revision;
    if (!h.hasMore) break;
  }
  assert.equal(pages, 2);
  assert.equal(all.length, 26);
  const only = await w.sandbox.getTransactionHistory(sub.transactionId, null,
    { productTypes: [ProductType.AUTO_RENEWABLE], sort: Order.DESCENDING, revoked: false }, GetTransactionHistoryVersion.V2);
  assert.equal(only.signedTransactions.length, 1);
  const dec = await w.verify.Sandbox.verifyAndDecodeTransaction(only.signedTransactions[0]);
  assert.equal(dec.productId, w.monthly);
  await w.sandbox.finishTransaction(first.transactionId);
  const v1 = await w.sandbox.getTransactionHistory(sub.transactionId, null, { productIds: [w.gems] }, GetTransactionHistoryVersion.V1);
  assert.equal(v1.signedTransactions.length, 20);
  assert.equal(v1.hasMore, true);
  e = await apiError(w.sandbox.getTransactionHistory(sub.transactionId, 'garbage', {}, GetTransactionHistoryVersion.V2));
  assert.equal(e.apiError, APIError.INVALID_REQUEST_REVISION);
  e = await apiError(w.sandbox.getTransactionHistory(sub.transactionId, null, { startDate: 5, endDate: 4 }, GetTransactionHistoryVersion.V2));
  assert.equal(e.apiError, APIError.START_DATE_AFTER_END_DATE);
});

test('subscription statuses, renewal info, refunds, order lookup', async () => {
  const s = await buy(w.monthly, 'status');
  await event('upgrade', { transactionId: s.transactionId, toProductId: w.premium });
  const st = await w.sandbox.getAllSubscriptionStatuses(s.transactionId, [Status.ACTIVE]);
  assert.equal(st.data.length, 1);
  const last = st.data[0].lastTransactions[0];
  assert.equal(last.status, Status.ACTIVE);
  const r = await w.verify.Sandbox.verifyAndDecodeRenewalInfo(last.signedRenewalInfo);
  assert.equal(r.autoRenewProductId, w.premium);
  const lt = await w.verify.Sandbox.verifyAndDecodeTransaction(last.signedTransactionInfo);
  assert.equal(lt.productId, w.premium);
  assert.equal((await w.sandbox.getAllSubscriptionStatuses(s.transactionId, [Status.EXPIRED])).data.length, 0);
  const e = await apiError(w.sandbox.getAllSubscriptionStatuses('12'));
  assert.equal(e.apiError, APIError.TRANSACTION_ID_NOT_FOUND);

  const g = await buy(w.gems, 'refund');
  await event('refund', { transactionId: g.transactionId, revocationReason: 1 });
  const rh = await w.sandbox.getRefundHistory(g.transactionId, null);
  assert.equal(rh.signedTransactions.length, 1);
  assert.equal(rh.hasMore, false);
  const rt = await w.verify.Sandbox.verifyAndDecodeTransaction(rh.signedTransactions[0]);
  assert.equal(rt.revocationReason, 1);

  const p = await buy(w.gems, 'order', { environment: 'production' });
  const o = await w.production.lookUpOrderId(p.orderId);
  assert.equal(o.status, OrderLookupStatus.VALID);
  await w.verify.Production.verifyAndDecodeTransaction(o.signedTransactions[0]);
  assert.equal((await w.sandbox.lookUpOrderId(p.orderId)).status, OrderLookupStatus.INVALID);
});

test('consumption information v1 and v2', async () => {
  const g = await buy(w.gems, 'consume');
  await event('consumption-request', { transactionId: g.transactionId, reason: 'LEGAL' });
  // 202 Accepted, no body.
  await w.sandbox.sendConsumptionInformation(g.transactionId, {
    customerConsented: true, sampleContentProvided: false, deliveryStatus: DeliveryStatus.DELIVERED,
    consumptionPercentage: 50000 });
  let e = await apiError(w.sandbox.sendConsumptionInformation(g.transactionId, {
    customerConsented: false, sampleContentProvided: false, deliveryStatus: DeliveryStatus.DELIVERED }));
  assert.equal(e.apiError, APIError.INVALID_CUSTOMER_CONSENTED);
  e = await apiError(w.sandbox.sendConsumptionInformation(g.transactionId, {
    customerConsented: true, sampleContentProvided: false, deliveryStatus: 'NOPE' }));
  assert.equal(e.apiError, APIError.INVALID_DELIVERY_STATUS);
  const v1 = { customerConsented: true, consumptionStatus: 2, platform: 1, sampleContentProvided: true,
    deliveryStatus: 0, appAccountToken: '', accountTenure: 1, playTime: 1, lifetimeDollarsRefunded: 0,
    lifetimeDollarsPurchased: 2, userStatus: 1 };
  await w.sandbox.sendConsumptionData(g.transactionId, v1);
  e = await apiError(w.sandbox.sendConsumptionData(g.transactionId, { ...v1, playTime: 99 }));
  assert.equal(e.apiError, APIError.INVALID_PLAY_TIME);
});

test('renewal-date extensions, single and mass', async () => {
  const s = await buy(w.monthly, 'extend');
  const r = await w.sandbox.extendSubscriptionRenewalDate(s.originalTransactionId, {
    extendByDays: 10, extendReasonCode: ExtendReasonCode.CUSTOMER_SATISFACTION, requestIdentifier: randomUUID() });
  assert.equal(r.success, true);
  assert.equal(r.effectiveDate, s.subscription.expiresDate + 10 * 10000);
  let e = await apiError(w.sandbox.extendSubscriptionRenewalDate(s.originalTransactionId, {
    extendByDays: 0, extendReasonCode: ExtendReasonCode.OTHER, requestIdentifier: randomUUID() }));
  assert.equal(e.apiError, APIError.INVALID_EXTEND_BY_DAYS);
  e = await apiError(w.sandbox.extendSubscriptionRenewalDate(s.originalTransactionId, {
    extendByDays: 5, extendReasonCode: 7, requestIdentifier: randomUUID() }));
  assert.equal(e.apiError, APIError.INVALID_EXTEND_REASON_CODE);

  const rid = randomUUID();
  const m = await w.sandbox.extendRenewalDateForAllActiveSubscribers({
    extendByDays: 3, extendReasonCode: ExtendReasonCode.SERVICE_ISSUE_OR_OUTAGE, requestIdentifier: rid, productId: w.monthly });
  assert.equal(m.requestIdentifier, rid);
  const st = await waitFor(async () => {
    const x = await w.sandbox.getStatusOfSubscriptionRenewalDateExtensions(rid, w.monthly);
    return x.complete ? x : null;
  }, 'mass extension');
  assert.ok(st.succeededCount >= 1);
  e = await apiError(w.sandbox.getStatusOfSubscriptionRenewalDateExtensions(randomUUID(), w.monthly));
  assert.equal(e.apiError, APIError.STATUS_REQUEST_NOT_FOUND);
});

test('test notification, notification history, app account token, app transaction', async () => {
  const token = (await w.sandbox.requestTestNotification()).testNotificationToken;
  const status = await waitFor(async () => {
    try {
      return await w.sandbox.getTestNotificationStatus(token);
    } catch (e) {
      assert.equal(e.apiError, APIError.TEST_NOTIFICATION_NOT_FOUND);
      return null;
    }
  }, 'test notification');
  assert.equal(status.sendAttempts[0].sendAttemptResult, SendAttemptResult.SUCCESS);
  const n = await w.verify.Sandbox.verifyAndDecodeNotification(status.signedPayload);
  assert.equal(n.notificationType, NotificationTypeV2.TEST);

  // Dates are on crabapple's virtual clock (which tests may have advanced).
  const now = (await admin('GET', '/status')).clock.nowMs;
  const start = now - 60 * 60 * 1000;
  const h = await w.sandbox.getNotificationHistory(null, {
    startDate: start, endDate: now + 86400000, notificationType: NotificationTypeV2.TEST });
  assert.ok(h.notificationHistory.length >= 1);
  let e = await apiError(w.sandbox.getNotificationHistory(null, {
    startDate: start, endDate: now, notificationType: NotificationTypeV2.TEST, transactionId: '1' }));
  assert.equal(e.apiError, APIError.MULTIPLE_FILTERS_SUPPLIED);
  e = await apiError(w.sandbox.getNotificationHistory(null, {
    startDate: start, endDate: now, notificationType: NotificationTypeV2.DID_RENEW, notificationSubtype: 'NOPE' }));
  assert.equal(e.apiError, APIError.INVALID_NOTIFICATION_TYPE);

  const s = await buy(w.monthly, 'token');
  const uuid = randomUUID();
  await w.sandbox.setAppAccountToken(s.originalTransactionId, { appAccountToken: uuid });
  const t = await w.verify.Sandbox.verifyAndDecodeTransaction((await w.sandbox.getTransactionInfo(s.transactionId)).signedTransactionInfo);
  assert.equal(t.appAccountToken, uuid);
  e = await apiError(w.sandbox.setAppAccountToken(s.originalTransactionId, { appAccountToken: 'x' }));
  assert.equal(e.apiError, APIError.INVALID_APP_ACCOUNT_TOKEN_UUID_ERROR);

  const at = await w.sandbox.getAppTransactionInfo(s.appTransactionId);
  const a = await w.verify.Sandbox.verifyAndDecodeAppTransaction(at.signedAppTransactionInfo);
  assert.equal(a.bundleId, w.bundle);
  assert.equal(a.appTransactionId, s.appTransactionId);
});

test('auth: another bundle id is a bare 401', async () => {
  const g = await buy(w.gems, 'auth');
  const other = client(Environment.SANDBOX, 'com.example.not.ours');
  const e = await apiError(other.getTransactionInfo(g.transactionId));
  assert.equal(e.httpStatusCode, 401);
  assert.equal(e.apiError, null);
});

test('every notification verifies for its app and environment only', async () => {
  const s = await buy(w.monthly, 'notify');
  await event('auto-renew', { transactionId: s.transactionId, enabled: false });
  await event('refund', { transactionId: s.transactionId });
  await buy(w.gems, 'notify', { environment: 'production' });
  await waitFor(async () => {
    const list = await admin('GET', `/commerce/notifications?bundleId=${w.bundle}&limit=500`);
    return list.data.every((n) => n.state !== 'pending');
  }, 'deliveries');
  const mine = received.filter((r) => r.path.startsWith(`/${w.tag}/`));
  assert.ok(mine.length >= 30, `${mine.length} notifications`);
  const wrongBundle = new SignedDataVerifier([w.root], false, Environment.SANDBOX, 'com.example.wrong');
  for (const { path, payload } of mine) {
    const env = path.includes('/prod/') ? 'Production' : 'Sandbox';
    const n = await w.verify[env].verifyAndDecodeNotification(payload);
    if (n.data?.signedTransactionInfo) await w.verify[env].verifyAndDecodeTransaction(n.data.signedTransactionInfo);
    if (n.data?.signedRenewalInfo) await w.verify[env].verifyAndDecodeRenewalInfo(n.data.signedRenewalInfo);
    const other = w.verify[env === 'Sandbox' ? 'Production' : 'Sandbox'];
    await assert.rejects(other.verifyAndDecodeNotification(payload), (x) => x instanceof VerificationException);
    if (env === 'Sandbox') {
      await assert.rejects(wrongBundle.verifyAndDecodeNotification(payload),
        (x) => x instanceof VerificationException && x.status === VerificationStatus.INVALID_APP_IDENTIFIER);
    }
  }
  const kinds = new Set();
  for (const { path, payload } of mine) {
    const env = path.includes('/prod/') ? 'Production' : 'Sandbox';
    const n = await w.verify[env].verifyAndDecodeNotification(payload);
    kinds.add(`${n.notificationType}/${n.subtype ?? ''}`);
  }
  for (const k of ['ONE_TIME_CHARGE/', 'SUBSCRIBED/INITIAL_BUY', 'DID_CHANGE_RENEWAL_PREF/UPGRADE',
    'DID_CHANGE_RENEWAL_STATUS/AUTO_RENEW_DISABLED', 'REFUND/', 'CONSUMPTION_REQUEST/', 'TEST/',
    'RENEWAL_EXTENDED/', 'RENEWAL_EXTENSION/SUMMARY']) {
    assert.ok(kinds.has(k), k);
  }
  void Subtype;
});
