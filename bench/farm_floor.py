#!/usr/bin/env python3
"""How fast can any client make a warm pass over the feed farm? A floor for bench/ingest.py.

    .venv/bin/python bench/farm_floor.py [--feeds 300] [--delay-ms 30]

Starts ../shared/bench/feedfarm.py, lets every feed be served once (so the farm has its
bodies rendered, as in the benchmark's warm pass), then times a client that does nothing
but send one conditional GET per feed (If-None-Match with the farm's current ETag) and
read the 304: raw asyncio streams, no HTTP library, no parsing, no database. It tries
several numbers of keep-alive connections and opening rates and prints each, then the
best. briefbot's warm pass cannot beat this; reader's warm pass divided by it is the best
ratio any client could reach on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import Farm


async def _conn(port: int, feeds: range, slow: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for feed in feeds:
        started = time.perf_counter()
        etag = f'"f{feed}-{ITEMS}"'
        request = f"GET /feed/{feed}.xml HTTP/1.1\r\nHost: 127.0.0.1\r\nIf-None-Match: {etag}\r\n\r\n"
        writer.write(request.encode())
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 304"):
            raise SystemExit(f"expected a 304, got {head[:40]!r}")
        slow.append(time.perf_counter() - started)
    writer.close()


async def _pass(port: int, feeds: int, connections: int, spacing: float) -> tuple[float, int]:
    per = -(-feeds // connections)
    slow: list[float] = []
    started = time.perf_counter()
    tasks = []
    for c in range(connections):
        share = range(c * per, min(feeds, (c + 1) * per))
        if share:
            tasks.append(asyncio.create_task(_conn(port, share, slow)))
            await asyncio.sleep(spacing)
    await asyncio.gather(*tasks)
    return time.perf_counter() - started, sum(1 for s in slow if s > 0.2)


ITEMS = 50


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--feeds", type=int, default=300)
    p.add_argument("--delay-ms", type=float, default=30)
    a = p.parse_args()
    farm = Farm(a.feeds, ITEMS, a.delay_ms)
    try:
        # one pass with bodies, as the benchmark's cold pass does, so the farm has rendered them
        for start in range(0, a.feeds, 20):
            procs = [
                subprocess.Popen(["curl", "-s", "-o", "/dev/null", f"{farm.base}/feed/{f}.xml"])
                for f in range(start, min(a.feeds, start + 20))
            ]
            for proc in procs:
                proc.wait()
        results = []
        for connections in (50, 75, 100, 150, 300):
            for spacing_ms in (0.5, 1.0, 2.0):
                time.sleep(0.5)
                seconds, stalled = asyncio.run(_pass(farm.port, a.feeds, connections, spacing_ms / 1000))
                results.append((seconds, connections, spacing_ms, stalled))
                print(
                    f"{connections:4} connections, one opened every {spacing_ms} ms: "
                    f"{seconds:.3f} s ({stalled} requests over 200 ms)",
                    flush=True,
                )
        best = min(results)
        print(f"\nfloor: {best[0]:.3f} s ({best[1]} connections, {best[2]} ms apart)")
    finally:
        farm.close()


if __name__ == "__main__":
    main()
