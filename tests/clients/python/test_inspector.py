"""The inspector in a real browser (issue 13, "The inspector"; crates/server/src/ui/).

Headless Chromium (Debian's `chromium` and `chromium-driver`) driven over the W3C WebDriver
protocol with plain `requests` (no driver library): log in with the admin token, watch a
client's refused request appear in the live log with its reason, advance the virtual clock in
the page and see Apple's answer change, open a delivered notification and read its decoded
payload, resend it; log in to a world's inspector (issue 12) and stay in that world. Screenshots of the main views go to $CRABAPPLE_ARTIFACTS (default
target/ui-screenshots), which CI keeps as artifacts.

The module runs its own `crabapple serve` (it moves the virtual clock, which a shared server's
other tests must not see).
"""

from __future__ import annotations

import base64
import datetime
import os
import pathlib
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import uuid
import zoneinfo

import pytest
import requests

from conftest import REPO, UA, admin_headers, free_port, own_server

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"
CHROME_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1400,1000",
]


def artifacts() -> pathlib.Path:
    d = pathlib.Path(os.environ.get("CRABAPPLE_ARTIFACTS") or REPO / "target" / "ui-screenshots")
    d.mkdir(parents=True, exist_ok=True)
    return d


class Browser:
    """A WebDriver session on chromedriver: just the commands these tests use."""

    def __init__(self):
        driver = shutil.which("chromedriver")
        chromium = shutil.which("chromium")
        if not driver or not chromium:
            # A test that cannot run fails (never a silent skip): .ci/run installs both.
            pytest.fail("chromium and chromedriver are needed: apt-get install chromium chromium-driver")
        self.profile = tempfile.mkdtemp(prefix="crabapple-chromium-")
        port = free_port()
        self.log = open(os.path.join(self.profile, "chromedriver.log"), "w")
        self.proc = subprocess.Popen([driver, f"--port={port}"], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 30
        while True:
            try:
                if requests.get(f"{self.url}/status", timeout=2).json()["value"]["ready"]:
                    break
            except (requests.RequestException, ValueError, KeyError):
                pass
            if time.time() > deadline:
                raise AssertionError("chromedriver did not start")
            time.sleep(0.1)
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": CHROME_ARGS + [f"--user-data-dir={self.profile}/profile"],
            },
        }}}
        r = requests.post(f"{self.url}/session", json=caps, timeout=60)
        assert r.status_code == 200, r.text
        self.session = f"{self.url}/session/{r.json()['value']['sessionId']}"

    def cmd(self, method: str, path: str, body: dict | None = None):
        r = requests.request(method, self.session + path, json=body, timeout=60)
        value = r.json().get("value") if r.status_code == 200 else None
        assert r.status_code == 200 and not (isinstance(value, dict) and "error" in value), \
            f"{method} {path}: {r.status_code} {r.text[:500]}"
        return value

    def go(self, url: str) -> None:
        self.cmd("POST", "/url", {"url": url})

    def find(self, css: str, timeout: float = 10) -> str:
        deadline = time.time() + timeout
        while True:
            r = requests.post(self.session + "/element",
                              json={"using": "css selector", "value": css}, timeout=60)
            value = r.json().get("value") if r.status_code == 200 else None
            if isinstance(value, dict) and ELEMENT in value:
                return value[ELEMENT]
            if time.time() > deadline:
                raise AssertionError(f"no element {css!r} on {self.current_url()}: {r.text[:300]}")
            time.sleep(0.1)

    def text(self, css: str) -> str:
        return self.cmd("GET", f"/element/{self.find(css)}/text")

    def type(self, css: str, value: str) -> None:
        el = self.find(css)
        self.cmd("POST", f"/element/{el}/clear", {})
        self.cmd("POST", f"/element/{el}/value", {"text": value})

    def click(self, css: str) -> None:
        self.cmd("POST", f"/element/{self.find(css)}/click", {})

    def title(self) -> str:
        return self.cmd("GET", "/title")

    def current_url(self) -> str:
        return self.cmd("GET", "/url")

    def js(self, script: str, *args):
        return self.cmd("POST", "/execute/sync", {"script": script, "args": list(args)})

    def wait(self, what: str, check, timeout: float = 15):
        deadline = time.time() + timeout
        last = None
        while True:
            try:
                v = check()
            except AssertionError as e:  # the page reloaded under the command: try again
                v, last = None, e
            if v:
                return v
            if time.time() > deadline:
                raise AssertionError(f"timed out waiting for {what} on {self.current_url()}: {last}")
            time.sleep(0.2)

    def screenshot(self, name: str) -> pathlib.Path:
        path = artifacts() / f"{name}.png"
        path.write_bytes(base64.b64decode(self.cmd("GET", "/screenshot")))
        return path

    def quit(self) -> None:
        try:
            requests.delete(self.session, timeout=10)
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.log.close()
            shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture(scope="module")
def server():
    with own_server("crabapple-inspector-") as ca:
        yield ca


@pytest.fixture(scope="module")
def browser(server):
    b = Browser()
    try:
        yield b
    finally:
        b.quit()


@pytest.fixture(scope="module")
def logged_in(server, browser):
    """The login form, filled with the data directory's admin token."""
    browser.go(f"{server.base_url}/crabapple/ui")
    # Without a session the page is the admin API's 401 with a login form.
    assert "needs its token" in browser.text("#refusal")
    token = pathlib.Path(server.data, "admin-token").read_text().strip()
    browser.type("#token", token)
    browser.click("form[action='/crabapple/ui/login'] button")
    browser.wait("the request log", lambda: browser.title().startswith("Requests"))
    # The session cookie is HttpOnly: the page's script cannot read it.
    assert "crabapple_session" not in browser.js("return document.cookie")
    return browser


def test_issue13_the_inspector_loads_with_landmarks_and_labels(server, logged_in):
    b = logged_in
    assert b.js("return document.querySelectorAll('main, nav, header').length") == 3
    # Every form field has a label; every table a caption and column headers.
    unlabelled = b.js("return [...document.querySelectorAll('input, select')]"
                      ".filter(e => e.type !== 'hidden' && !document.querySelector(`label[for='${e.id}']`))"
                      ".map(e => e.name)")
    assert unlabelled == []
    assert b.js("return [...document.querySelectorAll('table')].every("
                "t => t.caption && t.querySelector('thead th[scope=col]'))")
    # No request leaves the machine: every resource the page loaded is this server's.
    hosts = b.js("return performance.getEntriesByType('resource').map(e => new URL(e.name).host)")
    assert set(hosts) <= {urllib.parse.urlparse(server.base_url).netloc}


def test_issue13_a_clients_refused_request_appears_in_the_log_with_its_reason(server, logged_in):
    b = logged_in
    b.go(f"{server.base_url}/crabapple/ui")
    marker = f"inspector-{uuid.uuid4().hex[:8]}"
    path = f"/v1/apps?filter[name]={marker}"
    # A token for another audience: Apple's 401, crabapple's reason in the header.
    r = server.get(path, token=server.token(aud="appstoreconnect-v2"))
    assert r.status_code == 401
    reason = urllib.parse.unquote(r.headers["X-Crabapple-Reason"])
    assert "aud" in reason
    row = b.wait("the refused request in the live log", lambda: b.js(
        "return [...document.querySelectorAll('#request-log tbody tr')]"
        ".map(tr => [...tr.cells].map(td => td.textContent))"
        ".find(cells => cells[3].includes(arguments[0]))", marker))
    assert row[2] == "GET"
    assert row[4] == server.admin_key["keyId"]
    assert row[5] == "401"
    assert row[6] == "NOT_AUTHORIZED"
    assert row[7] == reason
    b.screenshot("requests")
    # The filters narrow the log to the refusals of that path.
    b.type("#f-status", "4xx")
    b.type("#f-path", "/v1/apps")
    b.click("form.filters button")
    b.wait("the filtered log", lambda: "status=4xx" in b.current_url())
    statuses = b.js("return [...document.querySelectorAll('#request-log tbody tr')]"
                    ".map(tr => tr.cells[5].textContent)")
    assert statuses and all(s.startswith("4") for s in statuses)


def pacific_day(ms: int) -> str:
    tz = zoneinfo.ZoneInfo("America/Los_Angeles")
    return datetime.datetime.fromtimestamp(ms / 1000, tz).date().isoformat()


def test_issue13_advancing_the_clock_in_the_page_changes_what_the_api_answers(server, logged_in):
    b = logged_in
    status = server.admin("GET", "/status").json()
    day = pacific_day(status["clock"]["nowMs"])
    bought = server.admin("POST", "/commerce/purchase", json={
        "bundleId": "com.crabapple.notes", "productId": "com.crabapple.notes.handwriting",
        "environment": "production", "customer": "inspector-clock"})
    assert bought.status_code == 201, bought.text
    report = ("/v1/salesReports?filter[vendorNumber]={}&filter[reportType]=SALES"
              "&filter[reportSubType]=SUMMARY&filter[frequency]=DAILY&filter[reportDate]={}"
              "&filter[version]=1_0").format(status["team"]["vendorNumber"], day)
    before = server.get(report)
    # reports-formats.md §2.3: the day's file is out from 08:00 Pacific the next day.
    assert before.status_code == 404
    assert before.json()["errors"][0]["detail"] == "Report is not available yet."

    b.go(f"{server.base_url}/crabapple/ui/clock")
    shown = b.text("#clock-now")
    b.screenshot("clock")
    b.type("#by", "2d")
    b.click("#advance button")
    b.wait("the advanced clock", lambda: b.text("#clock-now") != shown)
    after = server.get(report)
    assert after.status_code == 200, after.text[:300]
    assert after.headers["Content-Type"] == "application/a-gzip"
    # Setting a time before now is refused in the page, in words.
    b.type("#to", "2000-01-01T00:00:00Z")
    b.click("#set button")
    b.wait("the refusal", lambda: "only moves forward" in b.text("#result"))


def test_issue13_a_delivered_notification_opens_decoded_and_resends(server, logged_in):
    b = logged_in
    got = []

    # A receiver of our own, so the notification is delivered (HTTP 200).
    import http.server
    import threading

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            got.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/asn"
        r = server.admin("PUT", "/commerce/apps/com.crabapple.notes/notification-urls",
                         json={"sandbox": url})
        assert r.status_code == 200, r.text
        r = server.admin("POST", "/commerce/purchase", json={
            "bundleId": "com.crabapple.notes", "productId": "com.crabapple.notes.handwriting",
            "environment": "sandbox", "customer": "inspector-notification"})
        assert r.status_code == 201, r.text
        tx = r.json()["transactionId"] if "transactionId" in r.json() else None

        def delivered():
            for n in server.admin("GET", "/commerce/notifications?limit=20").json()["data"]:
                if n["environment"].lower() == "sandbox" and n["state"] == "delivered" and (
                        tx is None or n.get("transactionId") == tx):
                    return n
            return None

        n = b.wait("the delivery", delivered, timeout=30)
        uuid_ = n["notificationUUID"]
        b.go(f"{server.base_url}/crabapple/ui/notifications")
        b.screenshot("notifications")
        b.click(f"a[href='/crabapple/ui/notifications/{uuid_}']")
        b.wait("the notification", lambda: uuid_ in b.text("#notification"))
        assert b.text("#state") == "delivered"
        header = b.text("#jws-header")
        assert '"alg": "ES256"' in header and '"x5c"' in header
        payload = b.text("#jws-payload")
        assert f'"notificationUUID": "{uuid_}"' in payload
        assert f'"notificationType": "{n["notificationType"]}"' in payload
        assert '"signedTransactionInfoDecoded"' in payload
        attempts = b.js("return [...document.querySelectorAll('#attempts tbody tr')]"
                        ".map(tr => tr.cells[2].textContent)")
        assert attempts == ["SUCCESS"]
        b.screenshot("notification")
        # Resend: one more attempt, recorded, and the receiver gets the same bytes again.
        b.click("#resend button")
        b.wait("the second attempt", lambda: b.js(
            "return document.querySelectorAll('#attempts tbody tr').length") == 2)
        assert len(got) == 2 and got[0] == got[1]
    finally:
        srv.shutdown()


def test_issue13_a_fault_armed_in_the_page_shows_in_the_log_as_injected(server, logged_in):
    b = logged_in
    marker = f"fault-{uuid.uuid4().hex[:8]}"
    b.go(f"{server.base_url}/crabapple/ui/faults")
    b.type("#route", f"GET /v1/apps/{marker}*")
    b.type("#status", "503")
    b.type("#count", "1")
    b.click("#arm button")
    b.wait("the armed fault", lambda: marker in b.text("#faults"))
    b.screenshot("faults")
    r = server.get(f"/v1/apps/{marker}")
    assert r.status_code == 503
    reason = urllib.parse.unquote(r.headers["X-Crabapple-Reason"])
    b.go(f"{server.base_url}/crabapple/ui?path=/v1/apps/{marker}")
    row = b.wait("the faulted request", lambda: b.js(
        "return [...document.querySelectorAll('#request-log tbody tr')]"
        ".map(tr => [...tr.cells].map(td => td.textContent))[0]"))
    assert row[5] == "503" and row[7] == reason
    # Its one hit spent, the next request is answered normally (404: no such app).
    assert server.get(f"/v1/apps/{marker}").status_code == 404


def test_issue13_screenshots_of_the_other_views(server, logged_in):
    b = logged_in
    for name, path, marker in [
        ("commerce", "/commerce", "#events"),
        ("report-files", "/reports", "#report-files"),
        ("analytics", "/analytics", "h1"),
        ("world", "/world", "#keys"),
    ]:
        b.go(f"{server.base_url}/crabapple/ui{path}")
        b.find(marker)
        assert b.title().endswith("crabapple inspector")
        b.screenshot(name)
    assert server.admin_key["keyId"] in b.text("#keys")


def test_issue12_a_worlds_inspector_logs_in_links_and_moves_the_clock_of_that_world(server):
    """A world's inspector at /crabapple/worlds/ID/crabapple/ui, in a browser of its own (no
    session of the default world's): the login lands on the world's page, the cookie's Path is
    the world's, every URL of the page is the world's, a navigation link and the clock form act
    on the world and leave the default world's clock alone."""
    made = server.admin("POST", "/worlds")
    assert made.status_code == 201, made.text
    prefix = f"/crabapple/worlds/{made.json()['id']}"
    world_admin = f"{server.base_url}{prefix}/crabapple/admin"
    headers = admin_headers(server.data)

    def offsets():
        w = requests.get(f"{world_admin}/status", headers=headers, timeout=30).json()
        d = server.admin("GET", "/status").json()
        return w["clock"]["offsetMs"], d["clock"]["offsetMs"]

    b = Browser()
    try:
        b.go(f"{server.base_url}{prefix}/crabapple/ui")
        assert "needs its token" in b.text("#refusal")
        b.type("#token", pathlib.Path(server.data, "admin-token").read_text().strip())
        b.click(f"form[action='{prefix}/crabapple/ui/login'] button")
        b.wait("the world's request log", lambda: b.title().startswith("Requests"))
        assert b.current_url() == f"{server.base_url}{prefix}/crabapple/ui"
        cookies = {c["name"]: c for c in b.cmd("GET", "/cookie")}
        assert cookies["crabapple_session"]["path"] == f"{prefix}/crabapple"
        assert cookies["crabapple_session"]["httpOnly"] is True
        urls = b.js("return [...document.querySelectorAll('[href], [action], [src]')]"
                    ".map(e => e.getAttribute('href') || e.getAttribute('action') || e.getAttribute('src'))"
                    ".filter(u => u !== '#main')")
        assert urls and all(u.startswith(f"{prefix}/crabapple/") for u in urls), urls
        # A navigation link stays in the world; the clock form advances the world's clock only.
        world_before, default_before = offsets()
        b.click(f"nav a[href='{prefix}/crabapple/ui/clock']")
        b.wait("the world's clock page", lambda: b.current_url().endswith(f"{prefix}/crabapple/ui/clock"))
        shown = b.text("#clock-now")
        b.type("#by", "2d")
        b.click("#advance button")
        b.wait("the advanced clock", lambda: b.text("#clock-now") != shown)
        world_after, default_after = offsets()
        assert world_after - world_before >= 2 * 86_400_000
        assert default_after == default_before
        b.screenshot("world-clock")
    finally:
        b.quit()
        server.admin("DELETE", f"/worlds/{made.json()['id']}")
