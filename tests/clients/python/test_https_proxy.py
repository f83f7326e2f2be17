"""Issue 13 — any client, unmodified: crabapple over HTTPS with its own CA, and as the proxy for
Apple's hosts (`HTTPS_PROXY`), so clients that hard-code `api.appstoreconnect.apple.com` reach it
with environment variables only. Links use the host and scheme the client used.

The server is started with `--https ADDR --proxy ADDR` (scripts/test.sh, or conftest's own server);
its CA comes from `crabapple ca export --pem --tls`.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from urllib.parse import urlsplit

import requests

APPLE = "https://api.appstoreconnect.apple.com"
APPLE_HOSTS = (
    "api.appstoreconnect.apple.com, api.storekit.itunes.apple.com, "
    "api.storekit-sandbox.itunes.apple.com, api.storekit.apple.com, api.storekit-sandbox.apple.com"
)


def need(crabapple):
    assert crabapple.https_url and crabapple.proxy_url and crabapple.ca_file, (
        "start crabapple with --https and --proxy and set CRABAPPLE_HTTPS_URL, CRABAPPLE_PROXY_URL "
        "and CRABAPPLE_CA_FILE (scripts/test.sh does)"
    )


def via_proxy(crabapple) -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    s.proxies = {"https": crabapple.proxy_url}
    s.verify = crabapple.ca_file
    s.headers["Authorization"] = f"Bearer {crabapple.token()}"
    s.headers["User-Agent"] = "crabapple-tests/raw"
    return s


def test_https_listener_serves_the_api_with_a_certificate_from_crabapples_ca(crabapple):
    need(crabapple)
    r = requests.get(f"{crabapple.https_url}/v1/apps?limit=1", verify=crabapple.ca_file, timeout=30,
                     headers={"Authorization": f"Bearer {crabapple.token()}", "User-Agent": "crabapple-tests/raw"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    links = r.json()["links"]
    assert links["self"] == f"{crabapple.https_url}/v1/apps?limit=1"
    assert links["next"].startswith(f"{crabapple.https_url}/v1/apps?")


def test_curl_with_cacert_speaks_http2_by_alpn(crabapple):
    need(crabapple)
    out = subprocess.run(
        ["curl", "-sS", "--http2", "--cacert", crabapple.ca_file, "-o", "/dev/null",
         "-w", "%{http_version} %{http_code}", "-H", f"Authorization: Bearer {crabapple.token()}",
         "-A", "crabapple-tests/raw", f"{crabapple.https_url}/v1/apps?limit=1"],
        capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout == "2 200", out.stdout + out.stderr


def test_proxy_serves_apples_host_and_paging_follows_links_on_that_host(crabapple):
    need(crabapple)
    s = via_proxy(crabapple)
    url, seen, pages = f"{APPLE}/v1/apps?limit=2", [], 0
    while url:
        r = s.get(url, timeout=30)
        assert r.status_code == 200, r.text
        doc = r.json()
        assert doc["links"]["self"].startswith(f"{APPLE}/v1/apps?"), doc["links"]
        seen += [a["id"] for a in doc["data"]]
        url = doc["links"].get("next")
        pages += 1
    assert pages > 1
    assert sorted(seen) == sorted(a["id"] for a in crabapple.get_all("/v1/apps?limit=200"))


def test_a_created_resource_links_to_apples_host_through_the_proxy(crabapple, unique):
    need(crabapple)
    s = via_proxy(crabapple)
    r = s.post(f"{APPLE}/v1/bundleIds", timeout=30, json={"data": {"type": "bundleIds", "attributes": {
        "identifier": f"com.crabapple.proxy{unique}", "name": f"Proxy {unique}", "platform": "IOS"}}})
    assert r.status_code == 201, r.text
    doc = r.json()["data"]
    assert doc["links"]["self"] == f"{APPLE}/v1/bundleIds/{doc['id']}"
    assert r.headers["location"] == f"{APPLE}/v1/bundleIds/{doc['id']}"


def raw_proxy(crabapple, head: str) -> tuple[str, dict, str]:
    p = urlsplit(crabapple.proxy_url)
    with socket.create_connection((p.hostname, p.port), timeout=10) as c:
        c.sendall(head.encode())
        data = b""
        while chunk := c.recv(65536):
            data += chunk
            if b"\r\n\r\n" in data:
                headers, _, body = data.partition(b"\r\n\r\n")
                length = [int(l.split(b":")[1]) for l in headers.split(b"\r\n")
                          if l.lower().startswith(b"content-length:")]
                if length and len(body) >= length[0]:
                    break
    lines = headers.decode().split("\r\n")
    hdrs = {k.lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
    return lines[0], hdrs, body.decode()


def test_proxy_refuses_every_other_host_saying_why(crabapple):
    need(crabapple)
    why = (f"crabapple's proxy serves only Apple's API hosts ({APPLE_HOSTS}) and never connects to "
           "the internet: example.com refused")
    status, headers, body = raw_proxy(crabapple, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
    assert status == "HTTP/1.1 403 Forbidden"
    assert headers["x-crabapple-reason"] == why
    assert body == why + "\n"
    status, _, body = raw_proxy(crabapple, "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n")
    assert status == "HTTP/1.1 403 Forbidden"
    assert body.startswith("crabapple's proxy only tunnels HTTPS (CONNECT) to Apple's API hosts")
    status, _, body = raw_proxy(
        crabapple, "CONNECT api.storekit.apple.com:8443 HTTP/1.1\r\nHost: api.storekit.apple.com:8443\r\n\r\n")
    assert status == "HTTP/1.1 403 Forbidden"
    assert body == "Apple serves api.storekit.apple.com on port 443 only: port 8443 refused\n"


def test_an_unmodified_client_needs_only_environment_variables(crabapple):
    """A script written for Apple (its URL hard-coded) runs against crabapple with HTTPS_PROXY and
    REQUESTS_CA_BUNDLE; curl the same with HTTPS_PROXY and --cacert."""
    need(crabapple)
    env = {**os.environ, "HTTPS_PROXY": crabapple.proxy_url, "REQUESTS_CA_BUNDLE": crabapple.ca_file,
           "TOKEN": crabapple.token()}
    script = (
        "import os, requests\n"
        "r = requests.get('https://api.appstoreconnect.apple.com/v1/apps?limit=1',\n"
        "                 headers={'Authorization': 'Bearer ' + os.environ['TOKEN']}, timeout=30)\n"
        "print(r.status_code, r.json()['links']['self'])\n")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == f"200 {APPLE}/v1/apps?limit=1", out.stdout + out.stderr
    out = subprocess.run(
        ["curl", "-sS", "--cacert", crabapple.ca_file, "-o", "/dev/null", "-w", "%{http_code}",
         "-H", f"Authorization: Bearer {env['TOKEN']}", f"{APPLE}/v1/apps?limit=1"],
        env=env, capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout == "200", out.stdout + out.stderr


def test_codemagic_cli_runs_unmodified_with_only_environment_variables(crabapple, apps):
    """codemagic-cli-tools' installed `app-store-connect` script, without the base-URL wrapper
    the other codemagic tests use: Apple's host hard-coded, reached through the proxy."""
    need(crabapple)
    key = crabapple.admin_key
    script = os.path.join(os.path.dirname(sys.executable), "app-store-connect")
    env = {**os.environ, "HTTPS_PROXY": crabapple.proxy_url, "REQUESTS_CA_BUNDLE": crabapple.ca_file,
           "APP_STORE_CONNECT_ISSUER_ID": key["issuerId"], "APP_STORE_CONNECT_KEY_IDENTIFIER": key["keyId"],
           "APP_STORE_CONNECT_PRIVATE_KEY": key["privateKey"], "NO_COLOR": "1"}
    out = subprocess.run([script, "apps", "list", "--json", "--disable-jwt-cache", "--no-color"],
                         env=env, capture_output=True, text=True, timeout=180, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    assert sorted(a["id"] for a in json.loads(out.stdout)) == sorted(a["id"] for a in crabapple.get_all("/v1/apps?limit=200"))
