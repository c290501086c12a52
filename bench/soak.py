"""The soak scenario: does roomkey's memory creep under sustained churn?

For each backend (memory; Redis: a redis-server of its own), one roomkey node in probe mode
(``bench/servers/roomkey_node.py --probe``: ``GET /bench/sizes`` answers
``roomkey.internal_sizes``, the asyncio tasks and the collector's counts) is pinned to the
server CPU and the churn (``bench/churn.py``) to the load CPU. Every RSS figure below but the
samples taken during the churn is read with every client gone and every map back to empty
(bounded wait), so that like is compared with like:

1. "fresh": the node just started, before any client;
2. the warm-up: rounds of churn (``warm_round`` seconds each) until RSS has settled, that is
   until the last round raised it by less than ``SETTLED`` (0.5%) over the round before, or
   until the warm-up has churned ``warm_cap`` seconds (reported as not settled). What a
   process makes once and keeps (imports run late, connection pools grown to the load,
   allocator arenas, bounded caches) is made here, and then the "before" sample;
3. the churn: ``periods`` periods of ``seconds / periods`` each, sampled every ``interval``
   seconds; after each period the clients leave and the "period end" sample is taken, so a
   creep (RSS that keeps rising with more churn) shows period by period;
4. "after" is the last period's end; then one sample after a full garbage collection (what
   was only waiting for the collector) and one after ``malloc_trim`` (free memory the C
   allocator kept rather than returned).

Reported: each sample; the target's figure, RSS after over RSS before (within 5%: after the
warm-up, more churn leaves RSS where it was); the same against the fresh level (the whole
cost of having served, warm-up included); the per-period ends; whether every map is back to
empty (the limiter's address, user and app windows last their window by design: they are
reported, not counted as left over). Every churn process of one soak makes the same users'
tokens (``--token-exp``), as returning users would: a new set per process would fill
roomkey's JWT cache (bounded, ``performance.jwt_cache_size``) a little more each time.

    python -m bench.soak [--backend memory|redis|both] [--seconds 90] [--periods 3] ...

runs it alone and prints each backend's verdict line and series; ``--mmap-threshold`` runs the
node with glibc's mmap threshold fixed (``MALLOC_MMAP_THRESHOLD_``), which tells the
allocator's retained memory from the process's own (docs/benchmarks.md, "RSS under churn").
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import time
import urllib.request
from typing import Any

from bench.processes import LOAD_CPU, PY, ROOT, RedisProcess, ServerProcess, pinned, rss_bytes

NODE = "bench.servers.roomkey_node"
LASTS_ITS_WINDOW = ("throttle.windows",)
QUIET_TIMEOUT = 30.0
TARGET = 1.05  # RSS after over before
SETTLED = 0.005  # the warm-up ends once a round raised RSS by less than this fraction


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def probe(port: int, how: str = "") -> dict[str, Any]:
    """The probe's answer; ``how``: "" as it is, "collect" after a full collection, "trim"
    after that and ``malloc_trim`` too."""
    url = f"http://127.0.0.1:{port}/bench/sizes" + (f"?{how}=1" if how else "")
    with urllib.request.urlopen(url, timeout=10) as resp:
        parsed: dict[str, Any] = json.loads(resp.read())
        return parsed


def left_over(sizes: dict[str, Any]) -> dict[str, int]:
    return {
        k: v
        for k, v in sizes.items()
        if isinstance(v, int) and v and k != "asyncio.tasks" and k not in LASTS_ITS_WINDOW
    }


def sample(server: ServerProcess, started: float, how: str = "") -> dict[str, Any]:
    sizes = probe(server.port, how)
    return {
        "t": round(time.monotonic() - started, 1),
        "rss_mb": round(rss_bytes(server.proc.pid) / 2**20, 2),
        "fds": fds(server.proc.pid),
        "tasks": sizes.get("asyncio.tasks", 0),
        "maps_total": sum(left_over(sizes).values()),
        "sizes": {k: v for k, v in sizes.items() if isinstance(v, int)},
    }


def quiet(server: ServerProcess) -> dict[str, int]:
    """Wait (bounded) until no map holds anything; what is left if the wait ran out."""
    deadline = time.monotonic() + QUIET_TIMEOUT
    while True:
        rest = left_over(probe(server.port))
        if not rest or time.monotonic() >= deadline:
            return rest
        time.sleep(0.2)


def churn(port: int, seconds: float, concurrency: int, token_exp: int) -> subprocess.Popen[str]:
    argv = [PY, "-m", "bench.churn", "--port", str(port), "--seconds", str(seconds)]
    argv += ["--concurrency", str(concurrency), "--token-exp", str(token_exp)]
    return subprocess.Popen(
        pinned(LOAD_CPU, *argv), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finished(proc: subprocess.Popen[str], seconds: float) -> dict[str, Any]:
    try:
        out, err = proc.communicate(timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
        return {"cycles": 0, "errors": 1, "first_errors": ["churn did not end in time"]}
    for line in out.splitlines():
        if line.startswith("RESULT "):
            parsed: dict[str, Any] = json.loads(line[7:])
            return parsed
    return {"cycles": 0, "errors": 1, "first_errors": [err[-300:]]}


class Soak:
    """One backend's node and the churn runs against it, with their counts."""

    def __init__(self, server: ServerProcess, concurrency: int) -> None:
        self.server = server
        self.concurrency = concurrency
        self.started = time.monotonic()
        self.token_exp = int(time.time()) + 3 * 3600  # the same tokens for every churn run
        self.cycles = 0
        self.errors = 0
        self.first_errors: list[str] = []

    def sample(self, how: str = "") -> dict[str, Any]:
        return sample(self.server, self.started, how)

    def round(self, seconds: float, interval: float = 0.0) -> tuple[dict[str, Any], list[Any]]:
        """Churn for ``seconds`` (sampled every ``interval`` seconds when given), wait until
        the clients have left and every map is empty, then sample: that sample (with the
        churn's cycles and what the wait left over) and the samples taken during the churn."""
        proc = churn(self.server.port, seconds, self.concurrency, self.token_exp)
        during = []
        if interval > 0:
            end = time.monotonic() + seconds
            while time.monotonic() < end and proc.poll() is None:
                time.sleep(min(interval, max(0.0, end - time.monotonic())))
                during.append(self.sample())
        load = finished(proc, seconds)
        self.cycles += load["cycles"]
        self.errors += load["errors"]
        self.first_errors += (load.get("first_errors") or [])[: max(0, 3 - len(self.first_errors))]
        rest = quiet(self.server)
        end_sample = self.sample()
        end_sample["cycles"] = load["cycles"]
        end_sample["left_over"] = rest
        return end_sample, during

    def warm_up(self, round_seconds: float, cap_seconds: float) -> dict[str, Any]:
        """Rounds of churn until RSS settles (see the module's text) or ``cap_seconds`` of
        churn have run: the rounds' end samples and whether RSS settled."""
        rounds: list[dict[str, Any]] = []
        churned = 0.0
        settled = False
        while churned < cap_seconds and len(rounds) < 100:  # bounded twice over
            end_sample, _ = self.round(min(round_seconds, cap_seconds - churned))
            churned += min(round_seconds, cap_seconds - churned)
            if rounds:  # at least two rounds: the first always grows from fresh
                grew = end_sample["rss_mb"] / rounds[-1]["rss_mb"] - 1
                settled = grew < SETTLED
            rounds.append(end_sample)
            if settled:
                break
        return {
            "round_seconds": round_seconds,
            "cap_seconds": cap_seconds,
            "churned_seconds": round(churned, 1),
            "settled": settled,
            "rounds": [slim(r) for r in rounds],
        }


def slim(s: dict[str, Any]) -> dict[str, Any]:
    """A period's or round's end sample without its map sizes (all 0, or in ``left_over``)."""
    return {k: v for k, v in s.items() if k != "sizes"}


def ratio(a: dict[str, Any], b: dict[str, Any]) -> float:
    return round(float(a["rss_mb"]) / float(b["rss_mb"]), 3)


def soak_one(
    backend: str,
    seconds: float,
    interval: float,
    concurrency: int,
    periods: int = 3,
    warm_round: float | None = None,
    warm_cap: float | None = None,
) -> dict[str, Any]:
    """One backend's soak: the samples and the figures the report shows. ``warm_round``
    defaults to a third of a period, ``warm_cap`` to ``seconds``."""
    periods = max(1, periods)
    period = seconds / periods
    warm_round = warm_round or max(1.0, period / 3)
    warm_cap = warm_cap if warm_cap is not None else seconds
    redis = RedisProcess() if backend == "redis" else None
    server: ServerProcess | None = None
    try:
        args = ["--probe"] + (["--redis-url", redis.url] if redis is not None else [])
        server = ServerProcess(NODE, *args)
        soak = Soak(server, concurrency)
        time.sleep(0.5)
        fresh = soak.sample()
        warm = soak.warm_up(warm_round, warm_cap)
        before = soak.sample()
        warm_cycles = soak.cycles
        ends: list[dict[str, Any]] = []
        samples: list[dict[str, Any]] = []
        for _ in range(periods):
            end_sample, during = soak.round(period, interval)
            ends.append(end_sample)
            samples += during
        after = ends[-1]
        rest = after["left_over"]
        collected = soak.sample("collect")
        trimmed = soak.sample("trim")
        peak = max([s["rss_mb"] for s in samples] or [after["rss_mb"]])
        return {
            "backend": backend,
            "seconds": seconds,
            "periods": periods,
            "concurrency": concurrency,
            "malloc_mmap_threshold": os.environ.get("MALLOC_MMAP_THRESHOLD_", ""),
            "cycles": soak.cycles - warm_cycles,
            "warm_up_cycles": warm_cycles,
            "errors": soak.errors,
            "first_errors": soak.first_errors,
            "fresh": fresh,
            "warm_up": warm,
            "before": before,
            "period_ends": [slim(e) for e in ends],
            "after": after,
            "after_collect": collected,
            "after_trim": trimmed,
            "peak_rss_mb": peak,
            "rss_after_vs_before": ratio(after, before),
            "rss_after_collect_vs_before": ratio(collected, before),
            "rss_after_trim_vs_before": ratio(trimmed, before),
            "rss_after_vs_fresh": ratio(after, fresh),
            "rss_period_ends_vs_before": [ratio(e, before) for e in ends],
            "rss_met": ratio(after, before) <= TARGET,
            "maps_empty": not rest,
            "left_over": rest,
            "samples": samples,
        }
    finally:
        if server is not None:
            server.stop()
        if redis is not None:
            redis.stop()


def run(seconds: float, interval: float, concurrency: int, periods: int) -> list[dict[str, Any]]:
    return [soak_one(b, seconds, interval, concurrency, periods) for b in ("memory", "redis")]


def summary_line(r: dict[str, Any]) -> str:
    """The verdict, saying what is compared."""
    ends = " / ".join(f"{e['rss_mb']}" for e in r["period_ends"])
    levels = [r["before"]["rss_mb"]] + [e["rss_mb"] for e in r["period_ends"]]
    steps = " / ".join(f"{b - a:+.2f}" for a, b in itertools.pairwise(levels))
    warm = r["warm_up"]
    return (
        f"{r['backend']}: RSS after {r['seconds']:g} s of churn over RSS before it (both with "
        f"every client gone, 'before' after a warm-up of {warm['churned_seconds']:g} s, "
        f"{'settled' if warm['settled'] else 'not settled by its cap'}): "
        f"{r['rss_after_vs_before']} ({'met' if r['rss_met'] else 'not met'}, target "
        f"<= {TARGET}); period ends {ends} MB (before {r['before']['rss_mb']}; per period "
        f"{steps} MB); "
        f"against the fresh node {r['rss_after_vs_fresh']}; "
        f"maps {'empty' if r['maps_empty'] else 'NOT empty: ' + str(r['left_over'])}"
    )


def main() -> None:
    p = argparse.ArgumentParser(description="the soak scenario alone (docs/benchmarks.md)")
    p.add_argument("--backend", choices=("memory", "redis", "both"), default="both")
    p.add_argument("--seconds", type=float, default=90.0, help="churn after the warm-up")
    p.add_argument("--periods", type=int, default=3, help="the churn's periods")
    p.add_argument("--interval", type=float, default=5.0, help="sampling during the churn")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--warm-round", type=float, default=None, help="seconds per warm-up round")
    p.add_argument("--warm-cap", type=float, default=None, help="warm-up churn at most (s)")
    p.add_argument(
        "--mmap-threshold",
        type=int,
        default=0,
        help="run the node with MALLOC_MMAP_THRESHOLD_ set to this (bytes): glibc's mmap "
        "threshold fixed instead of rising with the large blocks the process frees",
    )
    p.add_argument("--out", default="", help="write the full result (JSON) here")
    args = p.parse_args()
    if args.mmap_threshold:  # inherited by the node (and by redis-server and the churn)
        os.environ["MALLOC_MMAP_THRESHOLD_"] = str(args.mmap_threshold)
    backends = ("memory", "redis") if args.backend == "both" else (args.backend,)
    out = [
        soak_one(
            b,
            args.seconds,
            args.interval,
            args.concurrency,
            args.periods,
            args.warm_round,
            args.warm_cap,
        )
        for b in backends
    ]
    if args.out:
        with open(args.out, "w") as f:
            json.dump(out, f, indent=1)
    for r in out:
        print(summary_line(r))
        print(
            "  period ends (t s, RSS MB, cycles):",
            [(e["t"], e["rss_mb"], e["cycles"]) for e in r["period_ends"]],
        )
        print(
            "  after a full collection, after malloc_trim (MB):",
            r["after_collect"]["rss_mb"],
            r["after_trim"]["rss_mb"],
        )
        print(
            "  warm-up rounds (t s, RSS MB):",
            [(w["t"], w["rss_mb"]) for w in r["warm_up"]["rounds"]],
        )
        print("  during (t s, RSS MB):", [(s["t"], s["rss_mb"]) for s in r["samples"]])


if __name__ == "__main__":  # python -m bench.soak: the soak alone, printed
    main()
