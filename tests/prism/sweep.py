#!/usr/bin/env python3
"""Conformance sweep: every GET operation of Apple's ASC OpenAPI spec, through Stoplight Prism's
validation proxy, against a running crabapple.

    python3 tests/prism/sweep.py --base http://127.0.0.1:PORT --data DIR

1. Discovers ids of the running world straight from crabapple: it lists every collection that
   needs no id, then follows the related-resource endpoints of every id it knows (breadth first,
   reading `data`, `included` and relationship linkage), and, for resource types the API walk did
   not reach, falls back to crabapple's admin listing (`GET /crabapple/admin/resources/{type}`).
2. Starts `prism proxy <spec> <base> --errors` (the pinned @stoplight/prism-cli in
   tests/prism/node_modules; `scripts/setup-clients.sh` installs it).
3. Calls every GET operation of the spec (from crates/spec/manifest.json, which lists the spec's
   operations with their kind, resource type and parameters) whose `{id}` it can fill with an id
   of the right resource type, and whose required query parameters it can fill (from the
   parameter's enum, with an id when the parameter filters by a relationship, or for the report
   downloads with the team's vendor number from `/crabapple/admin/status`), with only those
   parameters, and a valid token. (Prism's own request validation is off: it cannot match
   required `filter[...]` parameters, stoplightio/prism#2443.)
4. Reports every response Prism flags. With `--errors`, a response that violates the spec comes
   back as HTTP 500 `application/problem+json` of type `…/errors#VIOLATIONS` (its `validation`
   array lists each violation). Warnings arrive in the `sl-violations`
   header and are counted but do not fail the sweep. An upstream 5xx, or a response that Prism
   made up itself (it re-mocks when the upstream answers 501: detected by the missing
   `X-Rate-Limit` header crabapple puts on every API response), also fails the sweep.
   One deliberate exception: `{"data": null}` from a to-one GET with nothing related, which is
   what Apple sends although the spec declares `data` a required object (see empty_to_one()),
   and `null` for an attribute nobody has set yet that tests/prism/unset-on-create.tsv lists
   (see unset_nulls(); the demo world's build 131 has no export compliance answer).

5. Every operation that does not pass — a 4xx answer, an operation it cannot call (skipped), a
   violation — is a failure unless tests/prism/expectations.tsv explains it (expect.py); an
   expectation that no longer happens is stale, a failure too.

Exit status: 0 when nothing failed (or when Apple's spec or Prism is absent on a developer's
machine: the spec is read at run time from `shared/spec/` next to the repository and never
committed), 1 otherwise, 2 on a setup error or when the spec or Prism is missing while CI or
CRABAPPLE_REQUIRE_SPEC=1 is set.
Standard library only (any python3 >= 3.9).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter, OrderedDict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import expect  # noqa: E402  (tests/prism/expect.py: the shared expectation file)

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
PRISM_ERR = "https://stoplight.io/prism/errors#"


# ----------------------------------------------------------------------------- helpers
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Resp:
    def __init__(self, status: int, headers, body: bytes):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.body = body

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None


# The admin API's token, read from the data directory once its path is known (`setup`).
ADMIN_TOKEN: str | None = None


def read_admin_token(data: str) -> None:
    global ADMIN_TOKEN
    with open(os.path.join(data, "admin-token")) as f:
        ADMIN_TOKEN = f.read().strip()


def http(method: str, url: str, token: str | None, body=None, timeout: float = 120) -> Resp:
    """One request; `body` (a JSON value) is sent as application/json. Requests to the admin
    API carry its token."""
    # Not a real client: scripts/test.sh keeps `crabapple-tests/*` out of exercised-ops.txt.
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"User-Agent": "crabapple-tests/sweep"})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if "/crabapple/admin" in url and ADMIN_TOKEN:
        req.add_header("X-Crabapple-Admin-Token", ADMIN_TOKEN)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return Resp(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        return Resp(e.code, e.headers, e.read())


def http_get(url: str, token: str | None, timeout: float = 120) -> Resp:
    return http("GET", url, token, timeout=timeout)


class Tokens:
    """Tokens from `crabapple token` (at most 20 min: re-minted every 10)."""

    def __init__(self, bin_path: str, data: str):
        self.bin, self.data = bin_path, data
        self._tok, self._at = None, 0.0

    def get(self) -> str:
        if self._tok is None or time.time() - self._at > 600:
            out = subprocess.run(
                [self.bin, "token", "--data", self.data, "--ttl", "1200"],
                capture_output=True, text=True, timeout=60,
            )
            if out.returncode != 0:
                raise SystemExit(f"sweep: `crabapple token` failed: {out.stderr.strip()}")
            self._tok, self._at = out.stdout.strip(), time.time()
        return self._tok


# ---------------------------------------------------------------------------- discovery
class Ids:
    def __init__(self):
        self.by_type: dict[str, OrderedDict] = {}
        self.source: dict[str, str] = {}
        self.vendor_number: str | None = None

    def add(self, rtype, rid, source="api"):
        if not isinstance(rtype, str) or not isinstance(rid, str) or not rid:
            return False
        d = self.by_type.setdefault(rtype, OrderedDict())
        new_type = not d
        if rid not in d:
            d[rid] = True
        if new_type:
            self.source[rtype] = source
        return new_type

    def first(self, rtype):
        d = self.by_type.get(rtype)
        return next(iter(d)) if d else None

    def harvest(self, doc) -> int:
        """Record (type, id) of every resource object and linkage in a JSON:API document."""
        if not isinstance(doc, dict):
            return 0
        new = 0
        items = []
        data = doc.get("data")
        if isinstance(data, list):
            items.extend(data)
        elif isinstance(data, dict):
            items.append(data)
        inc = doc.get("included")
        if isinstance(inc, list):
            items.extend(inc)
        for it in items:
            if not isinstance(it, dict):
                continue
            new += self.add(it.get("type"), it.get("id"))
            rels = it.get("relationships")
            if isinstance(rels, dict):
                for rel in rels.values():
                    if not isinstance(rel, dict):
                        continue
                    ld = rel.get("data")
                    for x in ld if isinstance(ld, list) else [ld]:
                        if isinstance(x, dict):
                            new += self.add(x.get("type"), x.get("id"))
        return new


# Required parameters that are neither an enum nor an id: values a report download takes.
def special_value(name: str, ids: "Ids"):
    if name == "filter[vendorNumber]":
        return ids.vendor_number
    if name == "filter[regionCode]":
        return "ZZ"  # all regions (financial reports)
    if name == "filter[reportDate]":
        t = time.gmtime(time.time() - 45 * 86400)
        return f"{t.tm_year:04d}-{t.tm_mon:02d}"  # a finished fiscal month
    return None


def fill_required(op, manifest, ids: Ids):
    """Query params for the op's required params, or (None, reason)."""
    params = []
    target = op.get("target") or op.get("resource")
    rels = (manifest["resources"].get(target) or {}).get("relationships", {}) if target else {}
    for p in op.get("params", []):
        if not p.get("required"):
            continue
        name, schema = p["name"], p.get("schema") or {}
        enum = schema.get("enum") or (schema.get("items") or {}).get("enum")
        if enum:
            params.append((name, enum[0]))
            continue
        special = special_value(name, ids)
        if special:
            params.append((name, special))
            continue
        m = re.fullmatch(r"filter\[([A-Za-z0-9]+)\]", name)
        if m:
            field = m.group(1)
            rtype = None
            if field == "id":
                rtype = target
            elif field in rels and rels[field].get("target"):
                rtype = rels[field]["target"]
            elif field in manifest["resources"]:
                rtype = field
            rid = ids.first(rtype) if rtype else None
            if rid:
                params.append((name, rid))
                continue
            return None, f"required {name}: no id of {rtype or 'a known type'}"
        return None, f"required {name} has no enum to pick from"
    return params, None


def build_path(op, ids: Ids):
    path = op["path"]
    if "{id}" not in path:
        return path, None
    rtype = op.get("resource")
    rid = ids.first(rtype)
    if not rid:
        return None, f"no {rtype} id in the world"
    return path.replace("{id}", urllib.parse.quote(rid, safe="")), None


def admin_fallback(base, ids: Ids, needed) -> int:
    """Ids from crabapple's admin listing for the types in `needed` the API walk did not reach."""
    fallback = 0
    for rtype in sorted(t for t in needed if t and t not in ids.by_type):
        r = http_get(f"{base}/crabapple/admin/resources/{urllib.parse.quote(rtype)}?limit=5", None, 30)
        if r.status != 200:
            continue
        doc = r.json() or {}
        for it in (doc.get("data") or [])[:5]:
            if isinstance(it, dict) and ids.add(rtype, it.get("id"), source="admin"):
                fallback += 1
    return fallback


def discover(base, tokens, manifest, gets, log) -> Ids:
    ids = Ids()
    status = http_get(f"{base}/crabapple/admin/status", None, 30).json() or {}
    ids.vendor_number = ((status.get("team") or {}).get("vendorNumber")) or None
    called = set()
    rounds = 0
    while True:
        rounds += 1
        progress = 0
        for op in gets:
            # Metrics documents are no JSON:API resources: their `data` items carry made-up ids.
            if op["id"] in called or op["kind"] in ("getInstance", "getMetrics"):
                continue
            path, why = build_path(op, ids)
            if path is None:
                continue
            params, why = fill_required(op, manifest, ids)
            if params is None:
                continue
            called.add(op["id"])
            q = list(params)
            if any(p["name"] == "limit" for p in op.get("params", [])):
                q.append(("limit", "200" if "{id}" not in op["path"] else "50"))
            url = base + path + ("?" + urllib.parse.urlencode(q) if q else "")
            r = http_get(url, tokens.get())
            if r.status == 200:
                progress += ids.harvest(r.json())
        if progress == 0 or rounds > 20:
            break
    api_types = len(ids.by_type)
    fallback = admin_fallback(base, ids, {op.get("resource") for op in gets if "{id}" in op["path"]})
    log(f"sweep: discovery: {len(called)} API calls in {rounds} rounds found ids of {api_types} "
        f"resource types; the admin listing added {fallback} more")
    return ids


# -------------------------------------------------------------------------------- prism
def prism_bin() -> pathlib.Path:
    return HERE / "node_modules" / ".bin" / "prism"


def default_spec() -> pathlib.Path:
    return REPO.parent / "shared" / "spec" / "app-store-connect-openapi.json"


def missing_inputs(spec: pathlib.Path, name: str, log) -> int | None:
    """None when Apple's spec and Prism are there; else the exit status: 0 (nothing checked, said
    loudly) on a developer's machine, 2 when CI is set or CRABAPPLE_REQUIRE_SPEC=1, so that CI
    never passes a sweep that sent no request."""
    missing = []
    if not spec.exists():
        missing.append(f"Apple's spec is not at {spec} (it is read at run time from shared/spec next "
                       "to the repository and never committed)")
    if not prism_bin().exists():
        missing.append(f"Prism is not at {prism_bin()} (run scripts/setup-clients.sh)")
    if not missing:
        return None
    required = os.environ.get("CRABAPPLE_REQUIRE_SPEC") == "1" or os.environ.get("CI", "") not in ("", "0", "false")
    for m in missing:
        log(f"{name}: {'FAILED' if required else 'SKIPPED'}: {m}; nothing was checked")
    if required:
        log(f"{name}: CI / CRABAPPLE_REQUIRE_SPEC=1 require the spec and Prism: failing instead of passing with 0 requests")
        return 2
    return 0


def start_prism(spec, base, port, logfile, validate_request=False, errors=True):
    """`prism proxy` in front of crabapple. errors=True: a response that violates the spec comes
    back as Prism's 500 problem document; errors=False: the real response passes through and the
    violations are listed in its `sl-violations` header (the write sweep needs the real body)."""
    prism = prism_bin()
    if not prism.exists():
        raise SystemExit(f"sweep: {prism} missing: run scripts/setup-clients.sh")
    # --validate-request=false for the GET sweep: Prism can't match required bracketed query
    # parameters (`filter[app]`): it looks them up under their percent-encoded name
    # `filter%5bapp%5d` and rejects every such request with a 422 (stoplightio/prism#2443). The
    # sweep builds its own requests from the spec; what it checks is crabapple's responses.
    cmd = [str(prism), "proxy", str(spec), base, f"--validate-request={str(validate_request).lower()}",
           "-h", "127.0.0.1", "-p", str(port)] + (["--errors"] if errors else [])
    env = dict(os.environ, SCARF_ANALYTICS="false")
    proc = subprocess.Popen(cmd, stdout=logfile, stderr=subprocess.STDOUT, cwd=str(HERE), env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 300
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"sweep: prism exited with {proc.returncode} while starting")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, url
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise SystemExit("sweep: prism did not start listening within 300 s")


def stop(proc):
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def empty_to_one(op, doc, base, path_query, token) -> bool:
    """Is this violation only the spec's `data` being non-nullable for an empty to-one?

    Apple answers a to-one related/relationship GET with no related resource as 200
    `{"data": null, …}` (codemagic's Builds.read_app_store_version tests `response["data"] is
    None`), while the spec declares `data` a required object. Such a response is not counted as a
    violation; the sweep re-reads it from crabapple directly to be sure `data` is really null.
    """
    if op["kind"] not in ("getToOneRelated", "getToOneRelationship"):
        return False
    errs = [v for v in doc.get("validation", []) if v.get("severity") == "Error"]
    if not errs or any(v.get("location") != ["response", "body", "data"] or v.get("code") != "type"
                       for v in errs):
        return False
    direct = http_get(base + path_query, token).json()
    return isinstance(direct, dict) and "data" in direct and direct["data"] is None


UNSET = REPO / "tests" / "prism" / "unset-on-create.tsv"


def load_unset(path=UNSET) -> set[tuple[str, str]]:
    """The reviewed `(type, attribute)` pairs Apple answers `null` for although the spec declares
    them non-nullable (tests/prism/unset-on-create.tsv: `type<TAB>attribute<TAB>why`)."""
    out = set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 3 or not parts[2].strip():
            raise SystemExit(f"{path.name}:{n}: want `type<TAB>attribute<TAB>why`: {line!r}")
        out.add((parts[0], parts[1]))
    return out


def unset_null(v, doc, unset) -> bool:
    """Is this violation a listed attribute of one of the document's resource objects (`data`,
    `data[i]` or `included[i]`) answered `null`?

    Like empty_to_one(): only the exact location `….attributes.<name>`, only a `null` value, only
    a `(type, name)` pair of tests/prism/unset-on-create.tsv.
    """
    loc = [str(x) for x in (v.get("location") or [])]
    if loc[:2] != ["response", "body"] or not isinstance(doc, dict):
        return False
    rest = loc[2:]
    if len(rest) == 3 and rest[0] == "data":
        obj, at = doc.get("data"), rest[1:]
    elif len(rest) == 4 and rest[0] in ("data", "included") and rest[1].isdigit():
        items = doc.get(rest[0])
        obj = items[int(rest[1])] if isinstance(items, list) and int(rest[1]) < len(items) else None
        at = rest[2:]
    else:
        return False
    if not isinstance(obj, dict) or at[0] != "attributes":
        return False
    return (obj.get("attributes") or {}).get(at[1], 0) is None and (obj.get("type"), at[1]) in unset


def unset_nulls(doc, base, path_query, token, unset) -> bool:
    """Is every error Prism lists an attribute Apple answers `null` while it is unset
    (unset_null())? The sweep re-reads the response from crabapple directly (with `--errors`
    Prism answers with its violations instead of the body)."""
    errs = [v for v in doc.get("validation", []) if v.get("severity") == "Error"]
    if not errs or any(v.get("code") != "type" for v in errs):
        return False
    direct = http_get(base + path_query, token).json()
    return all(unset_null(v, direct, unset) for v in errs)


def fmt_validation(v) -> str:
    loc = ".".join(str(x) for x in v.get("location", []))
    return f"[{v.get('severity')}] {loc}: {v.get('message')} ({v.get('code')})"


# --------------------------------------------------------------------------------- main
def parser(doc: str) -> argparse.ArgumentParser:
    """The options both sweeps take."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="crabapple base URL, e.g. http://127.0.0.1:8686")
    ap.add_argument("--data", required=True, help="crabapple's data dir (for `crabapple token`)")
    ap.add_argument("--bin", help="crabapple binary (default: $CRABAPPLE_BIN or <repo>/target/debug/crabapple)")
    ap.add_argument("--spec", help="Apple's OpenAPI json (default: <repo>/../shared/spec/app-store-connect-openapi.json)")
    ap.add_argument("--manifest", default=str(REPO / "crates" / "spec" / "manifest.json"))
    ap.add_argument("--prism-port", type=int, default=0, help="default: a free port")
    ap.add_argument("--report", help="write a JSON report here")
    ap.add_argument("--expectations", default=str(expect.EXPECTATIONS),
                    help="operations that do not pass, and why (default: tests/prism/expectations.tsv)")
    return ap


def inputs(args, name: str, log):
    """(spec, base URL, manifest, Tokens) or the exit status when one is missing (missing_inputs)."""
    spec = pathlib.Path(args.spec) if args.spec else default_spec()
    rc = missing_inputs(spec, name, log)
    if rc is not None:
        return rc
    bin_path = args.bin or os.environ.get("CRABAPPLE_BIN") or str(
        pathlib.Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target") / "debug" / "crabapple")
    if not os.path.exists(bin_path):
        log(f"{name}: {bin_path} not found (cargo build -p crabapple, or --bin)")
        return 2
    manifest = json.loads(pathlib.Path(args.manifest).read_text())
    read_admin_token(args.data)
    return spec, args.base.rstrip("/"), manifest, Tokens(bin_path, args.data)


def log(msg):
    print(msg, flush=True)


def main() -> int:
    ap = parser(__doc__)
    ap.add_argument("--only", help="regex on operation id: sweep only these")
    ap.add_argument("-v", "--verbose", action="store_true", help="list skipped operations and 4xx answers")
    args = ap.parse_args()
    found = inputs(args, "sweep", log)
    if isinstance(found, int):
        return found
    spec, base, manifest, tokens = found
    gets = [o for o in manifest["operations"] if o["method"] == "GET"]
    gets_by_id = {o["id"]: o for o in gets}
    gets.sort(key=lambda o: (o["path"].count("/"), o["path"]))

    only = re.compile(args.only) if args.only else None
    unset = load_unset()
    t0 = time.time()
    ids = discover(base, tokens, manifest, gets, log)

    port = args.prism_port or free_port()
    plog = tempfile.NamedTemporaryFile("w+", prefix="prism-", suffix=".log", delete=False)
    log(f"sweep: starting prism proxy on 127.0.0.1:{port} (log {plog.name})")
    t1 = time.time()
    proc, purl = start_prism(spec, base, port, plog)
    log(f"sweep: prism ready in {time.time() - t1:.0f}s")

    results = []
    counts = Counter()
    try:
        for op in gets:
            if only and not only.search(op["id"]):
                continue
            rec = {"op": op["id"], "kind": op["kind"], "path": op["path"]}
            path, why = build_path(op, ids)
            params = None
            if path is not None:
                params, why = fill_required(op, manifest, ids)
            if path is None or params is None:
                rec.update(outcome="skipped", reason=why)
                counts["skipped"] += 1
                results.append(rec)
                continue
            url = purl + path + ("?" + urllib.parse.urlencode(params, safe="[],") if params else "")
            rec["url"] = url
            try:
                r = http_get(url, tokens.get())
            except OSError as e:
                rec.update(outcome="error", detail=f"no answer through prism: {e}")
                counts["error"] += 1
                results.append(rec)
                if proc.poll() is not None:
                    log("sweep: prism died; stopping")
                    break
                continue
            counts["called"] += 1
            rec["status"] = r.status
            ctype = r.headers.get("content-type", "")
            doc = r.json() if "json" in ctype else None
            ptype = doc.get("type", "") if isinstance(doc, dict) else ""
            warnings = []
            if r.headers.get("sl-violations"):
                try:
                    warnings = [v for v in json.loads(r.headers["sl-violations"]) if v.get("severity") != "Error"]
                except ValueError:
                    warnings = [{"message": r.headers["sl-violations"][:500]}]
            if warnings:
                rec["warnings"] = [fmt_validation(v) for v in warnings]
                counts["warned"] += 1
            if ctype.startswith("application/problem+json") and ptype.startswith(PRISM_ERR):
                kind = ptype[len(PRISM_ERR):]
                texts = [fmt_validation(v) for v in doc.get("validation", [])] or [doc.get("detail", "")]
                if kind == "VIOLATIONS" and empty_to_one(op, doc, base, url[len(purl):], tokens.get()):
                    rec.update(outcome="empty-to-one", detail=texts)
                    counts["empty-to-one"] += 1
                elif kind == "VIOLATIONS" and unset_nulls(doc, base, url[len(purl):], tokens.get(), unset):
                    rec.update(outcome="unset-null", detail=texts)
                    counts["unset-null"] += 1
                elif kind == "VIOLATIONS":
                    rec.update(outcome="violation", detail=texts)
                    counts["violation"] += 1
                elif kind == "UNPROCESSABLE_ENTITY":
                    rec.update(outcome="request-invalid", detail=texts)
                    counts["request-invalid"] += 1
                else:
                    rec.update(outcome="error", detail=[f"{kind}: {doc.get('title')} {doc.get('detail')}"])
                    counts["error"] += 1
            elif r.status >= 500:
                rec.update(outcome="server-error", detail=[r.body[:500].decode("utf-8", "replace")])
                counts["server-error"] += 1
            elif "x-rate-limit" not in r.headers and r.status != 401:
                rec.update(outcome="not-from-crabapple",
                           detail=["no X-Rate-Limit header: Prism made this response up (upstream 501?)"])
                counts["error"] += 1
            elif r.status >= 400:
                err = (doc or {}).get("errors", [{}])[0] if isinstance(doc, dict) else {}
                rec.update(outcome="client-error", rule=r.headers.get("x-crabapple-reason"),
                           detail=[f"{err.get('code')}: {err.get('detail')}",
                                   f"X-Crabapple-Reason: {r.headers.get('x-crabapple-reason')}"])
                counts["client-error"] += 1
            else:
                rec["outcome"] = "ok"
                counts["ok"] += 1
            results.append(rec)
    finally:
        stop(proc)
        plog.close()

    # Every operation that did not pass needs its line in expectations.tsv (see expect.py).
    for rec in results:
        o = rec["outcome"]
        rec["category"] = ("pass" if o in ("ok", "empty-to-one", "unset-null") else "unbuildable" if o == "skipped"
                           else "apple-rule" if o == "client-error" and rec.get("rule") else "defect")
    scope = {op["id"] for op in gets if not only or only.search(op["id"])}
    expected = {k: v for k, v in expect.load(args.expectations).items() if k in gets_by_id}
    unexplained = expect.judge(results, expected, scope)
    failing = ("violation", "request-invalid", "server-error", "not-from-crabapple", "error")
    for rec in results:
        if rec["outcome"] in failing and rec["op"] not in expected:
            log(f"{rec['outcome'].upper()} {rec['op']}  GET {rec.get('url', rec['path'])}  -> {rec.get('status')}")
            for line in rec.get("detail", []):
                log(f"    {line}")
    if args.verbose:
        for rec in results:
            if rec["outcome"] == "empty-to-one":
                log(f"empty to-one {rec['op']}  GET {rec['url']}  (data: null)")
            elif rec["outcome"] == "client-error":
                log(f"4xx {rec['op']}  GET {rec['url']}  -> {rec['status']}  {' | '.join(rec['detail'])}")
            elif rec["outcome"] == "skipped":
                log(f"skipped {rec['op']}  {rec['path']}: {rec['reason']}")
            for w in rec.get("warnings", []):
                log(f"warning {rec['op']}: {w}")
    skipped_why = Counter(
        re.sub(r"no \S+ id in the world", "no id of its resource type in the world", r["reason"])
        for r in results if r["outcome"] == "skipped"
    )
    for rec in unexplained:
        log(expect.describe(rec))
    counts["expected"] = sum(r.get("verdict") == "expected" for r in results)
    n_fail = len(unexplained)
    log(f"sweep: skipped because: {dict(skipped_why)}")
    log(
        f"sweep: {len(gets)} GET operations in the spec; called {counts['called']}, "
        f"skipped {counts['skipped']}; ok {counts['ok']}, 4xx {counts['client-error']}, "
        f"empty to-one (data: null, as Apple sends it; the spec says object) {counts['empty-to-one']}, "
        f"unset attributes (null, as Apple sends them: unset-on-create.tsv) {counts['unset-null']}, "
        f"violations {counts['violation']}, request rejected by prism {counts['request-invalid']}, "
        f"crabapple 5xx {counts['server-error']}, other errors {counts['error']}, "
        f"with warnings {counts['warned']}; explained by expectations.tsv {counts['expected']}, "
        f"unexplained or stale {n_fail} ({time.time() - t0:.0f}s)"
    )
    if args.report:
        with open(args.report, "w", encoding="utf-8") as f:
            json.dump({"counts": counts, "results": results,
                       "idSources": ids.source}, f, indent=1)
    if n_fail:
        log(f"sweep: FAILED ({n_fail} operations); prism's log: {plog.name}")
        return 1
    os.unlink(plog.name)
    log("sweep: PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
