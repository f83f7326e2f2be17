"""Fixtures for running Apple's unmodified App Store Server Library (Python) against a running
crabapple: a fresh app with every product type (created through the App Store Connect API),
an In-App Purchase key, clients for both environments, verifiers trusting crabapple's root,
and a local notification receiver.

Environment: CRABAPPLE_BASE_URL (e.g. http://127.0.0.1:8686), CRABAPPLE_DATA (its data dir, where
`crabapple serve` keeps the admin API's token).
"""

import json
import os
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
import requests
from appstoreserverlibrary.api_client import AppStoreServerAPIClient
from appstoreserverlibrary.models.Environment import Environment
from appstoreserverlibrary.signed_data_verifier import SignedDataVerifier

BASE = os.environ.get("CRABAPPLE_BASE_URL", "http://127.0.0.1:8686").rstrip("/")
ADMIN = BASE + "/crabapple/admin"


def admin_headers():
    data = os.environ.get("CRABAPPLE_DATA")
    assert data, "set CRABAPPLE_DATA to the server's data dir (its admin-token file)"
    with open(os.path.join(data, "admin-token")) as f:
        return {"X-Crabapple-Admin-Token": f.read().strip()}


def admin(method, path, body=None, expect=None):
    r = requests.request(method, ADMIN + path, json=body, timeout=60, headers=admin_headers())
    if expect is not None:
        assert r.status_code == expect, f"{method} {path}: {r.status_code} {r.text}"
    elif r.status_code >= 400:
        raise AssertionError(f"{method} {path}: {r.status_code} {r.text}")
    return r.json() if r.content and r.headers.get("content-type", "").startswith("application/json") else r


def event(name, **args):
    """A commerce event through the admin API (POST /crabapple/admin/commerce/{event})."""
    return admin("POST", "/commerce/" + name, args)


def advance(by):
    return admin("POST", "/clock/advance", {"by": by})


def now_ms():
    return admin("GET", "/status")["clock"]["nowMs"]


class Receiver:
    """A notification endpoint: /ok answers 200, /fail 500, /slow stalls past the timeout."""

    def __init__(self):
        self.received = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(n) or b"{}")
                path = self.path.split("?")[0]
                if path.endswith("/slow"):
                    time.sleep(3)
                with outer.lock:
                    outer.received.append((path, body.get("signedPayload")))
                code = 500 if path.endswith("/fail") else 200
                try:
                    self.send_response(code)
                    self.send_header("content-length", "0")
                    self.end_headers()
                except OSError:
                    pass

            def log_message(self, *a):
                pass

        class Server(ThreadingHTTPServer):
            # crabapple delivers up to 16 notifications at once; the default listen backlog (5)
            # drops the rest's SYNs, whose retries can outlast the 5 s delivery timeout.
            request_queue_size = 128
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}/{path}"

    def payloads(self, path=None):
        with self.lock:
            return [p for (q, p) in self.received if path is None or q.endswith(path)]


def wait_for(pred, timeout=15, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class World:
    pass


@pytest.fixture(scope="session")
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()


@pytest.fixture(scope="session")
def world(receiver):
    w = World()
    tag = uuid.uuid4().hex[:10]
    w.bundle = f"com.crabapple.it.py{tag}"
    # The App Store Connect side: an admin team key signs ASC API tokens.
    keys = admin("GET", "/keys")
    team = next(k for k in keys if k["kind"] == "team" and not k["revoked"] and "ADMIN" in k["roles"])
    asc_pem = open(team["keyPath"], "rb").read()

    def asc(method, path, body=None):
        now = int(time.time())
        tok = jwt.encode(
            {"iss": team["issuerId"], "iat": now, "exp": now + 600, "aud": "appstoreconnect-v1"},
            asc_pem, algorithm="ES256", headers={"kid": team["keyId"], "typ": "JWT"})
        r = requests.request(method, BASE + path, json=body, timeout=30,
                             headers={"Authorization": "Bearer " + tok})
        assert r.status_code < 300, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content else None

    w.asc = asc
    # Apps are created by Apple, not the API: the admin API stands in.
    app = admin("POST", "/resources/apps", {"attributes": {
        "name": f"IT {tag}", "bundleId": w.bundle, "sku": f"IT{tag}", "primaryLocale": "en-US"}}, expect=201)
    w.app_id = app["data"]["id"]
    w.app_apple_id = int(w.app_id)
    # Products through Apple's App Store Connect API.
    w.gems, w.lifetime, w.pass_ = f"{w.bundle}.gems", f"{w.bundle}.lifetime", f"{w.bundle}.pass"
    for pid, ty in [(w.gems, "CONSUMABLE"), (w.lifetime, "NON_CONSUMABLE"), (w.pass_, "NON_RENEWING_SUBSCRIPTION")]:
        asc("POST", "/v2/inAppPurchases", {"data": {"type": "inAppPurchases",
            "attributes": {"name": pid, "productId": pid, "inAppPurchaseType": ty},
            "relationships": {"app": {"data": {"type": "apps", "id": w.app_id}}}}})
    group = asc("POST", "/v1/subscriptionGroups", {"data": {"type": "subscriptionGroups",
        "attributes": {"referenceName": "Plus"},
        "relationships": {"app": {"data": {"type": "apps", "id": w.app_id}}}}})
    w.group = group["data"]["id"]
    w.monthly, w.premium, w.yearly = f"{w.bundle}.monthly", f"{w.bundle}.premium", f"{w.bundle}.yearly"
    for pid, period, level in [(w.monthly, "ONE_MONTH", 2), (w.premium, "ONE_MONTH", 1), (w.yearly, "ONE_YEAR", 2)]:
        asc("POST", "/v1/subscriptions", {"data": {"type": "subscriptions",
            "attributes": {"name": pid, "productId": pid, "subscriptionPeriod": period, "groupLevel": level,
                           "familySharable": True},
            "relationships": {"group": {"data": {"type": "subscriptionGroups", "id": w.group}}}}})
    # Notification URLs through Apple's PATCH /v1/apps/{id}.
    asc("PATCH", f"/v1/apps/{w.app_id}", {"data": {"type": "apps", "id": w.app_id, "attributes": {
        "subscriptionStatusUrl": receiver.url(f"{tag}/prod/ok"),
        "subscriptionStatusUrlVersion": "V2",
        "subscriptionStatusUrlForSandbox": receiver.url(f"{tag}/sandbox/ok"),
        "subscriptionStatusUrlVersionForSandbox": "V2"}}})
    w.tag = tag
    # An In-App Purchase key for the App Store Server API.
    k = admin("POST", "/keys", {"kind": "inAppPurchase"}, expect=201)
    w.key_id, w.issuer = k["keyId"], k["issuerId"]
    w.key_pem = open(k["keyPath"], "rb").read()
    w.team_key = team
    r = requests.get(ADMIN + "/commerce/ca", params={"format": "der"}, timeout=30, headers=admin_headers())
    assert r.status_code == 200
    w.root = r.content
    admin("PUT", "/commerce/settings", {"deliveryTimeoutMs": 1000})
    return w


def make_client(w, env, bundle=None, key_pem=None, key_id=None):
    c = AppStoreServerAPIClient(key_pem or w.key_pem, key_id or w.key_id, w.issuer,
                                bundle or w.bundle, env)
    # clients.md §3.4: the client takes no base URL; set the attribute after construction.
    c._base_url = BASE + ("/sandbox" if env == Environment.SANDBOX else "")
    return c


@pytest.fixture(scope="session")
def sandbox(world):
    return make_client(world, Environment.SANDBOX)


@pytest.fixture(scope="session")
def production(world):
    return make_client(world, Environment.PRODUCTION)


@pytest.fixture(scope="session")
def verifiers(world):
    return {
        "Sandbox": SignedDataVerifier([world.root], False, Environment.SANDBOX, world.bundle),
        "Production": SignedDataVerifier([world.root], False, Environment.PRODUCTION, world.bundle,
                                          world.app_apple_id),
    }
