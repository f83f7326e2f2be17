"""Fixtures for the real-client suites.

The server under test comes from the environment (scripts/test.sh sets these):

    CRABAPPLE_BASE_URL    crabapple itself, e.g. http://127.0.0.1:PORT (raw HTTP checks go here)
    CRABAPPLE_CLIENT_URL  where the real clients are pointed (default: CRABAPPLE_BASE_URL)
    CRABAPPLE_DATA        the server's data dir (keys, AuthKey_*.p8)
    CRABAPPLE_BIN         the crabapple binary (default: <repo>/target/debug/crabapple)
    CRABAPPLE_HTTPS_URL   its HTTPS listener (`serve --https`), e.g. https://127.0.0.1:PORT
    CRABAPPLE_PROXY_URL   its proxy for Apple's hosts (`serve --proxy`), e.g. http://127.0.0.1:PORT
    CRABAPPLE_CA_FILE     the CA (PEM) that issued the HTTPS certificate (`crabapple ca export --pem`)

Without CRABAPPLE_BASE_URL the session starts its own `crabapple serve` on a free port in a temp
data dir, so `tests/clients/.venv/bin/pytest tests/clients/python` works on its own after
`cargo build -p crabapple`.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import time
import uuid

import jwt
import pytest
import requests

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[2]
AUD = "appstoreconnect-v1"
# Our own raw requests say who they are, so the server's operation recording
# (CRABAPPLE_RECORD_OPS, read by scripts/test.sh) can tell them from the real clients'.
UA = "crabapple-tests/raw"


def find_bin() -> str:
    b = os.environ.get("CRABAPPLE_BIN")
    if b:
        return b
    target = os.environ.get("CARGO_TARGET_DIR") or str(REPO / "target")
    return str(pathlib.Path(target) / "debug" / "crabapple")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def admin_headers(data: str) -> dict:
    """The admin API's token header: `crabapple serve` keeps the token in DATA/admin-token."""
    try:
        with open(os.path.join(data, "admin-token")) as f:
            return {"X-Crabapple-Admin-Token": f.read().strip()}
    except FileNotFoundError:
        return {}


def wait_ready(base: str, data: str, proc: subprocess.Popen | None = None, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"crabapple exited with {proc.returncode} before it was ready")
        try:
            r = requests.get(f"{base}/crabapple/admin/status", timeout=2,
                             headers={"User-Agent": UA, **admin_headers(data)})
            if r.status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"crabapple at {base} not ready after {timeout}s")


class Crabapple:
    """A running crabapple: URLs, data dir, CLI, keys, tokens and raw HTTP helpers."""

    def __init__(self, base_url: str, client_url: str, data: str, bin_path: str,
                 https_url: str | None = None, proxy_url: str | None = None,
                 ca_file: str | None = None, env: dict | None = None):
        self.base_url = base_url.rstrip("/")
        # The environment of its CLI commands (a server of its own drops the suite's database).
        self.env = env if env is not None else dict(os.environ)
        self.client_url = client_url.rstrip("/")
        self.data = data
        self.bin = bin_path
        # Issue 13: HTTPS, the proxy for Apple's hosts, and the CA to trust for both.
        self.https_url = https_url
        self.proxy_url = proxy_url
        self.ca_file = ca_file
        self._admin_key: dict | None = None

    # ------------------------------------------------------------------ CLI
    def cli(self, *args: str) -> str:
        out = subprocess.run(
            [self.bin, *args], capture_output=True, text=True, timeout=60, check=False,
            env=self.env,
        )
        if out.returncode != 0:
            raise AssertionError(
                f"`crabapple {' '.join(args)}` exited {out.returncode}\n{out.stdout}\n{out.stderr}"
            )
        return out.stdout

    def keys(self) -> list[dict]:
        return json.loads(self.cli("keys", "list", "--data", self.data, "--json"))

    def with_pem(self, key: dict) -> dict:
        key = dict(key)
        path = key.get("keyPath") or os.path.join(self.data, f"AuthKey_{key['keyId']}.p8")
        key["privateKey"] = pathlib.Path(path).read_text()
        return key

    @property
    def admin_key(self) -> dict:
        """The first active Admin team key (the one `crabapple serve` creates)."""
        if self._admin_key is None:
            for k in self.keys():
                if k["kind"] == "team" and not k["revoked"] and "ADMIN" in k["roles"]:
                    self._admin_key = self.with_pem(k)
                    break
            else:
                raise AssertionError(f"no active Admin team key in {self.data}")
        return self._admin_key

    def create_key(self, *extra: str) -> dict:
        """`crabapple keys create … --json`, then wait until the running server knows the key."""
        out = json.loads(self.cli("keys", "create", "--data", self.data, *extra, "--json"))
        if isinstance(out, list):
            out = out[0]
        key = self.with_pem(out)
        deadline = time.time() + 10
        while time.time() < deadline:
            if key["kind"] == "inAppPurchase":
                break
            r = self.get("/v1/apps?limit=1", token=self.token(key))
            if r.status_code != 401:
                break
            time.sleep(0.25)
        return key

    # ---------------------------------------------------------------- tokens
    def token(self, key: dict | None = None, *, ttl: int = 600, headers: dict | None = None,
              drop: tuple[str, ...] = (), **claims) -> str:
        """An ES256 JWT minted here with PyJWT (independent of crabapple's own minting)."""
        key = key or self.admin_key
        now = int(time.time())
        payload: dict = {"iat": now, "exp": now + ttl, "aud": AUD}
        if key["kind"] == "individual":
            payload["sub"] = "user"
        else:
            payload["iss"] = key["issuerId"]
        payload.update(claims)
        for c in drop:
            payload.pop(c, None)
        hdr = {"kid": key["keyId"], "typ": "JWT"}
        hdr.update(headers or {})
        return jwt.encode(payload, key["privateKey"], algorithm="ES256", headers=hdr)

    # ------------------------------------------------------------------ HTTP
    def url(self, path_or_url: str) -> str:
        if path_or_url.startswith("http"):
            return path_or_url
        return self.base_url + path_or_url

    def request(self, method: str, path: str, *, token: str | None = None, auth: bool = True,
                **kw) -> requests.Response:
        headers = kw.pop("headers", {})
        headers.setdefault("User-Agent", UA)
        if auth:
            headers.setdefault("Authorization", f"Bearer {token or self.token()}")
        return requests.request(method, self.url(path), headers=headers, timeout=60, **kw)

    def get(self, path: str, **kw) -> requests.Response:
        return self.request("GET", path, **kw)

    def get_all(self, path: str, **kw) -> list[dict]:
        """Every item of a collection, following links.next."""
        items: list[dict] = []
        url = path
        for _ in range(1000):
            r = self.get(url, **kw)
            assert r.status_code == 200, f"GET {url} -> {r.status_code} {r.text[:500]}"
            doc = r.json()
            items.extend(doc["data"])
            url = doc.get("links", {}).get("next")
            if not url:
                return items
        raise AssertionError(f"more than 1000 pages under {path}")

    def admin(self, method: str, path: str, **kw) -> requests.Response:
        headers = kw.pop("headers", {})
        headers.setdefault("User-Agent", UA)
        headers.update(admin_headers(self.data))
        return requests.request(method, f"{self.base_url}/crabapple/admin{path}", headers=headers,
                                timeout=60, **kw)


@pytest.fixture(scope="session")
def crabapple():
    base = os.environ.get("CRABAPPLE_BASE_URL")
    if base:
        data = os.environ.get("CRABAPPLE_DATA")
        assert data, "CRABAPPLE_BASE_URL is set but CRABAPPLE_DATA is not"
        ca = Crabapple(base, os.environ.get("CRABAPPLE_CLIENT_URL") or base, data, find_bin(),
                       os.environ.get("CRABAPPLE_HTTPS_URL"), os.environ.get("CRABAPPLE_PROXY_URL"),
                       os.environ.get("CRABAPPLE_CA_FILE"))
        wait_ready(ca.base_url, data, timeout=10)
        yield ca
        return
    with own_server() as ca:
        yield ca


@contextlib.contextmanager
def own_server(prefix: str = "crabapple-pytest-"):
    """A `crabapple serve` of its own on a free port in a new temporary data directory; stopped
    and removed afterwards."""
    bin_path = find_bin()
    if not os.path.exists(bin_path):
        pytest.exit(f"{bin_path} not found: run `cargo build -p crabapple` (or set CRABAPPLE_BIN)", 2)
    tmp = tempfile.mkdtemp(prefix=prefix)
    port, https, proxy = free_port(), free_port(), free_port()
    log = open(os.path.join(tmp, "server.log"), "w")
    # A world of its own: its store is the data directory's SQLite file, also when the suite's
    # shared server keeps its store in PostgreSQL (CRABAPPLE_DATABASE_URL, scripts/test.sh).
    env = {k: v for k, v in os.environ.items() if k != "CRABAPPLE_DATABASE_URL"}
    proc = subprocess.Popen(
        [bin_path, "serve", "--data", tmp, "--listen", f"127.0.0.1:{port}",
         "--https", f"127.0.0.1:{https}", "--proxy", f"127.0.0.1:{proxy}"],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, tmp, proc)
        ca_file = os.path.join(tmp, "ca.pem")
        with open(ca_file, "w") as f:
            f.write(subprocess.run([bin_path, "ca", "export", "--pem", "--tls", "--data", tmp],
                                   capture_output=True, text=True, check=True, env=env).stdout)
        yield Crabapple(base, base, tmp, bin_path, f"https://127.0.0.1:{https}",
                        f"http://127.0.0.1:{proxy}", ca_file, env)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def apps(crabapple) -> list[dict]:
    """Every app of the world, by the API (tests discover ids rather than hard-code them)."""
    items = crabapple.get_all("/v1/apps?limit=200")
    assert items, "the demo world has no apps"
    return items


@pytest.fixture(scope="session")
def app(apps) -> dict:
    return apps[0]


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:10]


# Types an Apple-created app brings or that TestFlight writes add under it.
TESTFLIGHT_TYPES = (
    "apps", "builds", "buildBetaDetails", "betaBuildLocalizations", "betaAppReviewSubmissions",
    "betaGroups", "betaTesters", "betaAppLocalizations", "betaAppReviewDetails",
    "betaLicenseAgreements", "subscriptionGracePeriods",
)


class AppleApps:
    """Apps created as Apple creates them (admin API), for suites that write under an app of their
    own. At teardown every resource of TESTFLIGHT_TYPES that appeared meanwhile is deleted, so the
    world the other suites list (e.g. the session's `apps`) is the one they started with."""

    def __init__(self, crabapple: Crabapple):
        self.crabapple = crabapple
        self.before = {t: self._ids(t) for t in TESTFLIGHT_TYPES}

    def _ids(self, rtype: str) -> set[str]:
        r = self.crabapple.admin("GET", f"/resources/{rtype}")
        assert r.status_code == 200, r.text
        return {d["id"] for d in r.json()["data"]}

    def create(self, tag: str, primary_locale: str = "en-US", build: dict | None = None) -> dict:
        """A new app (and, with `build` attributes, one build of it)."""
        attrs = {"name": f"{tag.title()} {uuid.uuid4().hex[:8]}", "bundleId": f"com.crabapple.{tag}{uuid.uuid4().hex[:8]}",
                 "sku": f"{tag.upper()}{uuid.uuid4().hex[:8]}", "primaryLocale": primary_locale}
        r = self.crabapple.admin("POST", "/resources/apps", json={"attributes": attrs})
        assert r.status_code == 201, r.text
        app = r.json()["data"]
        if build is not None:
            r = self.crabapple.admin("POST", "/resources/builds", json={
                "attributes": build, "relationships": {"app": app["id"]}})
            assert r.status_code == 201, r.text
            app["build"] = r.json()["data"]
        return app

    def complete_test_information(self, app_id: str) -> None:
        """What Beta App Review needs before a submission (Apple's 422 otherwise,
        crates/asc/src/rules/beta_review.rs): a feedback email and the review contact."""
        ca = self.crabapple
        r = ca.request("POST", "/v1/betaAppLocalizations", json={"data": {
            "type": "betaAppLocalizations", "attributes": {"locale": "en-US", "feedbackEmail": "beta@crabapple.example"},
            "relationships": {"app": {"data": {"type": "apps", "id": app_id}}}}})
        assert r.status_code == 201, r.text
        r = ca.request("PATCH", f"/v1/betaAppReviewDetails/{app_id}", json={"data": {
            "type": "betaAppReviewDetails", "id": app_id, "attributes": {
                "contactFirstName": "Mara", "contactLastName": "Quince", "contactPhone": "+1 555 0100",
                "contactEmail": "review@crabapple.example"}}})
        assert r.status_code == 200, r.text

    def cleanup(self) -> None:
        for rtype in reversed(TESTFLIGHT_TYPES):
            for i in sorted(self._ids(rtype) - self.before[rtype]):
                r = self.crabapple.admin("DELETE", f"/resources/{rtype}/{i}")
                assert r.status_code in (204, 404), r.text


@pytest.fixture(scope="module")
def apple_apps(crabapple):
    made = AppleApps(crabapple)
    yield made
    made.cleanup()
