#!/usr/bin/env python3
"""A transparent recording HTTP proxy in front of crabapple, for the real-client suites.

scripts/test.sh points the real clients (codemagic-cli-tools, asconnect, appstore-connect-sdk) at
this proxy instead of at crabapple itself, so that it can tell which of Apple's operations a real
client actually called (`tests/clients/exercised-ops.txt`, read by `crabapple spec coverage`).
The proxy forwards every request unchanged, *including the Host header*, so crabapple builds its
absolute `links` on the proxy's origin and the clients keep talking through it. It appends one
line per request to the log: `METHOD<TAB>PATH<TAB>STATUS`.

Standard library only.

    python3 tests/clients/recorder.py --listen 127.0.0.1:0 --upstream http://127.0.0.1:8686 \
        --log /tmp/requests.tsv --port-file /tmp/recorder.port

    python3 tests/clients/recorder.py --map /tmp/requests.tsv --manifest crates/spec/manifest.json
        prints the operation ids of the logged requests (one per line, sorted, unique).
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import json
import re
import sys
import threading
import urllib.parse

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
}


def make_handler(upstream: urllib.parse.SplitResult, log_path: str):
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        def _forward(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            conn = http.client.HTTPConnection(upstream.hostname, upstream.port or 80, timeout=120)
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except OSError as e:
                msg = f"recorder: upstream error: {e}".encode()
                self.send_response(502)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(msg)))
                self.end_headers()
                self.wfile.write(msg)
                return
            finally:
                conn.close()
            self.send_response_only(resp.status, resp.reason)
            for k, v in resp.getheaders():
                if k.lower() in HOP_BY_HOP or k.lower() == "content-length":
                    continue
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            path = urllib.parse.urlsplit(self.path).path
            with lock, open(log_path, "a", encoding="utf-8") as f:
                f.write(f"{self.command}\t{path}\t{resp.status}\n")

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = _forward

    return Handler


def serve(args) -> None:
    upstream = urllib.parse.urlsplit(args.upstream)
    host, _, port = args.listen.rpartition(":")
    server = http.server.ThreadingHTTPServer((host, int(port)), make_handler(upstream, args.log))
    server.daemon_threads = True
    if args.port_file:
        with open(args.port_file, "w", encoding="utf-8") as f:
            f.write(str(server.server_address[1]))
    print(f"recorder: http://{host}:{server.server_address[1]} -> {args.upstream}", flush=True)
    server.serve_forever()


def template_regex(path: str) -> re.Pattern:
    parts = [re.escape(p) if p != "{id}" else "[^/]+" for p in path.split("/")]
    return re.compile("^" + "/".join(parts) + "$")


def map_ops(log_path: str, manifest_path: str, ok_only: bool = True) -> list[str]:
    """Operation ids for the logged (method, path) pairs. A literal segment beats `{id}`."""
    with open(manifest_path, encoding="utf-8") as f:
        ops = json.load(f)["operations"]
    table = [
        (o["method"], template_regex(o["path"]), o["path"].count("{id}"), o["id"]) for o in ops
    ]
    found: set[str] = set()
    with open(log_path, encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 3:
                continue
            method, path, status = parts
            if ok_only and not status.startswith("2"):
                continue
            cands = [(n, oid) for (m, rx, n, oid) in table if m == method and rx.match(path)]
            if cands:
                found.add(min(cands)[1])
    return sorted(found)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--upstream")
    ap.add_argument("--log")
    ap.add_argument("--port-file")
    ap.add_argument("--map", metavar="LOG", help="print operation ids of a request log and exit")
    ap.add_argument("--manifest", help="crates/spec/manifest.json (with --map)")
    args = ap.parse_args()
    if args.map:
        for oid in map_ops(args.map, args.manifest):
            print(oid)
        return 0
    if not (args.upstream and args.log):
        ap.error("--upstream and --log are required to serve")
    serve(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
