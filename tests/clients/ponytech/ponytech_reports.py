"""Drives Ponytech's `appstoreconnect` (unmodified, PyPI 0.10.1) against crabapple.

Runs in tests/clients/ponytech/.venv (the client needs PyJWT 1.x). Reads one JSON object on stdin:
{"base": URL, "keyId", "keyPath", "issuerId", "calls": [{"kind": "sales"|"finance"|"apps",
"filters": {...}, "split": bool}]}, points the client at `base` the way reports-formats.md §5
says (the module global `appstoreconnect.api.BASE_API`, `submit_stats=False` so it never posts
to its stats server) — without `base` the client keeps Apple's host, for HTTPS_PROXY (issue 13)
— and prints one JSON result per call: {"text"}, {"parts"} (finance split on Total_Rows),
{"ids"} (the apps the client listed) or {"error", "status"} (the client's APIError).
"""

import json
import sys

import appstoreconnect.api as api_module
from appstoreconnect import Api
from appstoreconnect.api import APIError


def main() -> None:
    args = json.load(sys.stdin)
    if "base" in args:
        api_module.BASE_API = args["base"]
    api = Api(args["keyId"], args["keyPath"], args["issuerId"], submit_stats=False)
    out = []
    for call in args["calls"]:
        try:
            if call["kind"] == "apps":
                out.append({"ids": [a.id for a in api.list_apps()]})
                continue
            if call["kind"] == "sales":
                r = api.download_sales_and_trends_reports(filters=dict(call["filters"]))
            else:
                r = api.download_finance_reports(
                    filters=dict(call["filters"]), split_response=call.get("split", False)
                )
            if isinstance(r, str):
                out.append({"text": r})
            elif isinstance(r, tuple):
                out.append({"parts": list(r)})
            else:
                out.append({"unexpected": repr(r)})
        except APIError as e:
            out.append({"error": str(e), "status": getattr(e, "status_code", None)})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
