"""Issue 13, faults on demand: a client's retry logic exercised against each fault kind, the way
users write it (requests + urllib3's Retry, honouring Retry-After), and the faults disarmed
afterwards. Faults are armed through the admin API (`POST /crabapple/admin/faults`)."""

from __future__ import annotations

import subprocess
import time

import pytest
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry


def retrying(total: int) -> requests.Session:
    s = requests.Session()
    retry = Retry(total=total, connect=total, read=total, status=total, backoff_factor=0,
                  status_forcelist=(429, 500, 503), allowed_methods=None,
                  respect_retry_after_header=True, raise_on_status=False)
    s.mount("http://", HTTPAdapter(max_retries=retry))
    return s


@pytest.fixture
def faults(crabapple):
    def arm(**fault):
        r = crabapple.admin("POST", "/faults", json=fault)
        assert r.status_code == 201, r.text
        return r.json()
    yield arm
    assert crabapple.admin("DELETE", "/faults").status_code == 204
    assert crabapple.get("/v1/apps?limit=1").status_code == 200, "disarmed: normal answers again"


@pytest.mark.parametrize("status", [500, 503, 429])
def test_retry_logic_rides_out_a_counted_status_fault(crabapple, faults, status):
    f = faults(route="GET /v1/apps", kind="status", status=status, retryAfter=1, count=2)
    s = retrying(3)
    t = time.time()
    r = s.get(crabapple.url("/v1/apps"), headers={"Authorization": f"Bearer {crabapple.token()}"}, timeout=30)
    assert r.status_code == 200, r.text
    assert time.time() - t >= 2 * 0.9, "Retry-After: 1 was honoured twice"
    armed = {a["id"]: a for a in crabapple.admin("GET", "/faults").json()}
    assert (armed[f["id"]]["fired"], armed[f["id"]]["count"]) == (2, 0)


def test_without_retries_the_client_sees_apples_error_and_the_reason(crabapple, faults):
    faults(route="GET /v1/apps", kind="status", status=503, retryAfter=7, count=1)
    r = crabapple.get("/v1/apps")
    assert r.status_code == 503
    assert r.headers["Retry-After"] == "7"
    assert r.json()["errors"][0]["code"] == "SERVICE_UNAVAILABLE"
    assert r.headers["X-Crabapple-Reason"] == "injected fault f1 (status 503) on GET /v1/apps, 0 left"


def test_retry_logic_rides_out_a_dropped_connection(crabapple, faults):
    faults(route="GET /v1/apps", kind="drop", count=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(crabapple.url("/v1/apps"), headers={"Authorization": f"Bearer {crabapple.token()}"}, timeout=30)
    faults(route="GET /v1/apps", kind="drop", count=1)
    r = retrying(2).get(crabapple.url("/v1/apps"), headers={"Authorization": f"Bearer {crabapple.token()}"}, timeout=30)
    assert r.status_code == 200


def test_a_truncated_body_is_an_error_the_client_sees(crabapple, faults):
    faults(route="GET /v1/apps", kind="truncate", count=1)
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError)):
        requests.get(crabapple.url("/v1/apps"), headers={"Authorization": f"Bearer {crabapple.token()}"}, timeout=30).json()
    assert crabapple.get("/v1/apps").status_code == 200, "count spent"


def test_latency_is_added_and_a_client_timeout_fires(crabapple, faults):
    faults(route="GET /v1/apps", kind="latency", latencyMs=1500, count=1)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(crabapple.url("/v1/apps"), headers={"Authorization": f"Bearer {crabapple.token()}"}, timeout=0.5)


def test_the_cli_arms_what_the_running_server_injects(crabapple, faults):
    out = crabapple.cli("faults", "arm", "--data", crabapple.data, "--route", "GET /v1/builds", "--kind",
                        "status", "--status", "500", "--count", "1")
    assert '"route": "GET /v1/builds"' in out
    r = crabapple.get("/v1/builds?limit=1")
    assert r.status_code == 500 and r.json()["errors"][0]["code"] == "UNEXPECTED_ERROR"
    assert crabapple.get("/v1/builds?limit=1").status_code == 200
    listed = crabapple.cli("faults", "list", "--data", crabapple.data)
    assert '"fired": 1' in listed, listed
    crabapple.cli("faults", "disarm", "--all", "--data", crabapple.data)
