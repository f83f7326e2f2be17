// Apple's unmodified Node AppStoreServerAPIClient against a running crabapple's Retention
// Messaging API (`node --test`): image uploads (real PNGs written here with zlib), lists,
// deletes, messages, default messages, the realtime URL and the performance test (crabapple
// POSTs Apple's signed requests to a local Get Retention Message endpoint, which verifies them
// with SignedDataVerifier.verifyAndDecodeRealtimeRequest), and the error paths (APIException
// with Apple's APIError numbers).
//
// Environment: CRABAPPLE_BASE_URL (e.g. http://127.0.0.1:8686).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import lib from '@apple/app-store-server-library';
import { ADMIN, admin, adminHeaders, client as serverApiClient } from './admin.mjs';

const {
  APIException, APIError, Environment, SignedDataVerifier,
  ImageSize, ImageState, HeaderPosition, PerformanceTestStatus,
} = lib;


async function apiError(promise, status, code) {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof APIException, `expected APIException, got ${e}`);
    assert.equal(e.httpStatusCode, status, `${e.apiError} ${e.errorMessage}`);
    assert.equal(e.apiError, code, e.errorMessage);
    return e;
  }
  assert.fail(`expected APIException ${code}`);
}

// PNG (ISO/IEC 15948): signature, IHDR, one IDAT (zlib), IEND; CRC-32 over type + data.
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
/** A one-colour PNG: colour type 2 (RGB) or 6 (RGBA), 8 bits. */
function png(width, height, colorType = 2) {
  const px = colorType === 6 ? [20, 120, 220, 255] : [20, 120, 220];
  const row = Buffer.alloc(1 + width * px.length);
  for (let x = 0; x < width; x++) row.set(px, 1 + x * px.length);
  const raw = Buffer.concat(Array.from({ length: height }, () => row));
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0); ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, colorType, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0)),
  ]);
}

const w = {};
const realtime = [];
let server;

const client = (env) => serverApiClient(w, env);

before(async () => {
  // A Get Retention Message endpoint: answers a RealtimeResponseBody, keeps the signed payloads.
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      realtime.push(JSON.parse(body || '{}').signedPayload);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ message: { messageIdentifier: randomUUID() } }));
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  w.endpoint = `http://127.0.0.1:${server.address().port}/retention`;
  const tag = randomUUID().slice(0, 8);
  w.bundle = `com.crabapple.it.rm${tag}`;
  const app = await admin('POST', '/resources/apps', { attributes: {
    name: `RM ${tag}`, bundleId: w.bundle, sku: `RM${tag}`, primaryLocale: 'en-US' } }, 201);
  w.appId = app.data.id;
  w.monthly = `${w.bundle}.monthly`;
  const group = await admin('POST', '/resources/subscriptionGroups', { attributes: { referenceName: 'Plus' } }, 201);
  await admin('PATCH', `/resources/apps/${w.appId}`, { relationships: { subscriptionGroups: [group.data.id] } });
  await admin('POST', '/resources/subscriptions', { attributes: {
    name: 'Monthly', productId: w.monthly, subscriptionPeriod: 'ONE_MONTH', groupLevel: 1 },
  relationships: { group: group.data.id } }, 201);
  const key = await admin('POST', '/keys', { kind: 'inAppPurchase' }, 201);
  w.keyId = key.keyId;
  w.issuer = key.issuerId;
  w.keyPem = readFileSync(key.keyPath, 'utf8');
  const r = await fetch(`${ADMIN}/commerce/ca?format=der`, { headers: adminHeaders() });
  w.root = Buffer.from(await r.arrayBuffer());
  w.sandbox = client(Environment.SANDBOX);
  w.production = client(Environment.PRODUCTION);
});

after(() => server.close());

const review = (kind, id, state) =>
  admin('PUT', `/commerce/messaging/${w.bundle}/sandbox/${kind}/${id}`, { state });

test('images: upload full-size and bullet-point PNGs, list, delete, and every image error', async () => {
  const full = randomUUID();
  const bullet = randomUUID();
  await w.sandbox.uploadImage(full, png(3840, 160));
  await w.sandbox.uploadImage(bullet, png(64, 64), ImageSize.BULLET_POINT);
  let list = await w.sandbox.getImageList();
  // Apple's Java and Python libraries spell the first state PENDING (this library's enum says
  // PENDING_REVIEW; its validator takes any string).
  assert.deepEqual(list.imageIdentifiers, [
    { imageIdentifier: full, imageState: 'PENDING', imageSize: ImageSize.FULL_SIZE },
    { imageIdentifier: bullet, imageState: 'PENDING', imageSize: ImageSize.BULLET_POINT },
  ]);
  assert.deepEqual((await w.production.getImageList()).imageIdentifiers, []);
  await apiError(w.sandbox.uploadImage(full, png(3840, 160)), 409, APIError.IMAGE_ALREADY_EXISTS);
  // "Doesn't have transparency", "Format: PNG", 3840 × 160–2160.
  await apiError(w.sandbox.uploadImage(randomUUID(), png(3840, 160, 6)), 400, APIError.INVALID_IMAGE);
  await apiError(w.sandbox.uploadImage(randomUUID(), Buffer.from('GIF89a')), 400, APIError.INVALID_IMAGE);
  await apiError(w.sandbox.uploadImage(randomUUID(), png(3840, 159)), 400, APIError.INVALID_IMAGE);
  await apiError(w.sandbox.uploadImage(randomUUID(), png(1920, 1080)), 400, APIError.INVALID_IMAGE);
  await apiError(w.sandbox.uploadImage(randomUUID(), png(64, 64), 'HUGE'), 400, APIError.BAD_REQUEST_IMAGE_SIZE);
  await w.sandbox.deleteImage(full);
  await apiError(w.sandbox.deleteImage(full), 404, APIError.IMAGE_NOT_FOUND);
  list = await w.sandbox.getImageList();
  assert.deepEqual(list.imageIdentifiers.map((i) => i.imageIdentifier), [bullet]);
  await w.sandbox.deleteImage(bullet);
});

test('messages: upload with image and bullet points, list, delete, and every message error', async () => {
  const image = randomUUID();
  const bullet = randomUUID();
  await w.sandbox.uploadImage(image, png(3840, 400));
  await w.sandbox.uploadImage(bullet, png(128, 128), ImageSize.BULLET_POINT);
  const id = randomUUID();
  await w.sandbox.uploadMessage(id, {
    header: 'Before you go', body: 'Keep your streak: 50% off next month.',
    image: { imageIdentifier: image, altText: 'A flame' }, headerPosition: HeaderPosition.ABOVE_IMAGE,
    bulletPoints: [{ text: 'Offline lessons', imageIdentifier: bullet, altText: 'Download icon' }],
  });
  const list = await w.sandbox.getMessageList();
  assert.deepEqual(list.messageIdentifiers, [{ messageIdentifier: id, messageState: 'PENDING' }]);
  await apiError(w.sandbox.uploadMessage(id, { header: 'h', body: 'b' }), 409, APIError.MESSAGE_ALREADY_EXISTS);
  const bad = (body, status, code) => apiError(w.sandbox.uploadMessage(randomUUID(), body), status, code);
  await bad({ header: 'h'.repeat(67), body: 'b' }, 400, APIError.HEADER_TOO_LONG);
  await bad({ header: 'h', body: 'b'.repeat(145) }, 400, APIError.BODY_TOO_LONG);
  await bad({ header: 'h', body: 'b', image: { imageIdentifier: image, altText: 'a'.repeat(151) } }, 400, APIError.ALT_TEXT_TOO_LONG);
  await bad({ header: 'h', body: 'b', headerPosition: HeaderPosition.ABOVE_IMAGE }, 400, APIError.BAD_REQUEST_ABOVE_IMAGE_REQUIRES_AN_IMAGE);
  const bp = { text: 't', imageIdentifier: bullet, altText: 'a' };
  await bad({ header: 'h', body: 'b', bulletPoints: [bp, bp, bp, bp, bp, bp] }, 400, APIError.BAD_REQUEST_TOO_MANY_BULLET_POINTS);
  await bad({ header: 'h', body: 'b', bulletPoints: [{ ...bp, text: 't'.repeat(67) }] }, 400, APIError.BAD_REQUEST_BULLET_POINT_TEXT_TOO_LONG);
  await bad({ header: 'h', body: 'b', image: { imageIdentifier: randomUUID(), altText: 'a' } }, 404, APIError.IMAGE_NOT_FOUND);
  // An image in a message can't be deleted before the message.
  await apiError(w.sandbox.deleteImage(image), 403, APIError.IMAGE_IN_USE);
  await w.sandbox.deleteMessage(id);
  await apiError(w.sandbox.deleteMessage(id), 404, APIError.MESSAGE_NOT_FOUND);
  await w.sandbox.deleteImage(image);
  await w.sandbox.deleteImage(bullet);
});

test('default messages: approved message and image only, get, delete, locale and product errors', async () => {
  const image = randomUUID();
  await w.sandbox.uploadImage(image, png(3840, 800));
  const id = randomUUID();
  await w.sandbox.uploadMessage(id, { header: 'Stay', body: 'A month on us.', image: { imageIdentifier: image, altText: 'gift' } });
  await apiError(w.sandbox.configureDefaultMessage(w.monthly, 'en-US', { messageIdentifier: id }), 403, APIError.MESSAGE_NOT_APPROVED);
  await review('messages', id, 'APPROVED');
  await apiError(w.sandbox.configureDefaultMessage(w.monthly, 'en-US', { messageIdentifier: id }), 403, APIError.IMAGE_NOT_APPROVED);
  await review('images', image, 'APPROVED');
  assert.equal((await w.sandbox.getImageList()).imageIdentifiers[0].imageState, ImageState.APPROVED);
  await w.sandbox.configureDefaultMessage(w.monthly, 'en-US', { messageIdentifier: id });
  assert.deepEqual(await w.sandbox.getDefaultMessage(w.monthly, 'en-US'), { messageIdentifier: id });
  await apiError(w.sandbox.getDefaultMessage(w.monthly, 'de-DE'), 404, APIError.DEFAULT_MESSAGE_NOT_FOUND);
  await apiError(w.sandbox.configureDefaultMessage(w.monthly, 'english', { messageIdentifier: id }), 400, APIError.INVALID_LOCALE);
  await apiError(w.sandbox.configureDefaultMessage(`${w.bundle}.none`, 'en-US', { messageIdentifier: id }), 400, APIError.INVALID_PRODUCT_ID);
  await apiError(w.sandbox.configureDefaultMessage(w.monthly, 'en-US', { messageIdentifier: randomUUID() }), 404, APIError.MESSAGE_NOT_FOUND);
  await w.sandbox.deleteDefaultMessage(w.monthly, 'en-US');
  await apiError(w.sandbox.getDefaultMessage(w.monthly, 'en-US'), 404, APIError.DEFAULT_MESSAGE_NOT_FOUND);
});

test('realtime URL and the performance test against a local Get Retention Message endpoint', async () => {
  await apiError(w.sandbox.getRealtimeURL(), 404, APIError.REALTIME_URL_NOT_FOUND);
  await apiError(w.sandbox.configureRealtimeURL({ realtimeURL: 'http://example.com/r' }), 400, APIError.BAD_REQUEST_REALTIME_URL);
  await apiError(w.production.configureRealtimeURL({ realtimeURL: 'https://example.com/r' }), 403, APIError.FORBIDDEN_NO_PASSING_TEST);
  await w.sandbox.configureRealtimeURL({ realtimeURL: w.endpoint });
  assert.deepEqual(await w.sandbox.getRealtimeURL(), { realtimeURL: w.endpoint });
  const sub = await admin('POST', '/commerce/purchase', { bundleId: w.bundle, productId: w.monthly, customer: 'rm' });
  await apiError(w.production.initiatePerformanceTest({ originalTransactionId: sub.transactionId }), 400, APIError.INVALID_PERFORMANCE_TEST_REQUEST);
  const started = await w.sandbox.initiatePerformanceTest({ originalTransactionId: sub.transactionId });
  assert.equal(started.config.totalRequests, 100);
  assert.equal(started.config.responseTimeThreshold, 700);
  let result;
  for (let i = 0; i < 200; i++) {
    result = await w.sandbox.getPerformanceTestResults(started.requestId);
    if (result.result !== PerformanceTestStatus.PENDING) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(result.result, PerformanceTestStatus.PASS, JSON.stringify(result));
  assert.equal(result.successRate, 100);
  assert.equal(result.numPending, 0);
  assert.equal(result.target, w.endpoint);
  assert.equal(realtime.length, 100);
  // Every request is Apple's signed DecodedRealtimeRequestBody, verified with Apple's verifier.
  const verifier = new SignedDataVerifier([w.root], false, Environment.SANDBOX, w.bundle);
  for (const jws of realtime) {
    const d = await verifier.verifyAndDecodeRealtimeRequest(jws);
    assert.equal(d.originalTransactionId, sub.transactionId);
    assert.equal(d.productId, w.monthly);
    assert.equal(d.appAppleId, Number(w.appId));
    assert.equal(d.environment, Environment.SANDBOX);
  }
  await apiError(w.sandbox.getPerformanceTestResults('nope'), 400, APIError.INVALID_REQUEST_ID);
  await apiError(w.sandbox.getPerformanceTestResults(randomUUID()), 404, APIError.PERFORMANCE_TEST_RUN_NOT_FOUND);
  // The passing test opens production.
  await w.production.configureRealtimeURL({ realtimeURL: 'https://example.com/prod' });
  assert.deepEqual(await w.production.getRealtimeURL(), { realtimeURL: 'https://example.com/prod' });
  await w.production.deleteRealtimeURL();
  await w.sandbox.deleteRealtimeURL();
  await apiError(w.sandbox.getRealtimeURL(), 404, APIError.REALTIME_URL_NOT_FOUND);
});
