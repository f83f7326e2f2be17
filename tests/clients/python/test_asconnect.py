"""Microsoft's asconnect (unmodified) against crabapple.

asconnect has no base-URL setting: `HttpClient.generate_url(endpoint)` hard-codes Apple's host, so
the only patch is that one method (docs/clients.md §3.4). Everything else (JWT, paging through
links.next, deserialization into its strict models) is the library's own code.
"""

from __future__ import annotations

import asconnect
import asconnect.httpclient
import jwt
import pytest


@pytest.fixture
def patched(crabapple, monkeypatch):
    base = crabapple.client_url
    monkeypatch.setattr(
        asconnect.httpclient.HttpClient, "generate_url", lambda self, endpoint: f"{base}/v1/{endpoint}"
    )
    return crabapple


@pytest.fixture
def client(patched):
    k = patched.admin_key
    return asconnect.Client(key_id=k["keyId"], key_contents=k["privateKey"], issuer_id=k["issuerId"])


def test_list_apps(client, apps):
    got = list(client.app.get_all())
    assert sorted(a.identifier for a in got) == sorted(a["id"] for a in apps)
    by_id = {a["id"]: a for a in apps}
    for a in got:
        want = by_id[a.identifier]["attributes"]
        assert a.bundle_id == want["bundleId"]
        assert a.name == want["name"]
        assert a.attributes.sku == want["sku"]
        assert a.primary_locale == want["primaryLocale"]


def test_get_app_by_bundle_id(client, app):
    got = client.app.get_from_bundle_id(app["attributes"]["bundleId"])
    assert got is not None
    assert got.identifier == app["id"]
    assert got.name == app["attributes"]["name"]
    assert client.app.get_from_bundle_id("com.crabapple.does-not-exist") is None


def test_builds_of_app(client, crabapple, app):
    want = crabapple.get_all(f"/v1/builds?filter[app]={app['id']}&limit=200")
    got = list(client.build.get_builds(app_id=app["id"]))
    assert sorted(b.identifier for b in got) == sorted(b["id"] for b in want)
    by_id = {b["id"]: b["attributes"] for b in want}
    for b in got:
        assert b.attributes.version == by_id[b.identifier]["version"]
        assert b.attributes.processing_state == by_id[b.identifier]["processingState"]


def test_build_by_identifier(client, crabapple, app):
    builds = crabapple.get_all(f"/v1/builds?filter[app]={app['id']}&limit=200")
    assert builds, "the demo world's first app has builds"
    got = client.build.get_build_from_identifier(builds[0]["id"])
    assert got is not None and got.identifier == builds[0]["id"]


def test_individual_key(patched, apps):
    """An individual key: asconnect sends `sub: "user"` and no `iss` when issuer_id is None."""
    key = patched.create_key("--individual", "--role", "ADMIN")
    assert key["kind"] == "individual"
    client = asconnect.Client(key_id=key["keyId"], key_contents=key["privateKey"], issuer_id=None)

    claims = jwt.decode(client.http_client.generate_token(), options={"verify_signature": False})
    assert claims.get("sub") == "user" and "iss" not in claims  # the premise of this test

    got = list(client.app.get_all())
    # An Admin user sees every app of the team.
    assert sorted(a.identifier for a in got) == sorted(a["id"] for a in apps)
