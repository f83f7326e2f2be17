"""fastlane's spaceship (the `pilot` code path through Spaceship::ConnectAPI, with an API key)
against crabapple.

The client is the bundled fastlane 2.146.1 with its own Ruby 2.2.2, from npm
`@expo/traveling-fastlane-linux` (tests/clients/ruby, installed by scripts/setup-clients.sh).
tests/clients/ruby/pilot_steps.rb runs one step of what `pilot` does and prints a JSON line; each
test here runs a step and checks the values exactly. The only patch is the base URL
(docs/clients.md §3.4): spaceship hard-codes Apple's host.

Tests use an app of their own, created through the admin API as Apple creates an app (conftest's
`apple_apps`, which deletes it afterwards), so that what Apple creates with an app
(betaAppReviewDetail, betaLicenseAgreement) is checked with Apple's initial values, whatever
other suites did before.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess

import pytest

HERE = pathlib.Path(__file__).resolve().parent
RUBY_DIR = HERE.parent / "ruby"
FASTLANE = RUBY_DIR / "node_modules" / "@expo" / "traveling-fastlane-linux" / "dist" / "lib"
RUBY = FASTLANE / "ruby" / "bin" / "ruby"
GEMFILE = FASTLANE / "vendor" / "Gemfile"
PUBLIC_LINK = "https://testflight.apple.com/join/"


@pytest.fixture(scope="module")
def pilot(crabapple):
    """Runs `pilot_steps.rb STEP ARGS…` and returns its JSON line."""
    if not RUBY.exists():
        pytest.fail(f"{RUBY} is missing: run scripts/setup-clients.sh")
    key = crabapple.admin_key
    env = dict(os.environ)
    env.update(
        BUNDLE_GEMFILE=str(GEMFILE),
        CRABAPPLE_CLIENT_URL=crabapple.client_url,
        CRABAPPLE_KEY_ID=key["keyId"],
        CRABAPPLE_ISSUER_ID=key["issuerId"],
        CRABAPPLE_KEY_PATH=key.get("keyPath") or os.path.join(crabapple.data, f"AuthKey_{key['keyId']}.p8"),
    )

    def run(step: str, *args: str, ok: bool = True) -> dict | str:
        out = subprocess.run(
            [str(RUBY), "-rbundler/setup", str(RUBY_DIR / "pilot_steps.rb"), step, *args],
            capture_output=True, text=True, timeout=120, env=env, check=False,
        )
        if not ok:
            assert out.returncode != 0, f"{step} succeeded: {out.stdout}"
            return out.stderr
        assert out.returncode == 0, f"pilot_steps.rb {step} exited {out.returncode}\n{out.stderr[-3000:]}"
        return json.loads(out.stdout.strip().splitlines()[-1])

    return run


@pytest.fixture(scope="module")
def fresh_app(apple_apps) -> dict:
    """An app created as Apple creates one, with one build uploaded a moment ago."""
    return apple_apps.create("pilot", primary_locale="en-GB", build={"version": "7", "minOsVersion": "17.0"})


@pytest.fixture(scope="module")
def processed_app(apple_apps, crabapple) -> dict:
    """An app whose one build finished processing, has its export compliance answer and passed
    Beta App Review: Apple refuses to give a group a build still processing (422), and external
    testers get a build once approved (crates/asc/src/rules/testflight.rs)."""
    app = apple_apps.create("pilot", primary_locale="en-GB", build={
        "version": "7", "minOsVersion": "17.0", "processingState": "VALID", "usesNonExemptEncryption": False})
    r = crabapple.admin("POST", "/resources/betaAppReviewSubmissions", json={
        "attributes": {"betaReviewState": "APPROVED"}, "relationships": {"build": app["build"]["id"]}})
    assert r.status_code == 201, r.text
    return app


def bundle(app: dict) -> str:
    return app["attributes"]["bundleId"]


def test_pilot_finds_app_by_bundle_id(pilot, apps, fresh_app):
    got = pilot("apps", bundle(fresh_app))
    assert got["found"] == fresh_app["id"]
    assert got["name"] == fresh_app["attributes"]["name"]
    assert got["primaryLocale"] == "en-GB"
    assert fresh_app["id"] in got["ids"]
    assert {a["id"] for a in apps} <= set(got["ids"])


def test_pilot_newest_build_has_beta_detail_processing(pilot, fresh_app):
    """Build.all + Build.get with app,buildBetaDetail,preReleaseVersion: a build Apple just received
    is PROCESSING, and its beta detail (id = the build's id) says so too."""
    got = pilot("builds", bundle(fresh_app))
    build_id = fresh_app["build"]["id"]
    assert got["count"] == 1 and got["versions"] == ["7"]
    assert got["newest"] == {
        "id": build_id, "version": "7", "processingState": "PROCESSING", "expired": False,
        "usesNonExemptEncryption": None, "app": fresh_app["id"],
        "buildBetaDetail": {"id": build_id, "internalBuildState": "PROCESSING",
                            "externalBuildState": "PROCESSING", "autoNotifyEnabled": False},
        "preReleaseVersion": None,
    }


def test_pilot_demo_build_in_beta_testing(pilot):
    """The demo world's Notes 2.4.0 (132): VALID, export compliance answered."""
    got = pilot("build", "cbcdcac2-8562-51f5-89d7-54ac45c36bf1")
    assert got["processingState"] == "VALID"
    assert got["app"] == "1476097583"
    assert got["preReleaseVersion"] == "2.4.0"
    assert got["buildBetaDetail"]["internalBuildState"] == "IN_BETA_TESTING"


def test_pilot_reads_beta_app_review_detail_of_new_app(pilot, fresh_app):
    """Apple creates the app's betaAppReviewDetail with the app: id = the app's id, texts null,
    demoAccountRequired false (pilot 2.146 reads it through filter[app])."""
    got = pilot("review_detail", bundle(fresh_app))
    assert got == {"count": 1, "detail": {
        "id": fresh_app["id"], "contactFirstName": None, "contactLastName": None, "contactPhone": None,
        "contactEmail": None, "demoAccountName": None, "demoAccountRequired": False, "notes": None}}


def test_pilot_updates_beta_app_review_detail(pilot, fresh_app):
    """BuildManager#update_review_detail: PATCH betaAppReviewDetails/{app id}."""
    attrs = {"contactEmail": "review@crabapple.example", "contactFirstName": "Ada",
             "contactLastName": "Crab", "contactPhone": "+1 555 0100",
             "demoAccountRequired": True, "demoAccountName": "demo", "notes": "Sign in with demo."}
    got = pilot("update_review_detail", bundle(fresh_app), json.dumps(attrs))
    assert got == {"id": fresh_app["id"], **{k: v for k, v in attrs.items()}}
    again = pilot("review_detail", bundle(fresh_app))
    assert again["detail"] == {"id": fresh_app["id"], **attrs}


def test_pilot_review_detail_of_demo_app_uses_app_id(pilot, crabapple):
    """Every seeded app has its betaAppReviewDetail too, with the app's id."""
    got = pilot("review_detail", "com.crabapple.pippinbudget")
    assert got["count"] == 1
    assert got["detail"]["id"] == "1490553127"
    assert got["detail"]["demoAccountRequired"] is False


def test_pilot_localizations_patch_existing_post_new(pilot, fresh_app):
    """update_localized_app_review: a new app has no localization, so the first locale is POSTed;
    the next run PATCHes it and POSTs a new locale."""
    assert pilot("localizations", bundle(fresh_app)) == {"localizations": []}
    first = {"en-GB": {"description": "First.", "feedback_email": "beta@crabapple.example"}}
    got = pilot("update_localizations", bundle(fresh_app), json.dumps(first))
    assert got["done"] == [["POST", "en-GB"]]
    info = {"en-GB": {"description": "Test the new sync.", "feedback_email": "beta@crabapple.example"},
            "fr-FR": {"description": "Testez la synchro.", "feedback_email": "beta@crabapple.example"}}
    got = pilot("update_localizations", bundle(fresh_app), json.dumps(info))
    assert got == {
        "done": [["PATCH", "en-GB"], ["POST", "fr-FR"]],
        "localizations": [
            {"locale": "en-GB", "description": "Test the new sync.", "feedbackEmail": "beta@crabapple.example"},
            {"locale": "fr-FR", "description": "Testez la synchro.", "feedbackEmail": "beta@crabapple.example"},
        ],
    }


def test_pilot_sets_whats_new_and_auto_notify(pilot, fresh_app):
    """update_localized_build_review, then update_build_beta_details: the build includes its beta
    detail (Apple creates it with the build), so auto-notify is PATCHed on it."""
    build_id = fresh_app["build"]["id"]
    got = pilot("build_meta", build_id, "First beta.")
    assert got == {"localizations": [["en-US", "First beta."]], "patched": "POST",
                   "buildBetaDetail": {"id": build_id, "autoNotifyEnabled": True}}
    got = pilot("build_meta", build_id, "Second beta.")
    assert got["localizations"] == [["en-US", "Second beta."]] and got["patched"] == "PATCH"


def test_pilot_creates_public_beta_group(pilot, fresh_app):
    """App#create_beta_group with a public link: Apple gives the group its link."""
    got = pilot("create_group", bundle(fresh_app), "Public Testers", "public")
    g = got["created"]
    assert g["name"] == "Public Testers"
    assert g["isInternalGroup"] is False
    assert g["publicLinkEnabled"] is True
    assert len(g["publicLinkId"]) == 8 and g["publicLinkId"].isalnum()
    assert g["publicLink"] == PUBLIC_LINK + g["publicLinkId"]
    assert g["publicLinkLimitEnabled"] is False and g["publicLinkLimit"] == 10000
    assert got["listed"] == g


def test_pilot_creates_private_beta_group(pilot, crabapple, fresh_app):
    got = pilot("create_group", bundle(fresh_app), "Private Testers", "private")
    g = got["created"]
    assert g["publicLinkEnabled"] is False
    assert g["publicLinkId"] is None and g["publicLink"] is None
    raw = crabapple.get(f"/v1/betaGroups/{g['id']}").json()["data"]["attributes"]
    # Booleans Apple sets on create are false, not null.
    assert {k: raw[k] for k in ("feedbackEnabled", "hasAccessToAllBuilds", "iosBuildsAvailableForAppleSiliconMac",
                                "iosBuildsAvailableForAppleVision", "publicLinkLimitEnabled")} == {
        "feedbackEnabled": False, "hasAccessToAllBuilds": False, "iosBuildsAvailableForAppleSiliconMac": False,
        "iosBuildsAvailableForAppleVision": False, "publicLinkLimitEnabled": False}


def test_pilot_adds_and_removes_tester(pilot, fresh_app):
    """A tester created in a group of the app is a tester of the app (TesterManager#find_app_tester
    filters testers by app), invited by email; removing from the group keeps them in the app,
    removing from the app removes them."""
    pilot("create_group", bundle(fresh_app), "Tester Group", "private")
    email = f"pilot-{os.urandom(3).hex()}@crabapple.example"
    got = pilot("add_tester", bundle(fresh_app), "Tester Group", email)
    assert got["created"]["email"] == email
    assert got["created"]["inviteType"] == "EMAIL"
    # The group has no build yet: nothing to invite to.
    assert got["created"]["state"] == "NOT_INVITED"
    assert got["found"] == {"id": got["created"]["id"], "email": email, "firstName": "Crab", "lastName": "Tester",
                            "inviteType": "EMAIL", "apps": [fresh_app["id"]], "betaGroups": ["Tester Group"]}
    got = pilot("remove_tester", bundle(fresh_app), email, "Tester Group")
    assert got == {"removed": got["removed"], "still_in_app": True, "betaGroups": []}
    got = pilot("remove_tester", bundle(fresh_app), email)
    assert got == {"removed": got["removed"], "still_in_app": False, "betaGroups": []}


def test_pilot_distributes_build_to_group(pilot, processed_app):
    """distribute_build with groups: POST builds/{id}/relationships/betaGroups."""
    pilot("create_group", bundle(processed_app), "Distribution", "private")
    build_id = processed_app["build"]["id"]
    got = pilot("distribute", bundle(processed_app), build_id, "Distribution")
    assert len(got["groups"]) == 1
    assert got["buildsOfGroups"] == [[build_id]]


def test_pilot_tester_added_to_group_with_build_is_invited(pilot, processed_app):
    pilot("create_group", bundle(processed_app), "Has Build", "private")
    pilot("distribute", bundle(processed_app), processed_app["build"]["id"], "Has Build")
    got = pilot("add_tester", bundle(processed_app), "Has Build", f"inv-{os.urandom(3).hex()}@crabapple.example")
    assert got["created"]["state"] == "INVITED"


def test_pilot_reads_and_updates_beta_license_agreement(pilot, fresh_app):
    got = pilot("license", bundle(fresh_app))
    assert got == {"data": {"type": "betaLicenseAgreements", "id": fresh_app["id"], "agreementText": None}}
    got = pilot("update_license", bundle(fresh_app), "Beta software: use at your own risk.")
    assert got == {"id": fresh_app["id"], "agreementText": "Beta software: use at your own risk."}


def test_pilot_beta_tester_metrics_include_is_refused(pilot, fresh_app):
    """pilot 2.146's tester lookup includes `betaTesterMetrics`, a relationship Apple's current spec
    no longer has: Apple answers 400 PARAMETER_ERROR.INVALID, and spaceship raises."""
    err = pilot("find_tester_legacy", bundle(fresh_app), "nobody@crabapple.example", ok=False)
    assert "'betaTesterMetrics' is not a valid relationship name" in err


def test_spaceship_reaches_apples_host_through_the_proxy_unpatched(crabapple, apps):
    """Issue 13: without CRABAPPLE_CLIENT_URL pilot_steps.rb patches nothing, so spaceship talks
    to api.appstoreconnect.apple.com as it does for Apple, through crabapple's proxy
    (HTTPS_PROXY) trusting crabapple's CA (SSL_CERT_FILE). The bundled traveling-ruby's `ruby`
    wrapper overwrites SSL_CERT_FILE with its own bundle, so the test sets the wrapper's
    environment and then SSL_CERT_FILE, as a system Ruby's user would just export it."""
    assert crabapple.proxy_url and crabapple.ca_file, "start crabapple with --proxy (scripts/test.sh does)"
    if not RUBY.exists():
        pytest.fail(f"{RUBY} is missing: run scripts/setup-clients.sh")
    key = crabapple.admin_key
    env = {k: v for k, v in os.environ.items() if k != "CRABAPPLE_CLIENT_URL"}
    env.update(
        BUNDLE_GEMFILE=str(GEMFILE), HTTPS_PROXY=crabapple.proxy_url, CA=crabapple.ca_file,
        BUNDLE=apps[0]["attributes"]["bundleId"],
        CRABAPPLE_KEY_ID=key["keyId"], CRABAPPLE_ISSUER_ID=key["issuerId"],
        CRABAPPLE_KEY_PATH=key.get("keyPath") or os.path.join(crabapple.data, f"AuthKey_{key['keyId']}.p8"),
    )
    bin_dir = RUBY.parent
    script = (f'eval "$("{bin_dir}/ruby_environment")"; export SSL_CERT_FILE="$CA"; '
              f'exec "{bin_dir.parent}/bin.real/ruby" -rbundler/setup "{RUBY_DIR}/pilot_steps.rb" apps "$BUNDLE"')
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120, env=env, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert sorted(got["ids"]) == sorted(a["id"] for a in crabapple.get_all("/v1/apps?limit=200"))
    assert got["found"] == apps[0]["id"]
