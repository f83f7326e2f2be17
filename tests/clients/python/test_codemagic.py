"""codemagic-cli-tools' `app-store-connect` CLI (unmodified) against crabapple.

Each test runs the real CLI in a subprocess through codemagic_asc.py (which only sets
`AppStoreConnectApiClient.API_URL`), with the credentials in the CLI's own environment variables,
and checks what it prints against what crabapple's API holds.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

WRAPPER = pathlib.Path(__file__).resolve().parent / "codemagic_asc.py"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def run_asc(crabapple, *args: str, key: dict | None = None, json_out: bool = True, check: bool = True):
    """Runs the CLI; its JSON (or text) output, or with `check=False` the finished process."""
    key = key or crabapple.admin_key
    env = dict(os.environ)
    env.update(
        ASC_BASE_URL=crabapple.client_url,
        APP_STORE_CONNECT_ISSUER_ID=key["issuerId"],
        APP_STORE_CONNECT_KEY_IDENTIFIER=key["keyId"],
        APP_STORE_CONNECT_PRIVATE_KEY=key["privateKey"],
        NO_COLOR="1",
    )
    argv = [sys.executable, str(WRAPPER), *args, "--disable-jwt-cache", "--no-color", "--verbose"]
    if json_out:
        argv.append("--json")
    p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=180, check=False)
    if not check:
        return p
    if p.returncode != 0:
        log = ANSI.sub("", p.stderr)
        raise AssertionError(
            f"`app-store-connect {' '.join(args)}` exited {p.returncode}\n"
            f"stdout:\n{p.stdout[-3000:]}\nstderr:\n{log[-6000:]}"
        )
    if not json_out:
        return ANSI.sub("", p.stdout)
    return json.loads(p.stdout)


def ids(items) -> list[str]:
    return sorted(i["id"] for i in items)


def test_apps_list(crabapple, apps):
    out = run_asc(crabapple, "apps", "list")
    assert ids(out) == ids(apps)
    by_id = {a["id"]: a for a in apps}
    for item in out:
        assert item["type"] == "apps"
        assert item["attributes"]["name"] == by_id[item["id"]]["attributes"]["name"]
        assert item["attributes"]["bundleId"] == by_id[item["id"]]["attributes"]["bundleId"]
        assert item["links"]["self"].endswith(f"/v1/apps/{item['id']}")


def test_apps_list_by_bundle_id(crabapple, app):
    bundle = app["attributes"]["bundleId"]
    out = run_asc(crabapple, "apps", "list", "--bundle-id-identifier", bundle, "--strict-match-identifier")
    assert [i["id"] for i in out] == [app["id"]]


def test_apps_get(crabapple, app):
    out = run_asc(crabapple, "apps", "get", app["id"])
    assert out["id"] == app["id"]
    assert out["attributes"]["bundleId"] == app["attributes"]["bundleId"]
    assert out["attributes"]["sku"] == app["attributes"]["sku"]


def test_builds_list(crabapple):
    want = crabapple.get_all("/v1/builds?limit=200")
    out = run_asc(crabapple, "builds", "list")
    assert ids(out) == ids(want)
    by_id = {b["id"]: b for b in want}
    for b in out:
        assert b["attributes"]["version"] == by_id[b["id"]]["attributes"]["version"]


def test_app_builds(crabapple, app):
    want = crabapple.get_all(f"/v1/builds?filter[app]={app['id']}&limit=200")
    out = run_asc(crabapple, "apps", "builds", app["id"])
    assert ids(out) == ids(want)


def test_bundle_ids_list(crabapple):
    want = crabapple.get_all("/v1/bundleIds?limit=200")
    assert want, "the demo world has no bundle ids"
    out = run_asc(crabapple, "bundle-ids", "list")
    assert ids(out) == ids(want)
    by_id = {b["id"]: b for b in want}
    for b in out:
        assert b["attributes"]["identifier"] == by_id[b["id"]]["attributes"]["identifier"]
        assert b["attributes"]["platform"] == by_id[b["id"]]["attributes"]["platform"]


def test_certificates_list(crabapple):
    want = crabapple.get_all("/v1/certificates?limit=200")
    assert want, "the demo world has no certificates"
    out = run_asc(crabapple, "certificates", "list")
    assert ids(out) == ids(want)
    # The text form decodes certificateContent as DER and prints the subject's common name:
    # real Apple content parses, so crabapple's must too.
    text = run_asc(crabapple, "certificates", "list", json_out=False)
    names = re.findall(r"Common name: (.*)", text)
    assert len(names) == len(want), text[-2000:]
    assert all(n.strip() and n.strip() != "N/A" for n in names), names


def test_create_bundle_id_then_list_and_delete(crabapple, unique):
    identifier = f"com.crabapple.codemagic.t{unique}"
    created = run_asc(
        crabapple, "bundle-ids", "create", identifier, "--name", f"Codemagic {unique}", "--platform", "IOS"
    )
    assert created["type"] == "bundleIds"
    assert created["attributes"]["identifier"] == identifier
    assert created["attributes"]["name"] == f"Codemagic {unique}"
    assert created["attributes"]["platform"] == "IOS"
    bid = created["id"]

    listed = run_asc(
        crabapple, "bundle-ids", "list", "--bundle-id-identifier", identifier, "--strict-match-identifier"
    )
    assert [b["id"] for b in listed] == [bid]

    r = crabapple.get(f"/v1/bundleIds/{bid}")
    assert r.status_code == 200, r.text
    assert r.json()["data"]["attributes"]["identifier"] == identifier

    run_asc(crabapple, "bundle-ids", "delete", bid, json_out=False)
    r = crabapple.get(f"/v1/bundleIds/{bid}")
    assert r.status_code == 404, r.text
    assert r.json()["errors"][0]["code"] == "NOT_FOUND"


@pytest.mark.parametrize("roles", ["DEVELOPER"])
def test_non_admin_team_key_lists_apps(crabapple, apps, roles):
    """A team key with a lesser role still sees every app (team keys are not app-scoped)."""
    key = crabapple.create_key("--role", roles)
    out = run_asc(crabapple, "apps", "list", key=key)
    assert ids(out) == ids(apps)
