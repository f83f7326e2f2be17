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
import sqlite3
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


def ponytech(ca: Crabapple, calls: list[dict], via_proxy: bool = False) -> list[dict]:
    """Ponytech's client pointed at `ca` (its BASE_API), or — `via_proxy` — left at Apple's host
    and reaching crabapple by HTTPS_PROXY and REQUESTS_CA_BUNDLE alone (issue 13)."""
    assert PONYTECH_PY.exists(), f"{PONYTECH_PY} missing: run scripts/setup-clients.sh"
    k = ca.admin_key
    key_path = k.get("keyPath") or os.path.join(ca.data, f"AuthKey_{k['keyId']}.p8")
    args = {"keyId": k["keyId"], "keyPath": key_path, "issuerId": k["issuerId"], "calls": calls}
    env = dict(os.environ)
    if via_proxy:
        env.update(HTTPS_PROXY=ca.proxy_url, REQUESTS_CA_BUNDLE=ca.ca_file)
    else:
        args["base"] = ca.client_url
    out = subprocess.run([str(PONYTECH_PY), str(DRIVER)], input=json.dumps(args), env=env,
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


def test_issue_13_a_data_tool_that_takes_only_credentials_reaches_crabapple_through_the_proxy(crabapple):
    """Issue 13 "data tools such as ingestion pipelines take only credentials": Ponytech's client
    unmodified — Apple's host kept — with HTTPS_PROXY and REQUESTS_CA_BUNDLE lists crabapple's
    apps and gets the same report answers as when pointed at the listener."""
    assert crabapple.proxy_url and crabapple.ca_file, (
        "start crabapple with --proxy and set CRABAPPLE_PROXY_URL and CRABAPPLE_CA_FILE "
        "(scripts/test.sh does)")
    day = (pacific_day(now(crabapple)) - dt.timedelta(days=1)).isoformat()
    calls = [
        {"kind": "apps"},
        {"kind": "sales", "filters": {"vendorNumber": VENDOR, "frequency": "DAILY",
                                      "reportDate": day, "reportType": "SALES"}},
        {"kind": "sales", "filters": {"vendorNumber": VENDOR, "frequency": "DAILY",
                                      "reportDate": day, "reportType": "SUBSCRIPTION"}},
    ]
    proxied = ponytech(crabapple, calls, via_proxy=True)
    assert sorted(proxied[0]["ids"]) == sorted(a["id"] for a in crabapple.get_all("/v1/apps?limit=200"))
    assert proxied[2] == {"error": "The version parameter you have specified is invalid. "
                                   "The latest version for this report is 1_4.", "status": 400}
    assert proxied == ponytech(crabapple, calls)


def test_error_bodies_are_plain_json(own):
    r = own.get("/v1/salesReports", params={
        "filter[vendorNumber]": VENDOR, "filter[reportType]": "SALES",
        "filter[reportSubType]": "SUMMARY", "filter[frequency]": "MONTHLY",
        "filter[reportDate]": "2026-11-01"})
    assert r.status_code == 400
    assert r.headers["Content-Type"] == "application/json"
    assert r.json()["errors"][0]["source"] == {"parameter": "filter[reportDate]"}


def cents(s: str) -> int:
    """`2.99` / `-2.99` / `160` (yen) as milliunits, exactly (no floats)."""
    neg = s.startswith("-")
    whole, _, frac = s.lstrip("-").partition(".")
    v = int(whole) * 1000 + int((frac + "000")[:3])
    return -v if neg else v


def fetch(ca: Crabapple, path: str) -> str | None:
    """The hand-written collector's GET of one report: gunzip, or None for Apple's 404 "no sales"."""
    req = urllib.request.Request(f"{ca.client_url}{path}", headers={
        "Authorization": f"Bearer {ca.token()}", "Accept": "application/a-gzip", "User-Agent": UA})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return gzip.decompress(resp.read()).decode("utf-8")
    except urllib.error.HTTPError as e:
        doc = json.loads(e.read())
        assert e.code == 404 and doc["errors"][0]["detail"] == "There were no sales for the date specified.", doc
        return None


def sales_sums(text: str | None) -> dict[tuple[str, str], list[int]]:
    """In-app rows of a SALES file by header names: (Customer Currency, SKU) → [units,
    Σ units × Developer Proceeds, Σ units × |Customer Price|] in milliunits (§2.4: per-unit
    amounts, refunds as negative units)."""
    out: dict[tuple[str, str], list[int]] = {}
    for r in rows(text or ""):
        if not r["Product Type Identifier"].startswith("IA"):
            continue
        u = int(r["Units"])
        s = out.setdefault((r["Customer Currency"], r["SKU"]), [0, 0, 0])
        s[0] += u
        s[1] += u * cents(r["Developer Proceeds"])
        s[2] += u * abs(cents(r["Customer Price"]))
    return out


def add(into: dict, more: dict) -> None:
    for k, v in more.items():
        s = into.setdefault(k, [0] * len(v))
        for i, x in enumerate(v):
            s[i] += x


def nonzero(d: dict) -> dict:
    return {k: v for k, v in d.items() if any(v)}


def test_issue_9_done_when_a_simulated_quarter_agrees_in_ponytech_the_collector_and_the_ledger():
    """Issue 9 "Done when": `crabapple simulate --days 90`, then Ponytech's client and a collector
    download sales, subscription and finance files that parse and agree with the ledger and with
    each other."""
    with own_server("crabapple-quarter-") as ca:
        # README "Simulate": a running server attempts every simulated notification at the apps'
        # URLs (the demo world's are example hosts: each attempt fails, ~3,000 of them plus their
        # retries), and the clock advance below runs what is due. This test is about the reports:
        # no URLs, no attempts.
        for bundle in ("com.crabapple.notes", "com.crabapple.orchardquest", "com.crabapple.fit",
                       "com.crabapple.ciderpress", "com.crabapple.cinema"):
            r = ca.admin("PUT", f"/commerce/apps/{bundle}/notification-urls", json={"production": None})
            assert r.status_code == 200, r.text
        out = subprocess.run([ca.bin, "simulate", "--data", ca.data, "--days", "90", "--profile", "small",
                              "--quiet"], capture_output=True, text=True, timeout=120, check=False,
                             env=ca.env)
        assert out.returncode == 0, out.stderr
        summary = out.stdout.splitlines()[0]
        first_s, last_s = summary.split("(")[1].split(",")[0].split(" to ")
        first, last = dt.date.fromisoformat(first_s), dt.date.fromisoformat(last_s)
        assert (last - first).days == 89, summary
        count = {w: int(summary.split(f" {w}")[0].rsplit(" ", 1)[-1]) for w in ("purchases", "renewals", "refunds")}
        # The clock stands at the midnight after the last day: the last day's files come out at
        # 08:00 Pacific the next day (§2.3), so the clock moves on 9 hours (the running server
        # runs what falls due meanwhile: renewals of that morning, dated after the quarter; it
        # moves once the ledger is read below).
        days = [first + dt.timedelta(days=i) for i in range(90)]
        # The last fiscal period issued by then (first Friday after it, 08:00 Pacific, §3.6).
        def issued(period_end: dt.date) -> dt.date:
            d = period_end + dt.timedelta(days=1)
            while d.weekday() != 4:
                d += dt.timedelta(days=1)
            return d

        fy, p, pstart, pend = fiscal_period(last)
        while issued(pend) >= last:
            fy, p, pstart, pend = fiscal_period(pstart - dt.timedelta(days=1))
        assert pstart >= first, (pstart, first)
        last = days[-1]

        # The ledger: production transactions, family-shared ones excluded (not sales, §2.4).
        start_ms = int(dt.datetime.combine(first, dt.time(0), PACIFIC).timestamp() * 1000)
        end_ms = int(dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0), PACIFIC).timestamp() * 1000)
        db = sqlite3.connect(f"file:{os.path.join(ca.data, 'crabapple.db')}?mode=ro", uri=True)
        txs = db.execute("SELECT product_id, product_type, ownership, purchase_ms, revoked_ms, payload "
                         "FROM commerce_transactions WHERE environment = 'Production'").fetchall()
        db.close()
        # The CLI's summary counts the same ledger.
        assert (len(txs), sum(1 for t in txs if t[4] is not None)) == \
            (count["purchases"] + count["renewals"], count["refunds"]), summary
        r = ca.admin("POST", "/clock/advance", json={"by": "9h"})
        assert r.status_code == 200, r.text
        ledger: dict[tuple[str, str], list[int]] = {}
        subscriptions = 0
        for product, ptype, ownership, bought, revoked, payload in txs:
            if ownership == "FAMILY_SHARED":
                continue
            pl = json.loads(payload)
            # Units are the quantity bought; `price` is per unit (crates/reports items.rs).
            qty = max(1, pl.get("quantity", 1))
            s = ledger.setdefault((pl["currency"], product), [0, 0])
            if start_ms <= bought < end_ms:
                s[0] += qty
                s[1] += qty * pl["price"]
                subscriptions += ptype == "AUTO_RENEWABLE"
            if revoked is not None and start_ms <= revoked < end_ms:
                s[0] -= qty
                s[1] -= qty * pl["price"]

        def q(rtype: str, extra: str) -> str:
            return (f"/v1/salesReports?filter[vendorNumber]={VENDOR}&filter[reportType]={rtype}"
                    f"&filter[frequency]=DAILY{extra}")

        # The collector: every day's SALES file, summed per (currency, product) and per day.
        collector: dict[tuple[str, str], list[int]] = {}
        per_day = {}
        for day in days:
            per_day[day] = sales_sums(fetch(ca, q("SALES", f"&filter[reportSubType]=SUMMARY&filter[reportDate]={day}&filter[version]=1_0")))
            add(collector, per_day[day])
        assert nonzero({k: [v[0], v[2]] for k, v in collector.items()}) == nonzero(ledger)

        # Ponytech: the same SALES files and the subscription family of every day.
        calls = []
        for day in days:
            for rtype, version in (("SALES", "1_0"), ("SUBSCRIPTION", "1_4"), ("SUBSCRIPTION_EVENT", "1_4"),
                                   ("SUBSCRIBER", "1_4")):
                calls.append({"kind": "sales", "filters": {"vendorNumber": VENDOR, "frequency": "DAILY",
                              "reportDate": day.isoformat(), "reportType": rtype, "version": version}})
        calls.append({"kind": "finance", "split": True, "filters": {
            "vendorNumber": VENDOR, "reportDate": f"{fy:04d}-{p:02d}", "regionCode": "ZZ", "reportType": "FINANCIAL"}})
        got = ponytech(ca, calls)
        parsed = {"SUBSCRIPTION": 0, "SUBSCRIPTION_EVENT": 0, "SUBSCRIBER": 0}
        subscriber_sales = 0
        for i, day in enumerate(days):
            for j, rtype in enumerate(("SALES", "SUBSCRIPTION", "SUBSCRIPTION_EVENT", "SUBSCRIBER")):
                r = got[4 * i + j]
                if "error" in r:
                    assert r == {"error": "There were no sales for the date specified.", "status": 404}, (day, rtype, r)
                    continue
                table = rows(r["text"])
                if rtype == "SALES":
                    assert sales_sums(r["text"]) == per_day[day], day
                    continue
                parsed[rtype] += len(table)
                if rtype == "SUBSCRIBER":
                    subscriber_sales += sum(1 for row in table if row["Refund"] != "Yes")
        assert all(parsed.values()), parsed
        # SUBSCRIBER: one sale row per auto-renewable transaction of the quarter.
        assert subscriber_sales == subscriptions, (subscriber_sales, subscriptions)

        # Finance: the fiscal period's FINANCIAL (ZZ) = the collector's sales of its days, per
        # customer currency and product: quantities always; partner share where it is paid in
        # the customers' currency (per-country regions and EU; LL/AP/WW are converted to USD).
        fin = got[-1]
        assert "parts" in fin, fin
        period_sales: dict[tuple[str, str], list[int]] = {}
        for day in days:
            if pstart <= day <= pend:
                add(period_sales, per_day[day])
        finance: dict[tuple[str, str], list[int]] = {}
        for r in rows(fin["parts"][0]):
            same = r["Partner Share Currency"] == r["Customer Currency"]
            add(finance, {(r["Customer Currency"], r["Vendor Identifier"]):
                          [int(r["Quantity"]), cents(r["Extended Partner Share"]) if same else 0, int(same)]})
        for k, (units, share, same) in finance.items():
            assert units == period_sales[k][0], k
            if same:
                assert share == period_sales[k][1], k
        assert sum(v[0] for v in finance.values()) == sum(v[0] for v in period_sales.values())
        # The collector's own download of that file is the same text.
        text = fetch(ca, f"/v1/financeReports?filter[vendorNumber]={VENDOR}&filter[reportType]=FINANCIAL"
                         f"&filter[regionCode]=ZZ&filter[reportDate]={fy:04d}-{p:02d}")
        assert text is not None and text.startswith(fin["parts"][0])
