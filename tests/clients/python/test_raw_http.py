"""Raw HTTP checks (requests) for what the clients can't show: exact bodies, headers, paging.

Expected Apple behaviour is from docs/apple-semantics.md §1 (bodies quoted there).
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

# apple-semantics.md §1.5: Apple's 401, byte for byte. Real responses also carry an `id` (a UUID)
# as the first member of the error object; crabapple may add it, nothing else may differ.
NOT_AUTHORIZED = (
    '{"errors":[{"status":"401","code":"NOT_AUTHORIZED","title":"Authentication credentials are '
    'missing or invalid.","detail":"Provide a properly configured and signed bearer token, and make '
    "sure that it has not expired. Learn more about Generating Tokens for API Requests "
    'https://developer.apple.com/go/?id=api-generating-tokens"}]}'
)
UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
NOT_AUTHORIZED_RE = re.compile(
    "^" + re.escape('{"errors":[{') + f'(?:"id":"{UUID}",)?' + re.escape(NOT_AUTHORIZED[len('{"errors":[{'):]) + "$"
)
RATE_LIMIT_RE = re.compile(r"^user-hour-lim:(\d+);user-hour-rem:(\d+);$")


def other_key_pem() -> str:
    k = ec.generate_private_key(ec.SECP256R1())
    return k.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def error(r: requests.Response) -> dict:
    assert r.headers.get("Content-Type") == "application/json", r.headers
    doc = r.json()
    assert isinstance(doc.get("errors"), list) and len(doc["errors"]) >= 1, doc
    e = doc["errors"][0]
    assert e["status"] == str(r.status_code), e
    return e


# ------------------------------------------------------------------------------------ 401
def bad_tokens(ca):
    k = ca.admin_key
    wrong_sig = dict(k, privateKey=other_key_pem())
    now = int(time.time())
    return {
        "garbage": "not-a-jwt",
        "expired": ca.token(iat=now - 3600, exp=now - 60),
        "wrong-signature": ca.token(wrong_sig),
        "unknown-kid": ca.token(headers={"kid": "ZZZZZZZZZZ"}),
        "wrong-aud": ca.token(aud="appstoreconnect-v2"),
        "lifetime-over-20-min": ca.token(ttl=3600),
        "wrong-issuer": ca.token(iss="00000000-0000-0000-0000-000000000000"),
        "scope-mismatch": ca.token(scope=["GET /v1/bundleIds"]),
    }


BAD = ["missing-header", "garbage", "expired", "wrong-signature", "unknown-kid", "wrong-aud",
       "lifetime-over-20-min", "wrong-issuer", "scope-mismatch"]


@pytest.mark.parametrize("kind", BAD)
def test_401_body_is_apples_exact_bytes(crabapple, kind):
    if kind == "missing-header":
        r = crabapple.get("/v1/apps", auth=False)
    else:
        r = crabapple.get("/v1/apps", token=bad_tokens(crabapple)[kind])
    assert r.status_code == 401, r.text
    assert r.headers.get("Content-Type") == "application/json"
    assert NOT_AUTHORIZED_RE.match(r.text), f"body differs from Apple's:\n{r.text}\nwant:\n{NOT_AUTHORIZED}"
    assert r.headers.get("X-Crabapple-Reason"), "every 4xx carries X-Crabapple-Reason"


@pytest.mark.parametrize(
    "variant",
    ["no-iat", "no-typ", "exp-19-min"],
)
def test_lenient_tokens_accepted(crabapple, variant):
    """Clients omit iat (codemagic, applaud) or typ (spaceship); Apple accepts both (§1.1, clients.md §3.1)."""
    if variant == "no-iat":
        t = crabapple.token(drop=("iat",))
    elif variant == "no-typ":
        t = crabapple.token(headers={"typ": None})  # PyJWT drops a typ of None
        assert "typ" not in jwt.get_unverified_header(t)
    else:
        t = crabapple.token(ttl=19 * 60)
    r = crabapple.get("/v1/apps", token=t)
    assert r.status_code == 200, r.text


def test_individual_key_token_sub_user(crabapple):
    key = crabapple.create_key("--individual", "--role", "ADMIN")
    t = crabapple.token(key)
    r = crabapple.get("/v1/apps", token=t)
    assert r.status_code == 200, r.text
    # Individual keys can't use Provisioning endpoints (apple-semantics.md §1.2, §1.7).
    r = crabapple.get("/v1/bundleIds", token=t)
    assert r.status_code == 403, r.text
    assert error(r)["code"] == "FORBIDDEN_ERROR"
    assert r.headers.get("X-Crabapple-Reason")


def test_scoped_token_from_cli(crabapple):
    """`crabapple token --scope`: allowed for the scoped path, 401 elsewhere (§1.4)."""
    t = crabapple.cli("token", "--data", crabapple.data, "--scope", "GET /v1/apps").strip()
    assert crabapple.get("/v1/apps", token=t).status_code == 200
    # limit, cursor and sort are ignored when matching the scope.
    assert crabapple.get("/v1/apps?limit=1&sort=name", token=t).status_code == 200
    r = crabapple.get("/v1/bundleIds", token=t)
    assert r.status_code == 401
    assert NOT_AUTHORIZED_RE.match(r.text), r.text


def test_cli_token_works(crabapple):
    t = crabapple.cli("token", "--data", crabapple.data).strip()
    assert crabapple.get("/v1/apps", token=t).status_code == 200


# ------------------------------------------------------------------------ headers
def test_rate_limit_header(crabapple):
    t = crabapple.token()
    r1 = crabapple.get("/v1/apps?limit=1", token=t)
    r2 = crabapple.get("/v1/apps?limit=1", token=t)
    m1 = RATE_LIMIT_RE.match(r1.headers.get("X-Rate-Limit", ""))
    m2 = RATE_LIMIT_RE.match(r2.headers.get("X-Rate-Limit", ""))
    assert m1 and m2, (r1.headers.get("X-Rate-Limit"), r2.headers.get("X-Rate-Limit"))
    assert int(m1.group(1)) == int(m2.group(1)) > 0
    assert int(m2.group(2)) < int(m1.group(2)) <= int(m1.group(1))
    # Also on errors that reach a key (an unknown path, a bad parameter).
    r3 = crabapple.get("/v1/bananas", token=t)
    assert RATE_LIMIT_RE.match(r3.headers.get("X-Rate-Limit", "")), r3.headers


@pytest.mark.parametrize(
    "path,status",
    [
        ("/v1/apps", 200),
        ("/v1/bundleIds?limit=1", 200),
        ("/v1/bananas", 404),
        ("/v1/apps/nope-not-an-app", 404),
        ("/v1/certificates?filter[certificateType]=NOPE", 400),
        ("/v1/appPreviewSets", 403),
    ],
)
def test_content_type_exactly_application_json(crabapple, path, status):
    r = crabapple.get(path)
    assert r.status_code == status, r.text
    assert r.headers.get("Content-Type") == "application/json"
    if status >= 400:
        assert r.headers.get("X-Crabapple-Reason")


def test_links_self_on_document_and_resources(crabapple, app):
    for path in ("/v1/apps?limit=5", f"/v1/apps/{app['id']}", "/v1/bundleIds?limit=5"):
        doc = crabapple.get(path).json()
        assert doc["links"]["self"].startswith(crabapple.base_url + "/v1/"), doc["links"]
        items = doc["data"] if isinstance(doc["data"], list) else [doc["data"]]
        for it in items:
            assert it["links"]["self"] == f"{crabapple.base_url}/v1/{it['type']}/{it['id']}"


# ------------------------------------------------------------------------- errors
def test_404_path_error(crabapple):
    r = crabapple.get("/v1/bananas")
    assert r.status_code == 404
    e = error(r)
    assert e["code"] == "PATH_ERROR"
    assert r.headers.get("X-Crabapple-Reason")


def test_404_unknown_id(crabapple):
    r = crabapple.get("/v1/apps/nope-not-an-app")
    assert r.status_code == 404
    assert error(r)["code"] == "NOT_FOUND"


def test_403_operation_not_allowed(crabapple):
    r = crabapple.get("/v1/appPreviewSets")
    assert r.status_code == 403, r.text
    e = error(r)
    assert e["code"] == "FORBIDDEN_ERROR"
    assert "does not allow 'GET_COLLECTION'" in e["detail"], e
    # fastlane#19788 quotes Apple's text; the allowed list comes from the spec's operations.
    assert e["detail"] == (
        "The resource 'appPreviewSets' does not allow 'GET_COLLECTION'. "
        "Allowed operations are: GET_INSTANCE, CREATE, DELETE"
    ), e
    assert r.headers.get("X-Crabapple-Reason")


def test_400_invalid_filter_value(crabapple):
    r = crabapple.get("/v1/certificates?filter[certificateType]=NOPE")
    assert r.status_code == 400, r.text
    e = error(r)
    assert e["code"] == "PARAMETER_ERROR.INVALID"
    assert e["source"] == {"parameter": "filter[certificateType]"}
    assert e["detail"].startswith("'NOPE' is not a valid filter value"), e
    assert "IOS_DEVELOPMENT" in e["detail"]
    assert r.headers.get("X-Crabapple-Reason")


def test_400_limit_over_maximum(crabapple):
    r = crabapple.get("/v1/apps?limit=201")
    assert r.status_code == 400, r.text
    e = error(r)
    assert e["code"].startswith("PARAMETER_ERROR")
    assert e["source"] == {"parameter": "limit"}


def test_400_unknown_parameter(crabapple):
    r = crabapple.get("/v1/apps?filter[bananas]=1")
    assert r.status_code == 400, r.text
    e = error(r)
    assert e["code"] == "PARAMETER_ERROR.ILLEGAL"
    assert e["source"] == {"parameter": "filter[bananas]"}


# ------------------------------------------------------------------------- paging
def test_paging_follows_absolute_next_to_the_end(crabapple, apps, unique):
    """GET /v1/apps?limit=1, follow links.next: every app exactly once, absolute links, meta.paging."""
    made = []
    try:
        for i in range(max(0, 3 - len(apps))):  # make sure there are at least 3 pages
            r = crabapple.admin(
                "POST", "/resources/apps",
                json={"attributes": {"name": f"Paging {unique} {i}", "bundleId": f"com.crabapple.paging.t{unique}{i}",
                                     "sku": f"PAGING{unique}{i}", "primaryLocale": "en-US"}},
            )
            assert r.status_code == 201, r.text
            made.append(r.json()["data"]["id"])
        everything = crabapple.get_all("/v1/apps?limit=200")
        seen: list[str] = []
        url = "/v1/apps?limit=1"
        pages = 0
        while url:
            r = crabapple.get(url)
            assert r.status_code == 200, r.text
            doc = r.json()
            pages += 1
            assert len(doc["data"]) <= 1
            seen.extend(d["id"] for d in doc["data"])
            assert doc["meta"]["paging"]["limit"] == 1
            assert doc["meta"]["paging"]["total"] == len(everything)
            assert doc["links"]["self"].startswith(crabapple.base_url)
            url = doc["links"].get("next")
            if url:
                assert url.startswith(crabapple.base_url + "/v1/apps?"), url
                q = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
                assert q.get("limit") == ["1"], url
            assert pages <= len(everything) + 1, "links.next never ends"
        assert sorted(seen) == sorted(d["id"] for d in everything)
        assert len(seen) == len(set(seen)), "an app was seen twice"
        assert pages == len(everything)
    finally:
        for i in made:
            crabapple.admin("DELETE", f"/resources/apps/{i}")


# ------------------------------------------------------------------------- writes
def test_post_creates_201_with_location(crabapple, unique):
    body = {
        "data": {
            "type": "bundleIds",
            "attributes": {"identifier": f"com.crabapple.raw.t{unique}", "name": f"Raw {unique}", "platform": "IOS"},
        }
    }
    r = crabapple.request("POST", "/v1/bundleIds", json=body)
    assert r.status_code == 201, r.text
    assert r.headers.get("Content-Type") == "application/json"
    doc = r.json()
    new_id = doc["data"]["id"]
    assert doc["data"]["type"] == "bundleIds"
    assert doc["data"]["attributes"]["identifier"] == f"com.crabapple.raw.t{unique}"
    loc = r.headers.get("Location")
    assert loc == f"{crabapple.base_url}/v1/bundleIds/{new_id}", loc
    assert doc["data"]["links"]["self"] == loc
    g = crabapple.get(loc)
    assert g.status_code == 200 and g.json()["data"]["id"] == new_id
    d = crabapple.request("DELETE", f"/v1/bundleIds/{new_id}")
    assert d.status_code == 204, d.text
    assert crabapple.get(loc).status_code == 404


def test_post_missing_required_attribute_409(crabapple):
    body = {"data": {"type": "bundleIds", "attributes": {"name": "No identifier", "platform": "IOS"}}}
    r = crabapple.request("POST", "/v1/bundleIds", json=body)
    assert r.status_code == 409, r.text
    e = error(r)
    assert e["code"].startswith("ENTITY_ERROR"), e
    assert r.headers.get("X-Crabapple-Reason")


def test_post_not_json_400(crabapple):
    r = crabapple.request("POST", "/v1/bundleIds", data=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code in (400, 422), r.text
    assert error(r)["code"] in ("ENTITY_INVALID", "ENTITY_UNPROCESSABLE")


# -------------------------------------------------------------------------- admin
def test_admin_status(crabapple):
    r = crabapple.admin("GET", "/status")
    assert r.status_code == 200
    doc = r.json()
    assert doc["resources"]["total"] > 0


def test_admin_created_build_is_visible(crabapple, app, unique):
    r = crabapple.admin(
        "POST", "/resources/builds",
        json={"attributes": {"version": f"9{int(unique, 16) % 100000}", "processingState": "VALID",
                             "expired": False, "minOsVersion": "17.0",
                             "uploadedDate": "2026-01-01T00:00:00.000+00:00",
                             "expirationDate": "2026-04-01T00:00:00.000+00:00"},
              "relationships": {"app": app["id"]}},
    )
    assert r.status_code == 201, r.text
    bid = r.json()["data"]["id"]
    try:
        g = crabapple.get(f"/v1/builds/{bid}")
        assert g.status_code == 200, g.text
        rel = crabapple.get(f"/v1/builds/{bid}/relationships/app").json()
        assert rel["data"] == {"type": "apps", "id": app["id"]}
        listed = crabapple.get_all(f"/v1/builds?filter[app]={app['id']}&limit=200")
        assert bid in [b["id"] for b in listed]
    finally:
        assert crabapple.admin("DELETE", f"/resources/builds/{bid}").status_code == 204
    assert crabapple.get(f"/v1/builds/{bid}").status_code == 404
