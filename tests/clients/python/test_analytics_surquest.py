"""Analytics Reports through a real client (issue 10, first slice).

surquest's `surquest-utils-appstoreconnect-analyticsreports` (PyPI 0.0.1, unmodified) walks the
whole chain for App Downloads Standard after `crabapple simulate --days 10 --profile small`:
the app's ONGOING request, its COMMERCE reports, the DAILY instances by processing date, their
segments, the download at the pre-signed URL (no Authorization), gunzip and parse by header
names. Its rows are checked against the SALES files of the same days (first-time downloads are
the 1F units) — Standard reports carry no privacy noise (crates/reports/src/analytics/files/).
It runs in its own venv (tests/clients/surquest/.venv) through surquest_analytics.py, and on a
crabapple of its own (the simulation moves the virtual clock ten days).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import subprocess

import pytest

from conftest import REPO, Crabapple, own_server

SURQUEST_PY = REPO / "tests/clients/surquest/.venv/bin/python"
DRIVER = REPO / "tests/clients/surquest/surquest_analytics.py"
VENDOR = "85012345"
# reports-formats.md §4.3, the captured Standard header, as surquest normalizes it (snake_case).
DOWNLOADS_STANDARD_KEYS = [
    "date", "app_name", "app_apple_identifier", "download_type", "app_version", "device",
    "platform_version", "source_type", "page_type", "pre_order", "territory", "counts",
]


@pytest.fixture(scope="module")
def own():
    with own_server("crabapple-analytics-") as ca:
        yield ca


def surquest(ca: Crabapple, app_id: str, report: str, granularity: str) -> dict:
    assert SURQUEST_PY.exists(), f"{SURQUEST_PY} missing: run scripts/setup-clients.sh"
    k = ca.admin_key
    key_path = k.get("keyPath") or os.path.join(ca.data, f"AuthKey_{k['keyId']}.p8")
    args = {"base": ca.client_url, "keyId": k["keyId"], "keyPath": key_path,
            "issuerId": k["issuerId"], "appId": app_id, "report": report,
            "granularity": granularity}
    out = subprocess.run([str(SURQUEST_PY), str(DRIVER)], input=json.dumps(args),
                         capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def sales_first_time_units(ca: Crabapple, app_id: str, day: str) -> int | None:
    """1F units of the app in the day's SALES file; None before the file is out (08:00 Pacific
    the next day, reports-formats.md §2.3: analytics' DAILY instance of that day comes earlier)."""
    r = ca.get(f"/v1/salesReports?filter[vendorNumber]={VENDOR}&filter[reportType]=SALES"
               f"&filter[reportSubType]=SUMMARY&filter[frequency]=DAILY&filter[reportDate]={day}"
               f"&filter[version]=1_0", headers={"Accept": "application/a-gzip"})
    if r.status_code == 404:
        detail = r.json()["errors"][0]["detail"]
        if detail == "Report is not available yet.":
            return None
        assert detail == "There were no sales for the date specified.", detail
        return 0
    assert r.status_code == 200, r.text
    rows = csv.DictReader(io.StringIO(gzip.decompress(r.content).decode()), delimiter="\t")
    return sum(int(x["Units"]) for x in rows
               if x["Apple Identifier"] == app_id and x["Product Type Identifier"] == "1F")


def test_s5_surquest_downloads_app_downloads_standard_after_ten_simulated_days(own):
    apps = own.get_all("/v1/apps?limit=200")
    app_id = apps[0]["id"]
    existing = own.get(f"/v1/apps/{app_id}/analyticsReportRequests"
                       "?filter[accessType]=ONGOING").json()["data"]
    if not existing:
        r = own.request("POST", "/v1/analyticsReportRequests", json={"data": {
            "type": "analyticsReportRequests", "attributes": {"accessType": "ONGOING"},
            "relationships": {"app": {"data": {"type": "apps", "id": app_id}}}}})
        assert r.status_code == 201, r.text
    own.cli("simulate", "--days", "10", "--profile", "small", "--quiet", "--data", own.data)

    got = surquest(own, app_id, "APP_DOWNLOADS_STANDARD", "DAILY")
    # §4.2: the COMMERCE reports by their API names (the subscription ones' names are not
    # confirmed: crabapple's guess, README "Analytics").
    assert got["reports"] == [
        "App Downloads Standard", "App Downloads Detailed", "App Store Pre-Orders Standard",
        "App Store Pre-Orders Detailed", "App Store Purchases Standard",
        "App Store Purchases Detailed", "App Store Subscription State Standard",
        "App Store Subscription State Detailed", "App Store Subscription Event Standard",
        "App Store Subscription Event Detailed",
    ]
    # §2.3: DAILY processing dates from the second day after the request, one a day.
    assert len(got["dates"]) >= 9, got["dates"]
    rows = got["rows"]
    assert rows, "no rows"
    assert list(rows[0].keys()) == DOWNLOADS_STANDARD_KEYS
    # surquest turns numeric cells into numbers when it deduplicates.
    assert {str(r["app_apple_identifier"]) for r in rows} == {app_id}
    by_day: dict[str, int] = {}
    for r in rows:
        if r["download_type"] == "First-time download":
            by_day[r["date"]] = by_day.get(r["date"], 0) + int(r["counts"])
    assert len(by_day) >= 9, sorted(by_day)
    compared = 0
    for day, n in sorted(by_day.items()):
        sales = sales_first_time_units(own, app_id, day)
        if sales is not None:
            assert n == sales, day
            compared += 1
    assert compared >= 8, by_day
