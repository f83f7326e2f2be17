"""Issue 13: Apple's Python App Store Server Library, unmodified and not even given a base URL,
reaches crabapple through its proxy for Apple's hosts (HTTPS_PROXY, REQUESTS_CA_BUNDLE): the host
name the library picks for its Environment chooses the environment, as Apple's hosts do —
api.storekit.itunes.apple.com is production, api.storekit-sandbox.itunes.apple.com the sandbox.

Needs CRABAPPLE_PROXY_URL and CRABAPPLE_CA_FILE (scripts/test.sh starts crabapple with --proxy).
"""

import os
import warnings

import pytest
from appstoreserverlibrary.api_client import APIError, APIException, AppStoreServerAPIClient
from appstoreserverlibrary.models.Environment import Environment

from conftest import event

warnings.filterwarnings("ignore", category=DeprecationWarning)


@pytest.fixture
def apple_hosts(monkeypatch):
    proxy, ca = os.environ.get("CRABAPPLE_PROXY_URL"), os.environ.get("CRABAPPLE_CA_FILE")
    assert proxy and ca, "set CRABAPPLE_PROXY_URL and CRABAPPLE_CA_FILE (scripts/test.sh does)"
    monkeypatch.setenv("HTTPS_PROXY", proxy)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)


def client(w, env):
    # No `_base_url` override: the library talks to Apple's host for `env`.
    return AppStoreServerAPIClient(w.key_pem, w.key_id, w.issuer, w.bundle, env)


@pytest.mark.parametrize("env", [Environment.PRODUCTION, Environment.SANDBOX])
def test_apples_host_names_choose_the_environment_through_the_proxy(world, apple_hosts, env):
    here = "production" if env == Environment.PRODUCTION else "sandbox"
    there = "sandbox" if here == "production" else "production"
    mine = event("purchase", bundleId=world.bundle, productId=world.gems, customer=f"hosts-{here}",
                 environment=here)
    other = event("purchase", bundleId=world.bundle, productId=world.gems, customer=f"hosts-{there}",
                  environment=there)
    c = client(world, env)
    assert c._base_url.startswith("https://api.storekit"), c._base_url
    r = c.get_transaction_info(mine["transactionId"])
    assert r.signedTransactionInfo
    with pytest.raises(APIException) as e:
        c.get_transaction_info(other["transactionId"])
    assert (e.value.http_status_code, e.value.api_error) == (404, APIError.TRANSACTION_ID_NOT_FOUND)
