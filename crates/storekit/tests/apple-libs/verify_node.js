#!/usr/bin/env node
// Cross-check signed data with Apple's App Store Server Library for Node.
//
// Usage: node verify_node.js ROOT_DER CASES_TSV
//
// Same case format as verify_python.py (see its docstring):
//   name  kind  environment  bundle_id  app_apple_id|-  expect  jws
// Runs SignedDataVerifier with enableOnlineChecks=false (the node library has no strict
// X.509 switch). For an OK notification, the nested signed data are verified too.
// Exits 1 if any case does not get its expected outcome.
'use strict';

const fs = require('fs');
const path = require('path');
const {
  SignedDataVerifier,
  VerificationException,
  VerificationStatus,
} = require('@apple/app-store-server-library');

const LIB = 'node';

function expectedFor(expect) {
  if (!expect.includes(':')) return expect;
  for (const part of expect.split('|')) {
    const [lib, status] = part.split(':');
    if (lib === LIB) return status;
  }
  throw new Error(`no expectation for ${LIB} in ${expect}`);
}

async function verify(verifier, kind, jws) {
  switch (kind) {
    case 'transaction': {
      const t = await verifier.verifyAndDecodeTransaction(jws);
      return `transactionId=${t.transactionId} type=${t.type} environment=${t.environment}`;
    }
    case 'renewal': {
      const r = await verifier.verifyAndDecodeRenewalInfo(jws);
      return `originalTransactionId=${r.originalTransactionId} autoRenewStatus=${r.autoRenewStatus}`;
    }
    case 'realtime': {
      const r = await verifier.verifyAndDecodeRealtimeRequest(jws);
      return `originalTransactionId=${r.originalTransactionId} productId=${r.productId} environment=${r.environment}`;
    }
    case 'app_transaction': {
      const a = await verifier.verifyAndDecodeAppTransaction(jws);
      return `appTransactionId=${a.appTransactionId} receiptType=${a.receiptType}`;
    }
    case 'notification': {
      const n = await verifier.verifyAndDecodeNotification(jws);
      let summary = `notificationType=${n.notificationType} subtype=${n.subtype}`;
      if (n.data && n.data.signedTransactionInfo) {
        const t = await verifier.verifyAndDecodeTransaction(n.data.signedTransactionInfo);
        summary += ` +transaction ${t.transactionId}`;
      }
      if (n.data && n.data.signedRenewalInfo) {
        const r = await verifier.verifyAndDecodeRenewalInfo(n.data.signedRenewalInfo);
        summary += ` +renewal ${r.originalTransactionId}`;
      }
      if (n.appData && n.appData.signedAppTransactionInfo) {
        const a = await verifier.verifyAndDecodeAppTransaction(n.appData.signedAppTransactionInfo);
        summary += ` +appTransaction ${a.appTransactionId}`;
      }
      return summary;
    }
    default:
      throw new Error(`unknown kind ${kind}`);
  }
}

async function main() {
  if (process.argv.length !== 4) {
    console.error('usage: node verify_node.js ROOT_DER CASES_TSV');
    return 2;
  }
  const root = fs.readFileSync(process.argv[2]);
  const pkg = require(path.join(
    path.dirname(require.resolve('@apple/app-store-server-library')),
    '..',
    'package.json',
  ));
  console.log(`${LIB}: @apple/app-store-server-library ${pkg.version}`);
  let failures = 0;
  let cases = 0;
  const lines = fs.readFileSync(process.argv[3], 'utf8').split('\n');
  for (const line of lines) {
    if (!line.trim() || line.startsWith('#')) continue;
    const [name, kind, env, bundleId, appAppleId, expect, jws] = line.split('\t');
    const expected = expectedFor(expect);
    const verifier = new SignedDataVerifier(
      [root],
      false,
      env,
      bundleId,
      appAppleId === '-' ? undefined : Number(appAppleId),
    );
    let got;
    let detail;
    try {
      detail = await verify(verifier, kind, jws);
      got = 'OK';
    } catch (e) {
      if (!(e instanceof VerificationException)) throw e;
      got = VerificationStatus[e.status];
      detail = e.cause ? String(e.cause) : String(e);
    }
    cases += 1;
    if (got === expected) {
      console.log(`PASS ${name}: ${got} (${detail})`);
    } else {
      failures += 1;
      console.log(`FAIL ${name}: expected ${expected}, got ${got} (${detail})`);
    }
  }
  console.log(`${LIB}: ${cases - failures}/${cases} cases as expected`);
  return failures || cases === 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
