"""Microsoft's asconnect (unmodified) against crabapple.

asconnect has no base-URL setting: `HttpClient.generate_url(endpoint)` hard-codes Apple's host, so
the only patch is that one method (docs/clients.md §3.4). Everything else (JWT, paging through
links.next, deserialization into its strict models) is the library's own code.
"""

from __future__ import annotations

import uuid

import asconnect
import asconnect.httpclient
import jwt
import pytest
import requests


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


# ------------------------------------------------------------------------------ TestFlight writes
# asconnect's beta_review client: what Apple creates with an app (betaAppReviewDetail at the app's
# id, the primary locale's betaAppLocalization, a build's betaDetail) and the values Apple sets on
# beta groups, which asconnect's models require (e.g. `feedback_enabled: bool`, not null).


@pytest.fixture
def testflight_app(patched, apple_apps):
    """An app created as Apple creates one, with a build that finished processing (its binary gave
    it a minimum OS version) and answered export compliance."""
    return apple_apps.create("asconnect", build={
        "version": "3", "processingState": "VALID", "usesNonExemptEncryption": False, "minOsVersion": "17.0"})


def create_group(crabapple, app_id: str, name: str) -> dict:
    r = crabapple.request("POST", "/v1/betaGroups", json={"data": {
        "type": "betaGroups", "attributes": {"name": name},
        "relationships": {"app": {"data": {"type": "apps", "id": app_id}}}}})
    assert r.status_code == 201, r.text
    return r.json()["data"]


def test_set_beta_app_review_details(client, testflight_app):
    """PATCH betaAppReviewDetails/{app id}: the record exists from the app's creation."""
    got = client.beta_review.set_beta_app_review_details(
        app_id=testflight_app["id"], contact_email="review@crabapple.example", contact_first_name="Ada",
        contact_last_name="Crab", contact_phone="+1 555 0100", demo_account_required=False,
        notes="No sign-in needed.")
    assert got.identifier == testflight_app["id"]
    a = got.attributes
    assert (a.contact_email, a.contact_first_name, a.contact_last_name, a.contact_phone) == (
        "review@crabapple.example", "Ada", "Crab", "+1 555 0100")
    assert a.demo_account_required is False
    assert a.demo_account_name is None and a.demo_account_password is None
    assert a.notes == "No sign-in needed."


def test_set_beta_app_localizations(client, testflight_app):
    """A new app has none: both locales are POSTed, then a second call PATCHes them."""
    app_id = testflight_app["id"]
    assert list(client.beta_review.get_beta_app_localizations(app_id)) == []
    client.beta_review.set_beta_app_localizations(app_id, {
        "en-US": {"description": "First.", "feedbackEmail": "beta@crabapple.example"},
        "de-DE": {"description": "Erste.", "feedbackEmail": "beta@crabapple.example"},
    })
    before = {l.attributes.locale: l.identifier for l in client.beta_review.get_beta_app_localizations(app_id)}
    client.beta_review.set_beta_app_localizations(app_id, {
        "en-US": {"description": "Try the beta.", "feedbackEmail": "beta@crabapple.example"},
        "de-DE": {"description": "Teste die Beta.", "feedbackEmail": "beta@crabapple.example"},
    })
    after = sorted(client.beta_review.get_beta_app_localizations(app_id), key=lambda l: l.attributes.locale)
    assert [(l.attributes.locale, l.attributes.description, l.attributes.feedback_email) for l in after] == [
        ("de-DE", "Teste die Beta.", "beta@crabapple.example"),
        ("en-US", "Try the beta.", "beta@crabapple.example"),
    ]
    assert {l.attributes.locale: l.identifier for l in after} == before


def test_beta_groups_created_by_api(client, crabapple, testflight_app):
    """A group created with only its name: Apple's booleans are false (asconnect's model requires
    `feedback_enabled: bool` and `is_internal_group: bool`), no public link."""
    g = create_group(crabapple, testflight_app["id"], "Asconnect Testers")
    groups = list(client.beta_review.get_beta_groups(testflight_app["id"]))
    assert [x.identifier for x in groups] == [g["id"]]
    a = groups[0].attributes
    assert a.name == "Asconnect Testers"
    assert a.is_internal_group is False and a.feedback_enabled is False
    assert a.public_link_enabled is False and a.public_link_limit_enabled is False
    assert a.public_link is None and a.public_link_id is None
    assert a.created_date == g["attributes"]["createdDate"]


def test_set_beta_groups_on_build_and_submit(client, crabapple, apple_apps, testflight_app):
    build_id = testflight_app["build"]["id"]
    create_group(crabapple, testflight_app["id"], "External")
    groups = list(client.beta_review.get_beta_groups(testflight_app["id"]))
    client.beta_review.set_beta_groups_on_build(build_id, groups)
    linked = crabapple.get_all(f"/v1/betaGroups/{groups[0].identifier}/builds")
    assert [b["id"] for b in linked] == [build_id]
    apple_apps.complete_test_information(testflight_app["id"])
    client.beta_review.submit_for_beta_review(build_id)
    subs = crabapple.get_all(f"/v1/betaAppReviewSubmissions?filter[build]={build_id}")
    assert len(subs) == 1


def test_build_beta_detail_of_new_build(client, testflight_app):
    """A processed build with its export compliance answered is ready for testing; its beta
    detail has the build's id."""
    build = client.build.get_build_from_identifier(testflight_app["build"]["id"])
    assert build is not None
    detail = client.build.get_beta_detail(build)
    assert detail is not None
    assert detail.identifier == build.identifier
    assert detail.attributes.internal_build_state.value == "READY_FOR_BETA_TESTING"
    assert detail.attributes.external_build_state.value == "READY_FOR_BETA_SUBMISSION"
    assert detail.attributes.auto_notify_enabled is False


def test_set_whats_new_for_build(client, crabapple, testflight_app):
    build_id = testflight_app["build"]["id"]
    client.beta_review.set_whats_new_for_build(build_id, {"en-US": "First beta."})
    client.beta_review.set_whats_new_for_build(build_id, {"en-US": "Second beta."})
    locs = list(client.beta_review.get_beta_build_localizations(build_id))
    assert [(l.attributes.locale, l.attributes.whats_new) for l in locs] == [("en-US", "Second beta.")]


def _png(width: int, height: int) -> bytes:
    """A solid RGB PNG of the given size (no imaging library needed)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + b"\xc8\x28\x5a" * width
    raw = zlib.compress(row * height, 6)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


@pytest.fixture
def localization(crabapple):
    """A version localization of an app of its own (the shared demo world stays as it is)."""
    tag = uuid.uuid4().hex[:8]
    r = crabapple.admin("POST", "/resources/apps", json={"attributes": {
        "name": f"Shots {tag}", "bundleId": f"com.example.shots{tag}", "sku": f"SHOTS{tag}", "primaryLocale": "en-US"}})
    assert r.status_code == 201, r.text
    app_id = r.json()["data"]["id"]
    v = crabapple.request("POST", "/v1/appStoreVersions", json={"data": {"type": "appStoreVersions",
        "attributes": {"platform": "IOS", "versionString": "1.0"},
        "relationships": {"app": {"data": {"type": "apps", "id": app_id}}}}})
    assert v.status_code == 201, v.text
    loc = crabapple.request("POST", "/v1/appStoreVersionLocalizations", json={"data": {
        "type": "appStoreVersionLocalizations", "attributes": {"locale": "en-US"},
        "relationships": {"appStoreVersion": {"data": {"type": "appStoreVersions", "id": v.json()["data"]["id"]}}}}})
    assert loc.status_code == 201, loc.text
    return loc.json()["data"]["id"]


def test_screenshot_reservation_flow(client, crabapple, localization, tmp_path):
    """Issue 11: asconnect's own upload (reserve → PUT the upload operations → PATCH uploaded with
    the MD5) completes for a size Apple accepts for the display type and fails with Apple's
    IMAGE_INCORRECT_DIMENSIONS for another; the image is served at its templateUrl."""
    from asconnect.models import ScreenshotDisplayType

    shot_set = client.screenshots.create_set(
        localization_id=localization, display_type=ScreenshotDisplayType.APP_IPHONE_67
    )
    good = tmp_path / "good.png"
    good.write_bytes(_png(1290, 2796))
    done = client.screenshots.upload_screenshot(file_path=str(good), screenshot_set_id=shot_set.identifier)
    raw = crabapple.get(f"/v1/appScreenshots/{done.identifier}").json()["data"]["attributes"]
    assert raw["assetDeliveryState"] == {"state": "COMPLETE", "errors": [], "warnings": []}
    asset = raw["imageAsset"]
    assert (asset["width"], asset["height"]) == (1290, 2796)
    url = asset["templateUrl"].replace("{w}", "200").replace("{h}", "400").replace("{f}", "png")
    img = requests.get(url, timeout=60)
    assert img.status_code == 200 and img.headers["Content-Type"] == "image/png"
    assert img.content.startswith(b"\x89PNG")

    bad = tmp_path / "bad.png"
    bad.write_bytes(_png(1284, 2778))
    failed = client.screenshots.upload_screenshot(file_path=str(bad), screenshot_set_id=shot_set.identifier)
    raw = crabapple.get(f"/v1/appScreenshots/{failed.identifier}").json()["data"]["attributes"]
    assert raw["assetDeliveryState"]["state"] == "FAILED"
    assert [e["code"] for e in raw["assetDeliveryState"]["errors"]] == ["IMAGE_INCORRECT_DIMENSIONS"]
    listed = [s.identifier for s in client.screenshots.get_screenshots(screenshot_set_id=shot_set.identifier)]
    assert listed == [done.identifier, failed.identifier]
