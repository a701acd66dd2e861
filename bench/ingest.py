#!/usr/bin/env python3
"""Ingestion benchmark: briefbot against lemon24/reader on the same local feed farm.

    .venv/bin/python bench/ingest.py              # 300 feeds x 50 items at 30 ms, then 5,000 feeds warm
    .venv/bin/python bench/ingest.py --skip-5000  # only the side-by-side comparison

Two farms with the same seed are started from ../shared/bench/feedfarm.py, one for each
tool, so both see identical feeds. Each tool runs a cold pass (empty store), a warm pass
(nothing changed) and a tick10 pass (after POST /tick?share=0.1). briefbot's times are
the "seconds" of `briefbot ingest --all --json` (timed in-process, like reader's
update_feeds). Then a 5,000-feed farm measures briefbot's warm pass and its peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_BENCH = ROOT.parent / "shared" / "bench"
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Farm:
    """A feedfarm subprocess on a free port."""

    def __init__(self, feeds: int, items: int, delay_ms: float) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                PY,
                str(SHARED_BENCH / "feedfarm.py"),
                "serve",
                "--feeds",
                str(feeds),
                "--items",
                str(items),
                "--delay-ms",
                str(delay_ms),
                "--port",
                str(self.port),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.proc.stdout.readline()  # "feedfarm: N feeds on ..."
        self.base = f"http://127.0.0.1:{self.port}"

    def tick(self, share: float) -> None:
        req = urllib.request.Request(f"{self.base}/tick?share={share}", method="POST")
        urllib.request.urlopen(req).read()

    def opml(self) -> bytes:
        return urllib.request.urlopen(f"{self.base}/opml").read()

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait()


def run_reader(feeds: int, items: int, delay_ms: float, workers: int) -> dict[str, float]:
    farm = Farm(feeds, items, delay_ms)
    try:
        out = subprocess.run(
            [PY, str(SHARED_BENCH / "anchors.py"), "reader", farm.base, "--workers", str(workers)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        farm.close()
    results = {}
    for line in out.splitlines():
        row = json.loads(line)
        results[row["pass"]] = row["seconds"]
        print(f"  reader   {row['pass']:7} {row['seconds']:7.2f} s  new={row['new_entries']}", flush=True)
    return results


def briefbot_env(data_dir: str, extra: dict[str, str]) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BRIEFBOT_", "OPENAI_", "SLACK_", "DISCORD_"))
    }
    env.update(
        {
            "BRIEFBOT_DATA_DIR": data_dir,
            "BRIEFBOT_ALLOW_PRIVATE_FEEDS": "true",
            "BRIEFBOT_LOAD_DEFAULT_FEEDS": "false",
            **extra,
        }
    )
    return env


def briefbot(args: list[str], env: dict[str, str]) -> tuple[dict[str, object], float]:
    """Run ``briefbot ARGS``; returns its JSON output and the process's own peak RSS in MB."""
    proc = subprocess.Popen(
        [PY, "-m", "bot", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=env["BRIEFBOT_DATA_DIR"],
    )
    assert proc.stdout is not None and proc.stderr is not None
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"briefbot {' '.join(args)} failed: {err.decode().strip()}")
    return (json.loads(out) if out.strip() else {}), usage.ru_maxrss / 1024


def run_briefbot(feeds: int, items: int, delay_ms: float, knobs: dict[str, str]) -> dict[str, float]:
    farm = Farm(feeds, items, delay_ms)
    results: dict[str, float] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            env = briefbot_env(tmp, knobs)
            opml = Path(tmp) / "farm.opml"
            opml.write_bytes(farm.opml())
            briefbot(["feeds", "import", str(opml), "--json"], env)
            for name in ("cold", "warm", "tick10"):
                if name == "tick10":
                    farm.tick(0.1)
                report, _ = briefbot(["ingest", "--all", "--no-analyze", "--json"], env)
                results[name] = float(report["seconds"])  # type: ignore[arg-type]
                print(
                    f"  briefbot {name:7} {results[name]:7.2f} s  new={report['new_articles']} "
                    f"fetched={report['fetched']} not_modified={report['not_modified']} "
                    f"failed={report['failed']}",
                    flush=True,
                )
    finally:
        farm.close()
    return results


def run_5000(knobs: dict[str, str], delay_ms: float) -> tuple[float, float]:
    farm = Farm(5000, 20, delay_ms)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            env = briefbot_env(tmp, knobs)
            opml = Path(tmp) / "farm.opml"
            opml.write_bytes(farm.opml())
            briefbot(["feeds", "import", str(opml), "--json"], env)
            t = time.perf_counter()
            cold, _ = briefbot(["ingest", "--all", "--no-analyze", "--json"], env)
            print(
                f"  briefbot 5000 cold  {cold['seconds']} s ({time.perf_counter() - t:.1f} s wall), "
                f"new={cold['new_articles']}",
                flush=True,
            )
            warm, rss = briefbot(["ingest", "--all", "--no-analyze", "--json"], env)
            print(
                f"  briefbot 5000 warm  {warm['seconds']} s, not_modified={warm['not_modified']}, "
                f"peak RSS {rss:.0f} MB",
                flush=True,
            )
            return float(warm["seconds"]), rss  # type: ignore[arg-type]
    finally:
        farm.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--feeds", type=int, default=300)
    p.add_argument("--items", type=int, default=50)
    p.add_argument("--delay-ms", type=float, default=30)
    p.add_argument("--reader-workers", type=int, default=16)
    p.add_argument("--concurrency", default="100", help="BRIEFBOT_FETCH_CONCURRENCY for the run")
    p.add_argument(
        "--per-host", default="100", help="BRIEFBOT_FETCH_PER_HOST (every farm feed is on one host)"
    )
    p.add_argument("--skip-5000", action="store_true")
    a = p.parse_args()
    knobs = {"BRIEFBOT_FETCH_CONCURRENCY": a.concurrency, "BRIEFBOT_FETCH_PER_HOST": a.per_host}
    print(f"farm: {a.feeds} feeds x {a.items} items, {a.delay_ms} ms latency; cores: {os.cpu_count()}")
    ref = run_reader(a.feeds, a.items, a.delay_ms, a.reader_workers)
    ours = run_briefbot(a.feeds, a.items, a.delay_ms, knobs)
    targets = {"cold": 0.30, "warm": 0.25, "tick10": 0.25}
    print("\npass     reader s  briefbot s  ratio  target")
    for name, target in targets.items():
        ratio = ours[name] / ref[name] if ref[name] else float("inf")
        verdict = "ok" if ratio <= target else "MISSED"
        print(f"{name:7} {ref[name]:9.2f} {ours[name]:11.2f} {ratio:6.2f}  <= {target}  {verdict}")
    if not a.skip_5000:
        warm, rss = run_5000(knobs, a.delay_ms)
        print(f"5000-feed warm pass: {warm:.2f} s (target < 5 s), peak RSS {rss:.0f} MB (target < 300 MB)")


if __name__ == "__main__":
    main()
