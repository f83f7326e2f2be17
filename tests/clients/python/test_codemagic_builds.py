"""codemagic-cli-tools' `app-store-connect builds` (unmodified) on TestFlight against crabapple:
submitting a build to TestFlight (Beta App Review), Apple's refusal of a build without its export
compliance answer as the CLI prints it, "What to Test", expiring a build, its beta details.
Rules: crates/asc/src/rules/builds.rs, beta_review.rs.
"""
from __future__ import annotations

import pytest

from test_codemagic import run_asc

READY = {"version": "12", "minOsVersion": "17.0", "processingState": "VALID", "usesNonExemptEncryption": False}


@pytest.fixture
def ready_app(apple_apps) -> dict:
    """An app with one processed build answered for export compliance and its test information."""
    app = apple_apps.create("cmbuilds", build=dict(READY))
    apple_apps.complete_test_information(app["id"])
    return app


def beta_detail(crabapple, build_id: str) -> dict:
    return crabapple.get(f"/v1/builds/{build_id}/buildBetaDetail").json()["data"]["attributes"]


def test_submit_to_testflight_waits_for_beta_review(crabapple, ready_app):
    build_id = ready_app["build"]["id"]
    run_asc(crabapple, "builds", "submit-to-testflight", build_id, "--max-build-processing-wait", "0",
            json_out=False)
    sub = crabapple.get(f"/v1/builds/{build_id}/betaAppReviewSubmission").json()["data"]
    assert sub["attributes"]["betaReviewState"] == "WAITING_FOR_REVIEW"
    assert beta_detail(crabapple, build_id)["externalBuildState"] == "WAITING_FOR_BETA_REVIEW"
    out = run_asc(crabapple, "builds", "beta-details", build_id)
    assert out["attributes"]["externalBuildState"] == "WAITING_FOR_BETA_REVIEW"


def test_submit_to_testflight_without_export_compliance_prints_apples_422(crabapple, apple_apps):
    app = apple_apps.create("cmbuilds", build={"version": "13", "processingState": "VALID"})
    apple_apps.complete_test_information(app["id"])
    p = run_asc(crabapple, "builds", "submit-to-testflight", app["build"]["id"],
                "--max-build-processing-wait", "0", check=False)
    assert p.returncode != 0
    assert "The build is missing export compliance." in p.stderr + p.stdout


def test_add_beta_test_info_sets_what_to_test(crabapple, ready_app):
    build_id = ready_app["build"]["id"]
    run_asc(crabapple, "builds", "add-beta-test-info", build_id, "--locale", "en-US",
            "--whats-new", "Try the new widget.", json_out=False)
    locs = crabapple.get_all(f"/v1/builds/{build_id}/betaBuildLocalizations")
    assert [(l["attributes"]["locale"], l["attributes"]["whatsNew"]) for l in locs] == [
        ("en-US", "Try the new widget.")]


def test_expire_build_expires_it_and_its_beta_detail(crabapple, ready_app):
    build_id = ready_app["build"]["id"]
    run_asc(crabapple, "builds", "expire", build_id, json_out=False)
    build = crabapple.get(f"/v1/builds/{build_id}").json()["data"]["attributes"]
    assert build["expired"] is True
    assert beta_detail(crabapple, build_id) == {
        "autoNotifyEnabled": False, "internalBuildState": "EXPIRED", "externalBuildState": "EXPIRED"}
