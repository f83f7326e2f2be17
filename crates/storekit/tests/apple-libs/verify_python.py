#!/usr/bin/env python3
"""Cross-check signed data with Apple's App Store Server Library for Python.

Usage: verify_python.py ROOT_DER CASES_TSV

ROOT_DER is the only trusted root given to Apple's SignedDataVerifier. Each non-empty,
non-# line of CASES_TSV is tab-separated:

    name  kind  environment  bundle_id  app_apple_id|-  expect  jws

kind is transaction | renewal | notification | app_transaction | realtime; expect is OK or a
VerificationStatus name (VERIFICATION_FAILURE, INVALID_APP_IDENTIFIER,
INVALID_ENVIRONMENT, ...), optionally per library: "python:X|node:Y".

The verifier runs with enable_online_checks=False and strict X.509 checks ON (the
library default, asserted below). For an OK notification, the nested
signedTransactionInfo / signedRenewalInfo / signedAppTransactionInfo are verified too.
Exits 1 if any case does not get its expected outcome.
"""
import importlib.metadata
import sys

from appstoreserverlibrary.models.Environment import Environment
from appstoreserverlibrary.signed_data_verifier import (
    SignedDataVerifier,
    VerificationException,
)

LIB = "python"


def expected_for(expect: str) -> str:
    if ":" not in expect:
        return expect
    for part in expect.split("|"):
        lib, _, status = part.partition(":")
        if lib == LIB:
            return status
    raise SystemExit(f"no expectation for {LIB} in {expect!r}")


def verify(verifier: SignedDataVerifier, kind: str, jws: str) -> str:
    if kind == "transaction":
        t = verifier.verify_and_decode_signed_transaction(jws)
        return f"transactionId={t.transactionId} type={t.rawType} environment={t.rawEnvironment}"
    if kind == "renewal":
        r = verifier.verify_and_decode_renewal_info(jws)
        return f"originalTransactionId={r.originalTransactionId} autoRenewStatus={r.rawAutoRenewStatus}"
    if kind == "app_transaction":
        a = verifier.verify_and_decode_app_transaction(jws)
        return f"appTransactionId={a.appTransactionId} receiptType={a.rawReceiptType}"
    if kind == "realtime":
        r = verifier.verify_and_decode_realtime_request(jws)
        return f"originalTransactionId={r.originalTransactionId} productId={r.productId} environment={r.rawEnvironment}"
    if kind == "notification":
        n = verifier.verify_and_decode_notification(jws)
        summary = f"notificationType={n.rawNotificationType} subtype={n.rawSubtype}"
        data = n.data
        if data is not None and data.signedTransactionInfo:
            t = verifier.verify_and_decode_signed_transaction(data.signedTransactionInfo)
            summary += f" +transaction {t.transactionId}"
        if data is not None and data.signedRenewalInfo:
            r = verifier.verify_and_decode_renewal_info(data.signedRenewalInfo)
            summary += f" +renewal {r.originalTransactionId}"
        if n.appData is not None and n.appData.signedAppTransactionInfo:
            a = verifier.verify_and_decode_app_transaction(n.appData.signedAppTransactionInfo)
            summary += f" +appTransaction {a.appTransactionId}"
        return summary
    raise SystemExit(f"unknown kind {kind!r}")


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], "rb") as f:
        root = f.read()
    version = importlib.metadata.version("app-store-server-library")
    print(f"{LIB}: app-store-server-library {version}")
    failures = 0
    cases = 0
    with open(sys.argv[2], encoding="utf-8") as f:
        lines = f.read().splitlines()
    for line in lines:
        if not line.strip() or line.startswith("#"):
            continue
        name, kind, env, bundle_id, app_apple_id, expect, jws = line.split("\t")
        expected = expected_for(expect)
        verifier = SignedDataVerifier(
            [root],
            False,
            Environment(env),
            bundle_id,
            None if app_apple_id == "-" else int(app_apple_id),
        )
        # Strict X.509 checks (X509_STRICT) must stay on: it is the library default and
        # what production users run with.
        assert verifier._chain_verifier.enable_strict_checks is True
        try:
            detail = verify(verifier, kind, jws)
            got = "OK"
        except VerificationException as e:
            got = e.status.name
            detail = repr(e.__cause__) if e.__cause__ is not None else str(e)
        cases += 1
        if got == expected:
            print(f"PASS {name}: {got} ({detail})")
        else:
            failures += 1
            print(f"FAIL {name}: expected {expected}, got {got} ({detail})")
    print(f"{LIB}: {cases - failures}/{cases} cases as expected")
    return 1 if failures or cases == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
