"""Isolated worlds (issue 12) as a CI job meets them: a world of its own from the admin API,
Microsoft's asconnect (unmodified but for its base URL, as test_asconnect.py) pointed at the
world's base URL, the world's token refused by another world with Apple's 401, a clock of its own,
and the world deleted at the end.
"""

from __future__ import annotations

import pathlib

import asconnect
import asconnect.httpclient
import requests

from conftest import UA, Crabapple, admin_headers


def world_key(w: dict) -> dict:
    return {"keyId": w["keyId"], "issuerId": w["issuerId"], "kind": "team",
            "privateKey": pathlib.Path(w["keyPath"]).read_text()}


def world_admin(ca: Crabapple, w: dict, method: str, path: str, **kw) -> requests.Response:
    """The world's admin API: the admin API under its base URL, with the server's admin token."""
    headers = {"User-Agent": UA, **admin_headers(ca.data)}
    return requests.request(method, f"{w['baseUrl']}/crabapple/admin{path}", headers=headers,
                            timeout=60, **kw)


def create(ca: Crabapple, name: str) -> dict:
    r = ca.admin("POST", "/worlds", json={"name": name})
    assert r.status_code == 201, r.text
    w = r.json()
    assert w["baseUrl"] == f"{ca.base_url}/crabapple/worlds/{w['id']}"
    return w


def test_a_ci_job_gets_a_world_of_its_own(crabapple, monkeypatch):
    ca = crabapple
    default_offset = ca.admin("GET", "/status").json()["clock"]["offsetMs"]
    mine, other = create(ca, "pytest-mine"), create(ca, "pytest-other")
    try:
        key = world_key(mine)
        base = mine["baseUrl"]
        monkeypatch.setattr(asconnect.httpclient.HttpClient, "generate_url",
                            lambda self, endpoint: f"{base}/v1/{endpoint}")
        client = asconnect.Client(key_id=key["keyId"], key_contents=key["privateKey"],
                                  issuer_id=key["issuerId"])
        apps = list(client.app.get_all())
        assert apps, "the demo world has apps"
        # The same token on the server's own base URL: its kid names the world's key.
        token = ca.token(key)
        r = ca.get("/v1/apps?limit=200", token=token)
        assert r.status_code == 200
        assert sorted(a["id"] for a in r.json()["data"]) == sorted(a.identifier for a in apps)
        # In another world: Apple's 401.
        r = ca.get(f"{other['baseUrl']}/v1/apps", token=token)
        assert r.status_code == 401
        assert [(e["status"], e["code"]) for e in r.json()["errors"]] == [("401", "NOT_AUTHORIZED")]
        # A clock of its own.
        r = world_admin(ca, mine, "POST", "/clock/advance", json={"by": "5d"})
        assert r.status_code == 200, r.text
        status = world_admin(ca, mine, "GET", "/status").json()
        assert status["clock"]["offsetMs"] == 5 * 86_400_000
        assert ca.admin("GET", "/status").json()["clock"]["offsetMs"] == default_offset
    finally:
        for w in (mine, other):
            assert ca.admin("DELETE", f"/worlds/{w['id']}").status_code == 204
    r = ca.get("/v1/apps", token=token)
    assert r.status_code == 401
