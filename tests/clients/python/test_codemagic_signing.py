"""codemagic-cli-tools' signing-file writes against crabapple: what people run to get code signing
going (bundle IDs and capabilities, device registration, certificates from a CSR the CLI makes
itself, provisioning profiles downloaded and parsed), and Apple's profile rules as the CLI reports
them (apple-semantics.md §8.2).

The CLI runs unmodified through codemagic_asc.py; the device status change, which the CLI has no
command for, goes through the CLI's own API client library.
"""

from __future__ import annotations

import base64
import pathlib
import re
import plistlib
import subprocess
import uuid

import pytest
from codemagic.apple.app_store_connect import AppStoreConnectApiClient
from codemagic.apple.app_store_connect.type_declarations import IssuerId, KeyIdentifier
from codemagic.apple.resources import DeviceStatus
from codemagic.models import ProvisioningProfile
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from test_codemagic import ANSI, run_asc


def new_udid() -> str:
    return (uuid.uuid4().hex + uuid.uuid4().hex)[:40]


def rsa_key_file(tmp_path: pathlib.Path) -> pathlib.Path:
    """The certificate key codemagic makes its CSR from (Apple takes RSA 2048 CSRs)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "certificate.key"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return path


def api_client(crabapple) -> AppStoreConnectApiClient:
    """codemagic's own API client library, pointed at crabapple."""
    key = crabapple.admin_key
    client = AppStoreConnectApiClient(
        KeyIdentifier(key["keyId"]), IssuerId(key["issuerId"]), key["privateKey"]
    )
    client.API_URL = crabapple.client_url + "/v1"
    return client


def first(items):
    return items[0] if isinstance(items, list) else items


def openssl_plist(path: pathlib.Path) -> dict:
    """The profile's property list as codemagic reads it (`openssl smime -verify -noverify`)."""
    out = subprocess.run(
        ["openssl", "smime", "-inform", "der", "-verify", "-noverify", "-in", str(path)],
        capture_output=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr.decode()
    return plistlib.loads(out.stdout)


def cli_error(p: subprocess.CompletedProcess) -> str:
    assert p.returncode != 0, f"expected a failure, got:\n{p.stdout[-2000:]}"
    return ANSI.sub("", p.stderr + p.stdout)


@pytest.fixture
def team_seed(crabapple) -> str:
    """The team's App ID prefix, as its existing bundle IDs carry it."""
    seeds = {b["attributes"]["seedId"] for b in crabapple.get_all("/v1/bundleIds?limit=200")}
    assert len(seeds) == 1, seeds
    return seeds.pop()


def demo_certificate(crabapple, ty: str) -> str:
    certs = crabapple.get_all(f"/v1/certificates?filter[certificateType]={ty}&limit=200")
    assert certs, f"the demo world has no {ty} certificate"
    return certs[0]["id"]


def enabled_iphone(crabapple) -> dict:
    for d in crabapple.get_all("/v1/devices?filter[status]=ENABLED&filter[platform]=IOS&limit=200"):
        if d["attributes"]["deviceClass"] == "IPHONE":
            return d
    raise AssertionError("the demo world has no enabled iPhone")


def test_signing_files_bundle_id_certificate_device_profile(crabapple, unique, tmp_path, team_seed):
    # Bundle ID with a capability: the team's App ID prefix, the capability listed back.
    identifier = f"com.crabapple.signing.t{unique}"
    bundle = run_asc(crabapple, "bundle-ids", "create", identifier, "--name", f"Signing {unique}",
                     "--platform", "IOS")
    bid = bundle["id"]
    assert bundle["attributes"]["seedId"] == team_seed
    run_asc(crabapple, "bundle-ids", "enable-capabilities", bid, "--capability", "Push Notifications",
            json_out=False)
    caps = run_asc(crabapple, "bundle-ids", "capabilities", bid)
    assert "PUSH_NOTIFICATIONS" in {c["attributes"]["capabilityType"] for c in caps}, caps

    # A device to develop on.
    udid = new_udid()
    device = first(run_asc(crabapple, "devices", "register", "--name", f"Signing iPhone {unique}",
                           "--udid", udid, "--platform", "IOS"))
    assert device["attributes"]["udid"] == udid
    assert device["attributes"]["status"] == "ENABLED"

    # A certificate for the CSR codemagic makes from its key; --save exports key + certificate
    # as a .p12 with openssl, which only works when the certificate carries the CSR's key.
    p12 = tmp_path / "development.p12"
    cert = run_asc(crabapple, "certificates", "create", "--type", "IOS_DEVELOPMENT",
                   "--certificate-key", f"@file:{rsa_key_file(tmp_path)}", "--save", "--p12-path", str(p12))
    assert cert["attributes"]["certificateType"] == "IOS_DEVELOPMENT"
    assert p12.stat().st_size > 0
    # Apple's names for a development certificate made through the API (§8.2, certs.rs).
    assert cert["attributes"]["name"] == "iPhone Developer: Created via API"
    assert cert["attributes"]["displayName"] == "Created via API"

    # The profile: created, saved to disk, parsed as Apple's.
    name = f"Signing Dev {unique}"
    profiles_dir = tmp_path / "profiles"
    profile = run_asc(crabapple, "profiles", "create", bid, "--certificate-ids", cert["id"],
                      "--device-ids", device["id"], "--type", "IOS_APP_DEVELOPMENT", "--name", name,
                      "--save", "--profiles-dir", str(profiles_dir))
    assert profile["attributes"]["profileType"] == "IOS_APP_DEVELOPMENT"
    assert profile["attributes"]["profileState"] == "ACTIVE"
    saved = list(profiles_dir.iterdir())
    assert len(saved) == 1 and saved[0].suffix == ".mobileprovision", saved

    plist = openssl_plist(saved[0])
    assert plist["Name"] == name
    assert plist["UUID"] == profile["attributes"]["uuid"]
    assert plist["AppIDName"] == f"Signing {unique}"
    assert plist["ApplicationIdentifierPrefix"] == [team_seed]
    assert plist["TeamIdentifier"] == [team_seed]
    assert plist["Entitlements"]["application-identifier"] == f"{team_seed}.{identifier}"
    assert plist["Entitlements"]["com.apple.developer.team-identifier"] == team_seed
    assert plist["Entitlements"]["get-task-allow"] is True
    assert plist["ProvisionedDevices"] == [udid]
    assert plist["DeveloperCertificates"] == [base64.b64decode(cert["attributes"]["certificateContent"])]
    assert plist["ExpirationDate"] > plist["CreationDate"]
    assert plist["Version"] == 1

    # codemagic's own profile model (what `xcode-project use-profiles` reads).
    parsed = ProvisioningProfile.from_path(saved[0])
    assert parsed.uuid == profile["attributes"]["uuid"]
    assert parsed.bundle_id == identifier
    assert parsed.team_identifier == team_seed
    assert parsed.provisioned_devices == [udid]

    # Listed and downloaded again.
    listed = run_asc(crabapple, "profiles", "list", "--name", name)
    assert [p["id"] for p in listed] == [profile["id"]]
    got = run_asc(crabapple, "profiles", "get", profile["id"])
    assert got["attributes"]["profileContent"] == profile["attributes"]["profileContent"]
    assert [p["id"] for p in run_asc(crabapple, "bundle-ids", "profiles", "--bundle-ids", bid)] == [profile["id"]]

    # Revoking the certificate invalidates the profile that holds it.
    run_asc(crabapple, "certificates", "delete", cert["id"], json_out=False)
    assert crabapple.get(f"/v1/certificates/{cert['id']}").status_code == 404
    assert run_asc(crabapple, "profiles", "get", profile["id"])["attributes"]["profileState"] == "INVALID"
    invalid = run_asc(crabapple, "profiles", "list", "--name", name, "--state", "INVALID")
    assert [p["id"] for p in invalid] == [profile["id"]]

    run_asc(crabapple, "profiles", "delete", profile["id"], json_out=False)
    assert crabapple.get(f"/v1/profiles/{profile['id']}").status_code == 404
    run_asc(crabapple, "bundle-ids", "delete", bid, json_out=False)


def test_app_store_profile_has_no_devices_and_a_distribution_certificate(crabapple, unique, tmp_path, app,
                                                                         team_seed):
    bid = crabapple.get_all(
        f"/v1/bundleIds?filter[identifier]={app['attributes']['bundleId']}&limit=200"
    )[0]["id"]
    dist = demo_certificate(crabapple, "DISTRIBUTION")
    profiles_dir = tmp_path / "profiles"
    profile = run_asc(crabapple, "profiles", "create", bid, "--certificate-ids", dist,
                      "--type", "IOS_APP_STORE", "--name", f"Store {unique}",
                      "--save", "--profiles-dir", str(profiles_dir))
    (saved,) = profiles_dir.iterdir()
    plist = openssl_plist(saved)
    assert "ProvisionedDevices" not in plist
    assert plist["Entitlements"]["get-task-allow"] is False
    assert plist["Entitlements"]["application-identifier"] == f"{team_seed}.{app['attributes']['bundleId']}"
    run_asc(crabapple, "profiles", "delete", profile["id"], json_out=False)


def test_devices_register_list_and_disable(crabapple, unique, app):
    udid = new_udid()
    name = f"Disable Me {unique}"
    device = first(run_asc(crabapple, "devices", "register", "--name", name, "--udid", udid,
                           "--platform", "IOS"))
    listed = run_asc(crabapple, "devices", "list", "--name", name)
    assert [(d["id"], d["attributes"]["status"]) for d in listed] == [(device["id"], "ENABLED")]

    # The same UDID again: Apple's error, reported by the CLI.
    again = run_asc(crabapple, "devices", "register", "--name", f"{name} again", "--udid", udid,
                    "--platform", "IOS", check=False)
    assert f"A device with number '{udid}' already exists on this team." in cli_error(again)

    disabled = api_client(crabapple).devices.modify(device["id"], status=DeviceStatus.DISABLED)
    assert disabled.attributes.status is DeviceStatus.DISABLED
    listed = run_asc(crabapple, "devices", "list", "--name", name, "--status", "DISABLED")
    assert [d["id"] for d in listed] == [device["id"]]
    assert run_asc(crabapple, "devices", "list", "--name", name, "--status", "ENABLED") == []

    # A development profile with only that disabled device: Apple's refusal, as the CLI shows it.
    bid = crabapple.get_all(
        f"/v1/bundleIds?filter[identifier]={app['attributes']['bundleId']}&limit=200"
    )[0]["id"]
    p = run_asc(crabapple, "profiles", "create", bid, "--certificate-ids",
                demo_certificate(crabapple, "DEVELOPMENT"), "--device-ids", device["id"],
                "--type", "IOS_APP_DEVELOPMENT", "--name", f"Disabled {unique}", check=False)
    assert "There are no current IOS devices on this team matching the provided device IDs." in cli_error(p)


def test_profile_with_a_certificate_of_the_wrong_type_is_refused(crabapple, unique, app):
    bid = crabapple.get_all(
        f"/v1/bundleIds?filter[identifier]={app['attributes']['bundleId']}&limit=200"
    )[0]["id"]
    p = run_asc(crabapple, "profiles", "create", bid, "--certificate-ids",
                demo_certificate(crabapple, "DISTRIBUTION"), "--device-ids", enabled_iphone(crabapple)["id"],
                "--type", "IOS_APP_DEVELOPMENT", "--name", f"Wrong cert {unique}", check=False)
    err = cli_error(p)
    assert "returned 409" in err, err[-2000:]
    assert "There are no current certificates on this team matching the provided certificate IDs." in err
    assert crabapple.get_all(f"/v1/profiles?filter[name]=Wrong cert {unique}&limit=200") == []


@pytest.mark.parametrize("profile_type, cert_type, devices", [
    ("IOS_APP_DEVELOPMENT", "IOS_DEVELOPMENT", True),
    ("IOS_APP_STORE", "DISTRIBUTION", False),
])
def test_fetch_signing_files_creates_then_reuses(crabapple, tmp_path, app, team_seed, profile_type, cert_type,
                                                 devices):
    """`fetch-signing-files --create`, what CI runs: a certificate for the CLI's key and a profile
    are made once; the second run finds both (the certificate carries the key's public half)."""
    identifier = app["attributes"]["bundleId"]
    key = rsa_key_file(tmp_path)
    args = ("fetch-signing-files", identifier, "--type", profile_type, "--create", "--strict-match-identifier",
            "--certificate-key", f"@file:{key}", "--certificates-dir", str(tmp_path / "certs"),
            "--profiles-dir", str(tmp_path / "profiles"), "--log-stream", "stdout")
    out = run_asc(crabapple, *args, json_out=False)
    (cert_id,) = re.findall(r"Created Signing Certificate (\w+)", out)
    (profile_id,) = re.findall(r"Created Profile (\w+)", out)
    cert = crabapple.get(f"/v1/certificates/{cert_id}").json()["data"]
    assert cert["attributes"]["certificateType"] == cert_type

    try:
        (p12,) = (tmp_path / "certs").iterdir()
        assert p12.suffix == ".p12"
        (saved,) = (tmp_path / "profiles").iterdir()
        plist = openssl_plist(saved)
        assert plist["Entitlements"]["application-identifier"] == f"{team_seed}.{identifier}"
        assert base64.b64decode(cert["attributes"]["certificateContent"]) in plist["DeveloperCertificates"]
        if devices:
            # Every enabled iPhone and iPad of the team (codemagic leaves out Apple TVs).
            want = {d["attributes"]["udid"]
                    for d in crabapple.get_all("/v1/devices?filter[status]=ENABLED&filter[platform]=IOS&limit=200")
                    if d["attributes"]["deviceClass"] in ("IPHONE", "IPAD", "IPOD")}
            assert want and set(plist["ProvisionedDevices"]) == want
        else:
            assert "ProvisionedDevices" not in plist

        again = run_asc(crabapple, *args, json_out=False)
        # Nothing new (the certificate's own name, "iPhone Developer: Created via API", does not count).
        assert not re.search(r"Created (Signing Certificate|Profile) ", again), again[-3000:]
        assert profile_id in again
    finally:
        run_asc(crabapple, "profiles", "delete", profile_id, json_out=False)
        run_asc(crabapple, "certificates", "delete", cert_id, json_out=False)
