"""The benchmark suite: ours against the peer Redis job queues and Redis'
own ceiling, in one run, against a private redis-server.

    python -m benchmarks.run [--reps 3] [--n 20000] [--only ours,peers,ceiling]
                             [--libs arq,saq,...] [--json PATH] [--quick]

(``scripts/bench`` creates the peer virtualenvs first, then runs this.)
Every figure runs in a fresh process of its library's virtualenv; the
server is flushed before each figure. Repetitions are interleaved: rep 1
of every library, then rep 2 (each rep starting one library further on),
so that slow drifts of the shared machine spread over all of them. It
prints one markdown report (medians of the reps and their spread) and
writes every raw sample to JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import _ceiling, _libs, _report
from benchmarks._libs import ALL, OURS, PEERS, ROOT, Lib, run_step
from benchmarks._server import RedisServer

DEFAULT_JSON = ROOT / "benchmarks" / "results" / "latest.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Ours vs peer Redis job queues vs redis-benchmark, in one run.",
    )
    p.add_argument("--reps", type=int, default=3, help="repetitions per figure (default 3)")
    p.add_argument("--n", type=int, default=20_000, help="jobs per throughput figure")
    p.add_argument("--latency-n", type=int, default=1000, help="jobs in a latency figure")
    p.add_argument("--backlog", type=int, default=100_000, help="delayed jobs for claim latency")
    p.add_argument("--ceiling-requests", type=int, default=100_000)
    p.add_argument("--only", default="ours,peers,ceiling", help="comma list of ours,peers,ceiling")
    p.add_argument(
        "--libs",
        default="",
        help="comma list of library keys (default: all): " + ", ".join(lib.key for lib in ALL),
    )
    p.add_argument("--timeout", type=float, default=120.0, help="bound of one step, seconds")
    p.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write raw results")
    p.add_argument(
        "--markdown", type=Path, default=None, help="report file (default: JSON path .md)"
    )
    p.add_argument("--quick", action="store_true", help="smoke run: 1 rep, small N")
    p.add_argument("--note", default="", help="a sentence about the run's conditions")
    p.add_argument(
        "--report", type=Path, metavar="JSON", help="only re-render the report of a saved run"
    )
    args = p.parse_args(argv)
    if args.quick:
        args.reps, args.n, args.latency_n = 1, 2000, 200
        args.backlog, args.ceiling_requests = 10_000, 20_000
    if args.markdown is None:
        args.markdown = args.json.with_suffix(".md")
    args.only = {part.strip() for part in args.only.split(",") if part.strip()}
    unknown = args.only - {"ours", "peers", "ceiling"}
    if unknown:
        p.error(f"--only: unknown part(s) {sorted(unknown)}")
    keys = {part.strip() for part in args.libs.split(",") if part.strip()}
    if keys - {lib.key for lib in ALL}:
        p.error(
            f"--libs: unknown {sorted(keys - {lib.key for lib in ALL})}; known: "
            + ", ".join(lib.key for lib in ALL)
        )
    args.lib_keys = keys
    return args


def selected_libs(args: argparse.Namespace) -> list[Lib]:
    libs = []
    if "ours" in args.only:
        libs.append(OURS)
    if "peers" in args.only:
        libs += list(PEERS)
    if args.lib_keys:
        libs = [lib for lib in libs if lib.key in args.lib_keys]
    return libs


class Run:
    """One benchmark run: its server, its samples, its output files."""

    def __init__(self, args: argparse.Namespace, server: RedisServer, libs: list[Lib]) -> None:
        self.args = args
        self.server = server
        self.libs = libs
        self.samples: list[dict[str, Any]] = []
        self.meta = collect_meta(args, server, libs)

    def record(self, lib: str, figure: str, rep: int, result: dict[str, Any]) -> dict[str, Any]:
        sample = {"lib": lib, "figure": figure, "rep": rep, **result}
        self.samples.append(sample)
        shown = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in result.items()}
        print(f"  [{rep + 1}] {lib:14} {figure:12} {json.dumps(shown)[:220]}", flush=True)
        self.save()
        return result

    def step(
        self, lib: Lib, figure: str, command: str, n: int, rep: int, c: int | None = None
    ) -> bool:
        if command in ("enqueue", "bulk", "latency", "claim", "memory", "syncenqueue"):
            self.server.flush()  # every figure starts from an empty server
        result = run_step(
            lib, command, n, self.server.url, concurrency=c, timeout=self.args.timeout
        )
        if figure:
            self.record(lib.key, figure, rep, result)
        return result.get("status") == "ok"

    def library(self, lib: Lib, rep: int) -> None:
        n = self.args.n if lib.n_cap is None else min(self.args.n, lib.n_cap)
        first, *others = lib.drain_c
        if not self.step(lib, "enqueue", "enqueue", n, rep):
            self.server.flush()
            self.step(lib, "", "fill", n, rep)
        self.step(lib, f"drain:c{first}", "drain", n, rep, first)
        bulk_done = False
        for c in others:
            if lib.bulk and not bulk_done:
                bulk_done = True
                if not self.step(lib, "bulk", "bulk", n, rep):
                    self.server.flush()
                    self.step(lib, "", "fill", n, rep)
            else:
                self.server.flush()
                self.step(lib, "", "fill", n, rep)
            self.step(lib, f"drain:c{c}", "drain", n, rep, c)
        if lib.bulk and not bulk_done:
            self.step(lib, "bulk", "bulk", n, rep)
        self.step(lib, "latency", "latency", self.args.latency_n, rep, lib.latency_c)
        if lib.sync_enqueue is not None:
            sync_lib = dataclasses.replace(lib, module=lib.sync_enqueue)
            self.step(sync_lib, "sync-enqueue", "syncenqueue", n, rep)
        if lib is OURS:
            self.meta["src_fingerprints"].append([rep, src_fingerprint()])
            self.step(lib, "claim", "claim", self.args.backlog, rep)
            self.step(lib, "memory", "memory", self.args.n, rep)
            for c in (10, 50):
                result = run_step(
                    lib,
                    "memdrain",
                    self.args.n,
                    self.server.url,
                    concurrency=c,
                    timeout=self.args.timeout,
                )
                self.record("ours-memory", f"memdrain:c{c}", rep, result)
        self.server.flush()

    def ceiling(self, rep: int) -> None:
        for row in _ceiling.run_ceiling(self.server, self.args.ceiling_requests):
            name, pipeline = row.pop("test"), row.pop("pipeline", 0)
            self.record("redis-benchmark", f"{name}|P{pipeline}", rep, row)

    def go(self) -> None:
        available = [lib for lib in self.libs if lib.key not in self.meta["unavailable"]]
        for rep in range(self.args.reps):
            print(f"== repetition {rep + 1} of {self.args.reps}", flush=True)
            shift = rep % len(available) if available else 0
            for lib in available[shift:] + available[:shift]:
                print(f"-- {lib.label}", flush=True)
                self.library(lib, rep)
            if "ceiling" in self.args.only:
                print("-- redis-benchmark", flush=True)
                self.ceiling(rep)
        self.meta["finished"] = now()
        self.meta["loadavg_end"] = loadavg()

    def save(self) -> None:
        summary = _report.summarize(self.samples)
        data = {
            "meta": self.meta,
            "summary": summary,
            "targets": _report.targets(summary, self.args.backlog),
            "samples": self.samples,
        }
        self.args.json.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.args.json.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1, default=str))
        tmp.replace(self.args.json)

    def markdown(self) -> str:
        return _report.render(self.meta, self.samples)


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def loadavg() -> list[str]:
    try:
        return Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        return []


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def src_fingerprint() -> str:
    """A hash of every file under src/: tells whether ours changed mid-run."""
    digest = hashlib.sha1()
    for path in sorted((ROOT / "src").rglob("*")):
        if path.is_file() and "egg-info" not in str(path) and path.suffix in (".py", ".lua"):
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def git_commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    commit = done.stdout.strip() or "?"
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "src"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return commit + (" + uncommitted changes in src/" if dirty else "")


def collect_meta(args: argparse.Namespace, server: RedisServer, libs: list[Lib]) -> dict[str, Any]:
    unavailable = {}
    versions: dict[str, dict[str, str]] = {}
    for lib in libs:
        reason = _libs.probe(lib)
        if reason:
            unavailable[lib.key] = reason
            print(f"!! {lib.label}: not measured ({reason})", flush=True)
        versions[lib.key] = _libs.versions(lib.venv, list(lib.dists))
    info = server.info("server")
    return {
        "started": now(),
        "finished": None,
        "command": "scripts/bench " + " ".join(sys.argv[1:]) if sys.argv[1:] else "scripts/bench",
        "json": str(args.json.relative_to(ROOT) if args.json.is_relative_to(ROOT) else args.json),
        "machine": f"{os.cpu_count()} vCPU ({cpu_model()}), {platform.system()}",
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "redis_version": info.get("redis_version", "?"),
        "git_commit": git_commit(),
        "loadavg_start": loadavg(),
        "loadavg_end": None,
        "reps": args.reps,
        "n": args.n,
        "latency_n": args.latency_n,
        "backlog": args.backlog,
        "ceiling_requests": args.ceiling_requests,
        "timeout": args.timeout,
        "versions": versions,
        "unavailable": unavailable,
        "libs": [lib.key for lib in libs],
        "src_fingerprints": [],
        "only": sorted(args.only),
        "note": args.note,
    }


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def rerender(args: argparse.Namespace) -> int:
    data = json.loads(args.report.read_text())
    if args.note:
        data["meta"]["note"] = args.note
    report = _report.render(data["meta"], data["samples"])
    print(report)
    if args.markdown != args.json.with_suffix(".md"):
        args.markdown.write_text(report)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        return rerender(args)
    libs = selected_libs(args)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)  # also when started with SIGINT ignored
    started = time.monotonic()
    server = RedisServer()
    try:
        server.start()
        pid = server.process.pid if server.process else "?"
        print(f"private redis-server on 127.0.0.1:{server.port} (pid {pid})", flush=True)
        run = Run(args, server, libs)
        try:
            run.go()
        except KeyboardInterrupt:
            print("\ninterrupted: reporting what was measured", flush=True)
            run.meta["finished"] = now() + " (interrupted)"
            run.meta["loadavg_end"] = loadavg()
        finally:
            _libs.kill_current()
        run.save()
        report = run.markdown()
    finally:
        _libs.kill_current()
        server.stop()
    print()
    print(report)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(report)
    print(f"raw results: {args.json}; took {time.monotonic() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
