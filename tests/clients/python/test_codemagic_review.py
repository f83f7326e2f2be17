"""codemagic-cli-tools' `app-store-connect` (unmodified) submitting a version for App Store review
against crabapple (issue 11, "Versions, review, release"): `review-submissions create`,
`review-submission-items create` (refused with Apple's associated errors until a screenshot is
there), `review-submissions confirm`; then the reviewer on command (`crabapple review approve`)
and the version's history (`crabapple versions history`).

The app is made as Apple makes one (admin API) so the demo world the other suites read stays as
it was; what the test adds under it is deleted at the end.
"""

from __future__ import annotations

import uuid

from test_codemagic import run_asc


def _post(crabapple, rtype: str, attributes: dict, relationships: dict) -> dict:
    body = {"data": {"type": rtype, "attributes": attributes, "relationships": {
        name: {"data": {"type": t, "id": i}} for name, (t, i) in relationships.items()}}}
    if not attributes:
        del body["data"]["attributes"]
    r = crabapple.request("POST", f"/v1/{rtype}", json=body)
    assert r.status_code == 201, r.text
    return r.json()["data"]


def test_codemagic_submits_a_version_that_crabapple_reviews_and_releases(crabapple, apple_apps):
    app = apple_apps.create("review", build={"version": "7", "processingState": "VALID"})
    app_id, build_id = app["id"], app["build"]["id"]
    made: list[tuple[str, str]] = []
    # What Apple has for an app on sale: an app info (its age rating declaration comes with it)
    # and a price schedule.
    for rtype in ("appInfos", "appPriceSchedules"):
        r = crabapple.admin("POST", f"/resources/{rtype}", json={"relationships": {"app": app_id}})
        assert r.status_code == 201, r.text
        made.append((rtype, r.json()["data"]["id"]))
    version = _post(crabapple, "appStoreVersions",
                    {"platform": "IOS", "versionString": "1.0", "releaseType": "AFTER_APPROVAL"},
                    {"app": ("apps", app_id), "build": ("builds", build_id)})
    loc = _post(crabapple, "appStoreVersionLocalizations",
                {"locale": "en-US", "description": "A review test.", "keywords": "review,test",
                 "supportUrl": "https://crabapple.example/support"},
                {"appStoreVersion": ("appStoreVersions", version["id"])})
    made += [("appStoreVersions", version["id"]), ("appStoreVersionLocalizations", loc["id"])]

    submission = run_asc(crabapple, "review-submissions", "create", app_id, "--platform", "IOS")
    assert submission["attributes"]["state"] == "READY_FOR_REVIEW"
    made.append(("reviewSubmissions", submission["id"]))

    # No screenshot yet: Apple's 409, its associated error printed by codemagic.
    p = run_asc(crabapple, "review-submission-items", "create", submission["id"],
                "--app-store-version-id", version["id"], check=False)
    assert p.returncode != 0
    out = p.stdout + p.stderr
    assert f"appStoreVersions with id '{version['id']}' is not in valid state." in out, out
    assert ("App screenshot missing (APP_IPHONE_67). - A screenshot with type iphone67 is required "
            "but was not provided") in out, out

    shots = _post(crabapple, "appScreenshotSets", {"screenshotDisplayType": "APP_IPHONE_67"},
                  {"appStoreVersionLocalization": ("appStoreVersionLocalizations", loc["id"])})
    shot = _post(crabapple, "appScreenshots", {"fileName": f"{uuid.uuid4().hex}.png", "fileSize": 4096},
                 {"appScreenshotSet": ("appScreenshotSets", shots["id"])})
    made += [("appScreenshotSets", shots["id"]), ("appScreenshots", shot["id"])]

    item = run_asc(crabapple, "review-submission-items", "create", submission["id"],
                   "--app-store-version-id", version["id"])
    assert item["attributes"]["state"] == "READY_FOR_REVIEW"
    made.append(("reviewSubmissionItems", item["id"]))
    confirmed = run_asc(crabapple, "review-submissions", "confirm", submission["id"])
    assert confirmed["attributes"]["state"] == "WAITING_FOR_REVIEW"
    assert confirmed["attributes"]["submittedDate"]
    got = run_asc(crabapple, "app-store-versions", "get", version["id"])
    assert got["attributes"]["appVersionState"] == "WAITING_FOR_REVIEW"

    # The reviewer on command, from another process on the same data directory.
    out = crabapple.cli("review", "approve", version["id"], "--data", crabapple.data)
    assert out == f"{version['id']}: PROCESSING_FOR_DISTRIBUTION\n"
    got = run_asc(crabapple, "app-store-versions", "get", version["id"])
    assert got["attributes"]["appVersionState"] == "PROCESSING_FOR_DISTRIBUTION"
    assert got["attributes"]["appStoreState"] == "PROCESSING_FOR_APP_STORE"
    got = run_asc(crabapple, "review-submissions", "get", submission["id"])
    assert got["attributes"]["state"] == "COMPLETE"

    r = crabapple.get(f"/crabapple/v1/appStoreVersions/{version['id']}/history")
    assert r.status_code == 200, r.text
    states = [e["changes"].get("appVersionState") for e in r.json()["data"]
              if e["type"] == "appStoreVersions"]
    assert states == ["PREPARE_FOR_SUBMISSION", "WAITING_FOR_REVIEW", "PROCESSING_FOR_DISTRIBUTION"]
    assert r.json()["meta"]["planned"][0]["changes"]["appVersionState"] == "READY_FOR_DISTRIBUTION"

    for rtype, rid in reversed(made):
        r = crabapple.admin("DELETE", f"/resources/{rtype}/{rid}")
        assert r.status_code in (204, 404), r.text
