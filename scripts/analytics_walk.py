#!/usr/bin/env python3
"""Walks every Analytics Reports instance and segment of one app, the way a collector does
(`scripts/bench.sh analytics`): the app's requests, each request's reports (every category),
each report's instances (paged with links.next), each instance's segments, and the download of
each segment at its pre-signed URL (no Authorization), checking `checksum` (md5 of the gzip
bytes) and `sizeInBytes`. Downloads run on THREADS threads. Prints one JSON line: counts, seconds,
the reports that took longest and a sample segment URL (an App Downloads Detailed DAILY segment of the ONE_TIME_SNAPSHOT,
from the middle of its history) for the latency run.

usage: analytics_walk.py BASE_URL TOKEN APP_ID [THREADS [URLS_FILE]]

URLS_FILE, if given, gets every segment URL, one a line (the bench's all-segments latency run).
TOKEN `@COMMAND` runs COMMAND for a token, again every 10 minutes (a token lives 20 minutes and
a walk of a big year on a busy machine takes longer).
"""

from __future__ import annotations

import concurrent.futures as cf
import gzip
import hashlib
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request


_minted = {"at": 0.0, "token": ""}


def bearer(token: str) -> str:
    """The token, or one minted by `@COMMAND` at most 10 minutes ago."""
    if not token.startswith("@"):
        return token
    if time.monotonic() - _minted["at"] > 600:
        _minted["token"] = subprocess.run(token[1:], shell=True, check=True, capture_output=True,
                                          text=True).stdout.strip()
        _minted["at"] = time.monotonic()
    return _minted["token"]


def get(url: str, token: str | None) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {bearer(token)}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def pages(url: str, token: str):
    while url:
        status, body = get(url, token)
        if status != 200:
            raise SystemExit(f"GET {url}: {status} {body[:300]!r}")
        doc = json.loads(body)
        yield from doc["data"]
        url = doc.get("links", {}).get("next")


def main() -> None:
    base, token, app = sys.argv[1:4]
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 4
    start = time.monotonic()
    work = []  # (access type, report name, granularity, instance id)
    reports = 0
    for req in pages(f"{base}/v1/apps/{app}/analyticsReportRequests", token):
        access = req["attributes"]["accessType"]
        for rep in pages(f"{base}/v1/analyticsReportRequests/{req['id']}/reports?limit=200", token):
            reports += 1
            url = f"{base}/v1/analyticsReports/{rep['id']}/instances?limit=200"
            for inst in pages(url, token):
                work.append((access, rep["attributes"]["name"], inst["attributes"]["granularity"],
                             inst["id"]))
    listed = time.monotonic() - start

    def one(item):
        access, name, granularity, inst = item
        t0 = time.monotonic()
        segs = list(pages(f"{base}/v1/analyticsReportInstances/{inst}/segments", token))
        out = []
        for s in segs:
            a = s["attributes"]
            status, body = get(a["url"], None)
            if status != 200:
                raise SystemExit(f"download {a['url']}: {status} {body[:300]!r}")
            if hashlib.md5(body).hexdigest() != a["checksum"] or len(body) != a["sizeInBytes"]:
                raise SystemExit(f"{inst}: checksum or size differs")
            rows = gzip.decompress(body).count(b"\n") - 1
            out.append((access, name, granularity, a["url"], len(body), rows, a["checksum"],
                        inst.rsplit("-", 1)[1]))
        return name, time.monotonic() - t0, out

    segments = []
    per_report = {}
    with cf.ThreadPoolExecutor(threads) as pool:
        for name, secs, got in pool.map(one, work):
            segments.extend(got)
            per_report[name] = per_report.get(name, 0.0) + secs
    took = time.monotonic() - start
    if len(sys.argv) > 5:
        with open(sys.argv[5], "w") as f:
            f.writelines(s[3] + "\n" for s in segments)
    samples = [s[3] for s in segments if s[0] == "ONE_TIME_SNAPSHOT"
               and s[1] == "App Downloads Detailed" and s[2] == "DAILY"]
    by_access = {}
    for access, *_ in work:
        by_access[access] = by_access.get(access, 0) + 1
    print(json.dumps({
        "reports": reports,
        "instances": len(work),
        "instancesByAccessType": by_access,
        "segments": len(segments),
        "gzipBytes": sum(s[4] for s in segments),
        "rows": sum(s[5] for s in segments),
        "listSeconds": round(listed, 1),
        "seconds": round(took, 1),
        "sampleUrl": samples[len(samples) // 2] if samples else None,
        # md5 of every segment's (access type, report, instance code, checksum), sorted: equal
        # digests on the same world mean byte-identical files (request ids are not in it).
        "digest": hashlib.md5("\n".join(sorted(
            f"{s[0]}\t{s[1]}\t{s[7]}\t{s[6]}" for s in segments)).encode()).hexdigest(),
        # Seconds spent on each report's instances (segment list and downloads, summed over the
        # threads), the slowest first.
        "slowest": {k: round(v, 1) for k, v in
                    sorted(per_report.items(), key=lambda x: -x[1])[:8]},
    }))


if __name__ == "__main__":
    main()
