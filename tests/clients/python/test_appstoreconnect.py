"""Sales and Finance reports through a real client and a hand-written collector (issue 9).

Ponytech's `appstoreconnect` (PyPI 0.10.1, unmodified) downloads the SALES file of the day after
a purchase and the FINANCIAL file of its fiscal period; it runs in its own venv
(tests/clients/ponytech/.venv, PyJWT 1.x) through tests/clients/ponytech/ponytech_reports.py.
A tiny collector written here (urllib + gzip + csv.DictReader keyed by header names, as
reports-formats.md advises) sums a few days.

These tests move the virtual clock forward by weeks, so they run against a crabapple of their
own (a temporary data directory), never the session's shared server.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import os
import subprocess
import urllib.error
import urllib.request
from zoneinfo import ZoneInfo

import pytest

from conftest import REPO, UA, Crabapple, own_server

PONYTECH_PY = REPO / "tests/clients/ponytech/.venv/bin/python"
DRIVER = REPO / "tests/clients/ponytech/ponytech_reports.py"
PACIFIC = ZoneInfo("America/Los_Angeles")
VENDOR = "85012345"
SKU = "com.crabapple.notes.handwriting"


@pytest.fixture(scope="module")
def own():
    """A crabapple of this module's own: the tests below advance its virtual clock."""
    with own_server("crabapple-reports-") as ca:
        yield ca


def now(ca: Crabapple) -> dt.datetime:
    ms = ca.admin("GET", "/status").json()["clock"]["nowMs"]
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc)


def advance_to(ca: Crabapple, when: dt.datetime) -> None:
    ms = max(1, int((when - now(ca)).total_seconds() * 1000))
    r = ca.admin("POST", "/clock/advance", json={"by": f"{ms}ms"})
    assert r.status_code == 200, r.text


def at_8_pacific(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, 8, 0, tzinfo=PACIFIC)


def pacific_day(t: dt.datetime) -> dt.date:
    return t.astimezone(PACIFIC).date()


def fiscal_period(day: dt.date) -> tuple[int, int, dt.date, dt.date]:
    """Apple's fiscal period of `day`, computed here independently of crabapple
    (reports-formats.md §3.5): FY ends on the last Saturday of September; 5-4-4 weeks a quarter,
    the 53rd week in period 3. Returns (year, period, first day, last day)."""
    def year_end(y: int) -> dt.date:
        d = dt.date(y, 9, 30)
        return d - dt.timedelta(days=(d.weekday() - 5) % 7)

    fy = day.year if day <= year_end(day.year) else day.year + 1
    start = year_end(fy - 1) + dt.timedelta(days=1)
    weeks = [5, 4, 4] * 4
    if (year_end(fy) - start).days + 1 == 53 * 7:
        weeks[2] = 5
    for p, w in enumerate(weeks, 1):
        end = start + dt.timedelta(days=7 * w - 1)
        if day <= end:
            return fy, p, start, end
        start = end + dt.timedelta(days=1)
    raise AssertionError(day)


def ponytech(ca: Crabapple, calls: list[dict]) -> list[dict]:
    assert PONYTECH_PY.exists(), f"{PONYTECH_PY} missing: run scripts/setup-clients.sh"
    k = ca.admin_key
    key_path = k.get("keyPath") or os.path.join(ca.data, f"AuthKey_{k['keyId']}.p8")
    args = {"base": ca.client_url, "keyId": k["keyId"], "keyPath": key_path,
            "issuerId": k["issuerId"], "calls": calls}
    out = subprocess.run([str(PONYTECH_PY), str(DRIVER)], input=json.dumps(args),
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text), delimiter="\t"))


def purchase(ca: Crabapple, storefront: str, customer: str) -> dict:
    r = ca.admin("POST", "/commerce/purchase", json={
        "bundleId": "com.crabapple.notes", "productId": SKU, "environment": "production",
        "storefront": storefront, "customer": customer})
    assert r.status_code == 201, r.text
    return r.json()


def collect(ca: Crabapple, days: list[dt.date]) -> dict:
    """The hand-written collector: one urllib GET per daily SALES file, gunzip, rows keyed by
    header names; returns units per SKU and proceeds (units × per-unit proceeds) per currency."""
    units: dict[str, int] = {}
    proceeds: dict[str, float] = {}
    for day in days:
        url = (f"{ca.client_url}/v1/salesReports?filter[vendorNumber]={VENDOR}"
               f"&filter[reportType]=SALES&filter[reportSubType]=SUMMARY&filter[frequency]=DAILY"
               f"&filter[reportDate]={day.isoformat()}&filter[version]=1_0")
        req = urllib.request.Request(url, headers={
            "Authorization": f"Bearer {ca.token()}", "Accept": "application/a-gzip",
            # Our own requests say so (conftest.UA): the operation recording counts real clients.
            "User-Agent": UA})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                assert resp.headers["Content-Type"] == "application/a-gzip"
                body = resp.read()
        except urllib.error.HTTPError as e:
            doc = json.loads(e.read())
            assert e.code == 404 and doc["errors"][0]["detail"] == "There were no sales for the date specified.", doc
            continue
        assert body[:2] == b"\x1f\x8b"
        for row in rows(gzip.decompress(body).decode("utf-8")):
            units[row["SKU"]] = units.get(row["SKU"], 0) + int(row["Units"])
            cur = row["Currency of Proceeds"]
            proceeds[cur] = round(proceeds.get(cur, 0.0) + int(row["Units"]) * float(row["Developer Proceeds"]), 2)
    return {"units": units, "proceeds": proceeds}


def test_sales_and_finance_after_purchases_through_ponytech_and_a_collector(own):
    # Two production purchases on consecutive Pacific days, one sandbox purchase (not reported).
    day0 = pacific_day(now(own))
    purchase(own, "GBR", "ponytech-1")
    r = own.admin("POST", "/commerce/purchase", json={
        "bundleId": "com.crabapple.notes", "productId": SKU, "customer": "ponytech-sandbox"})
    assert r.status_code == 201, r.text
    advance_to(own, dt.datetime.combine(day0 + dt.timedelta(days=1), dt.time(12), PACIFIC))
    day1 = day0 + dt.timedelta(days=1)
    purchase(own, "USA", "ponytech-2")
    advance_to(own, at_8_pacific(day1 + dt.timedelta(days=1)) + dt.timedelta(minutes=1))

    # Ponytech: the SALES file of day 0 (its default version 1_0 for SALES).
    got = ponytech(own, [
        {"kind": "sales", "filters": {"vendorNumber": VENDOR, "frequency": "DAILY",
                                      "reportDate": day0.isoformat(), "reportType": "SALES"}},
        # Its stale default for SUBSCRIPTION is 1_2: Apple's 400 names the latest (§2.5).
        {"kind": "sales", "filters": {"vendorNumber": VENDOR, "frequency": "DAILY",
                                      "reportDate": day0.isoformat(), "reportType": "SUBSCRIPTION"}},
    ])
    assert "text" in got[0], got[0]
    sales = rows(got[0]["text"])
    assert len(sales) == 1, got[0]["text"]
    row = sales[0]
    us = day0.strftime("%m/%d/%Y")
    assert (row["Provider"], row["SKU"], row["Title"], row["Product Type Identifier"], row["Units"]) == \
        ("APPLE", SKU, "Handwriting Pack", "IA1", "1")
    assert (row["Begin Date"], row["End Date"], row["Country Code"], row["Customer Currency"]) == (us, us, "GB", "GBP")
    assert (row["Customer Price"], row["Developer Proceeds"], row["Parent Identifier"]) == ("2.99", "2.11", "CRABNOTES1")
    assert got[1] == {"error": "The version parameter you have specified is invalid. "
                               "The latest version for this report is 1_4.", "status": 400}

    # The collector over both days (and the day before, which had no sales).
    assert collect(own, [day0 - dt.timedelta(days=1), day0, day1]) == {
        "units": {SKU: 2}, "proceeds": {"GBP": 2.11, "USD": 2.54}}

    # Finance: the fiscal period(s) of the purchases, once issued (first Friday of the next
    # period, 08:00 Pacific — crabapple's reading of reports-formats.md §3.6).
    periods = sorted({fiscal_period(day0), fiscal_period(day1)})
    last = periods[-1]
    issue = last[3] + dt.timedelta(days=1)
    while issue.weekday() != 4:
        issue += dt.timedelta(days=1)
    advance_to(own, at_8_pacific(issue) + dt.timedelta(minutes=1))
    calls = []
    for fy, p, _, _ in periods:
        date = f"{fy:04d}-{p:02d}"
        calls.append({"kind": "finance", "split": True, "filters": {
            "vendorNumber": VENDOR, "reportDate": date, "regionCode": "ZZ", "reportType": "FINANCIAL"}})
        calls.append({"kind": "finance", "filters": {
            "vendorNumber": VENDOR, "reportDate": date, "regionCode": "GB", "reportType": "FINANCIAL"}})
    got = ponytech(own, calls)
    financial = []
    for i, (fy, p, start, end) in enumerate(periods):
        zz, gb = got[2 * i], got[2 * i + 1]
        assert "parts" in zz, zz
        for r in rows(zz["parts"][0]):
            assert (r["Start Date"], r["End Date"]) == (start.strftime("%m/%d/%Y"), end.strftime("%m/%d/%Y"))
            financial.append(r)
        if "text" in gb:
            lines = gb["text"].splitlines()
            assert lines[-3:-1] == ["Total_Rows\t1", "Total_Amount\t2.11"] and lines[-1] == "Total_Units\t1", gb
    by_country = {r["Country Of Sale"]: r for r in financial}
    assert set(by_country) == {"GB", "US"}
    gb = by_country["GB"]
    assert (gb["Vendor Identifier"], gb["Quantity"], gb["Partner Share"], gb["Extended Partner Share"],
            gb["Partner Share Currency"], gb["Sales or Return"], gb["Customer Price"]) == \
        (SKU, "1", "2.11", "2.11", "GBP", "S", "2.99")
    us_row = by_country["US"]
    assert (us_row["Partner Share"], us_row["Partner Share Currency"]) == ("2.54", "USD")

    # A period not yet issued is Apple's "no sales" (apple-semantics.md §4), as the client sees it.
    nxt = fiscal_period(issue)
    got = ponytech(own, [{"kind": "finance", "filters": {
        "vendorNumber": VENDOR, "reportDate": f"{nxt[0]:04d}-{nxt[1]:02d}", "regionCode": "ZZ",
        "reportType": "FINANCIAL"}}])
    assert got == [{"error": "There were no sales for the date specified.", "status": 404}]


def test_error_bodies_are_plain_json(own):
    r = own.get("/v1/salesReports", params={
        "filter[vendorNumber]": VENDOR, "filter[reportType]": "SALES",
        "filter[reportSubType]": "SUMMARY", "filter[frequency]": "MONTHLY",
        "filter[reportDate]": "2026-11-01"})
    assert r.status_code == 400
    assert r.headers["Content-Type"] == "application/json"
    assert r.json()["errors"][0]["source"] == {"parameter": "filter[reportDate]"}
