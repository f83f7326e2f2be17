"""A tiny TCP load balancer for the suite's PostgreSQL pass (issue 12): each client connection
goes to the next upstream in turn, as an L4 load balancer in front of crabapple's replicas does;
an upstream that refuses the connection (a replica gone) is skipped.

    python3 round_robin.py LISTEN_PORT UPSTREAM_PORT [UPSTREAM_PORT ...]

Prints `ready` once listening; counts connections per upstream in the file named by
$ROUND_ROBIN_COUNTS (one line per upstream port: `port count`) when it stops (SIGTERM).
"""

import asyncio
import itertools
import os
import signal
import sys


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def main():
    listen, upstreams = int(sys.argv[1]), [int(p) for p in sys.argv[2:]]
    turn = itertools.cycle(upstreams)
    counts = {p: 0 for p in upstreams}

    async def handle(client_r, client_w):
        # The next upstream in turn; one that refuses (a replica gone) passes its turn on.
        for _ in upstreams:
            port = next(turn)
            try:
                up_r, up_w = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                continue
            counts[port] += 1
            await asyncio.gather(pipe(client_r, up_w), pipe(up_r, client_w))
            return
        client_w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    async with server:
        await stop.wait()
    path = os.environ.get("ROUND_ROBIN_COUNTS")
    if path:
        with open(path, "w") as f:
            for p, n in counts.items():
                f.write(f"{p} {n}\n")


asyncio.run(main())
