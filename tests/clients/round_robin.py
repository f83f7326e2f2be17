"""A tiny load balancer for the suite's PostgreSQL pass (issue 12): each client connection goes
to the next upstream in turn, as a load balancer in front of crabapple's replicas does.

    python3 round_robin.py LISTEN_PORT UPSTREAM_PORT [UPSTREAM_PORT ...]

Prints `ready` once listening; counts connections per upstream in the file named by
$ROUND_ROBIN_COUNTS (one line per upstream port: `port count`) when it stops (SIGTERM).

What a real balancer does with a replica that dies, this one does at request boundaries
(HTTP/1.1 without pipelining: a request is what the client sends after the upstream's last
answer; a client that sends a body after a `100 Continue` would be moved mid-request — the
Python and Node suites never do):
- a new connection that an upstream refuses goes to the following upstream, each tried once
  (a passive health check);
- a client's next request on a connection whose upstream has gone goes to a new connection to
  another upstream — the dead one never saw those bytes, so nothing is sent twice;
- an upstream that closes while a request is in flight (sent, nothing answered) closes the
  client's connection: only the client can retry a request that may have been applied.

Killing a replica mid-run (scripts/test.sh): `kill -USR1` this process with $ROUND_ROBIN_DRAIN
naming an upstream port; new requests stop going there, and once none is in flight and its last
answer is 100 ms old this prints `drained PORT` — the caller then `kill -9`s that replica with its
connections still open. That is a crash between two requests; a crash during one is the client's
to retry (crates/crabapple/tests/replicas.rs kills a replica under write load).
"""

import asyncio
import os
import signal
import sys
import time


class Balancer:
    def __init__(self, upstreams):
        self.upstreams = upstreams
        self.turn = 0
        self.counts = {p: 0 for p in upstreams}
        self.draining = None
        self.conns = set()

    async def connect(self, avoid=None):
        """A connection to the next upstream in turn that accepts one (None when none does)."""
        start = self.turn
        self.turn += 1
        n = len(self.upstreams)
        for k in range(n):
            port = self.upstreams[(start + k) % n]
            if port in (avoid, self.draining):
                continue
            try:
                r, w = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                continue
            self.counts[port] += 1
            return port, r, w
        return None

    def drained(self, port):
        quiet = time.monotonic() - 0.1
        return not any(
            c.port == port and (c.in_flight or c.last_answer > quiet) for c in self.conns
        )


class Conn:
    def __init__(self, lb, client_r, client_w):
        self.lb, self.client_r, self.client_w = lb, client_r, client_w
        self.port = self.up_r = self.up_w = None
        self.in_flight = False  # the client sent bytes the upstream has not answered yet
        self.last_answer = 0.0
        self.pump = None

    async def switch(self):
        """Moves this client connection to another upstream (between two requests)."""
        old = self.port
        self.close_upstream()
        got = await self.lb.connect(avoid=old if old == self.lb.draining else None)
        if got is None:
            return False
        self.port, self.up_r, self.up_w = got
        self.pump = asyncio.create_task(self.answers(self.up_r))
        return True

    def close_upstream(self):
        if self.pump is not None:
            self.pump.cancel()
        if self.up_w is not None:
            self.up_w.close()
        self.port = self.up_r = self.up_w = self.pump = None

    async def answers(self, up_r):
        """Upstream → client. An upstream that closes between requests (its last answer 100 ms
        old) is just forgotten: the next request goes elsewhere. One that closes with a request
        in flight or right after answering (a `Connection: close`, a truncated body) closes the
        client's connection, as the client would see without a balancer."""
        try:
            while data := await up_r.read(65536):
                self.in_flight = False
                self.last_answer = time.monotonic()
                self.client_w.write(data)
                await self.client_w.drain()
        except (ConnectionError, asyncio.CancelledError):
            return
        if self.up_r is up_r:
            if self.in_flight or time.monotonic() - self.last_answer < 0.1:
                self.client_w.close()
            self.close_upstream()

    async def run(self):
        self.lb.conns.add(self)
        try:
            if not await self.switch():
                return
            while data := await self.client_r.read(65536):
                new_request = not self.in_flight
                moving = self.port is None or (new_request and self.port == self.lb.draining)
                if moving and not (new_request and await self.switch()):
                    break
                self.in_flight = True
                self.up_w.write(data)
                await self.up_w.drain()
        except (ConnectionError, AttributeError):
            pass
        finally:
            self.lb.conns.discard(self)
            self.close_upstream()
            self.client_w.close()


async def main():
    listen, upstreams = int(sys.argv[1]), [int(p) for p in sys.argv[2:]]
    lb = Balancer(upstreams)

    async def handle(client_r, client_w):
        await Conn(lb, client_r, client_w).run()

    async def drain():
        port = int(os.environ["ROUND_ROBIN_DRAIN"])
        lb.draining = port
        while not lb.drained(port):
            await asyncio.sleep(0.01)
        print(f"drained {port}", flush=True)

    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, lambda: loop.create_task(drain()))
    # SIGUSR2: the drained upstream is taken back (a replacement replica listens on its port).
    loop.add_signal_handler(signal.SIGUSR2, lambda: setattr(lb, "draining", None))
    print("ready", flush=True)
    async with server:
        await stop.wait()
    path = os.environ.get("ROUND_ROBIN_COUNTS")
    if path:
        with open(path, "w") as f:
            for p, n in lb.counts.items():
                f.write(f"{p} {n}\n")


asyncio.run(main())
