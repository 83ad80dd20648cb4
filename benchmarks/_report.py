"""Medians, spreads, the markdown tables and the target checks.

A cell is the median over repetitions of one figure; ``±x%`` is half the
(max - min) range relative to the median. Failed repetitions (timeout,
lost or duplicated jobs, errors) are left out of the median and named in
the cell.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

from benchmarks._ceiling import NAMES
from benchmarks._libs import ALL, OURS, Lib

Sample = dict[str, Any]


def stat(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    median = statistics.median(values)
    spread = (max(values) - min(values)) / 2 / median * 100 if median else 0.0
    return {"median": median, "spread_pct": spread, "min": min(values), "max": max(values)}


def summarize(samples: list[Sample]) -> dict[str, dict[str, Any]]:
    """``{"lib|figure": {metric: stat, "problems": [...], "reps": k}}``."""
    grouped: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        grouped[f"{sample['lib']}|{sample['figure']}"].append(sample)
    summary: dict[str, dict[str, Any]] = {}
    for key, group in grouped.items():
        entry: dict[str, Any] = {"reps": len(group), "problems": []}
        # duplicates are reported but timed as usual (the N-th call came at most
        # a few calls early); lost jobs, timeouts and errors have no figure
        good = [s for s in group if s.get("status") in ("ok", "duplicates")]
        for sample in group:
            if sample.get("status") not in ("ok", "unsupported"):
                entry["problems"].append(_problem(sample))
        metrics = {m for s in good for m, v in s.items() if isinstance(v, int | float)}
        for metric in sorted(metrics - {"rep", "n", "calls", "pipeline"}):
            entry[metric] = stat([float(s[metric]) for s in good if metric in s])
        if group and all(s.get("status") == "unsupported" for s in group):
            entry["unsupported"] = True
        summary[key] = entry
    return summary


def _problem(sample: Sample) -> str:
    status = sample.get("status", "?")
    text = f"rep {sample.get('rep', '?') + 1}: {status}"
    if "calls" in sample and "n" in sample:
        text = f"rep {sample.get('rep', 0) + 1}: {sample['calls']:,} handler calls for "
        text += f"{sample['n']:,} jobs ({status})"
    elif sample.get("error"):
        text += f" ({str(sample['error'])[-120:]})"
    return text


# -- formatting --------------------------------------------------------------------------


def _num(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def fmt(entry: dict[str, Any] | None, metric: str, digits: int = 0, suffix: str = "") -> str:
    if entry is None:
        return "–"
    if entry.get("unsupported"):
        return "no API"
    value = entry.get(metric)
    cell = (
        "n/a"
        if value is None
        else f"{_num(value['median'], digits)}{suffix} ±{value['spread_pct']:.0f}%"
    )
    if entry["problems"]:
        cell += " (" + "; ".join(entry["problems"]) + ")"
    return cell


def _entry(summary: dict[str, dict[str, Any]], lib: str, figure: str) -> dict[str, Any] | None:
    return summary.get(f"{lib}|{figure}")


def _median(summary: dict[str, dict[str, Any]], lib: str, figure: str, metric: str) -> float | None:
    entry = _entry(summary, lib, figure)
    if entry is None or entry.get(metric) is None:
        return None
    value: float = entry[metric]["median"]
    return value


def _drain_cell(summary: dict[str, dict[str, Any]], lib: Lib, index: int, nominal: int) -> str:
    if index >= len(lib.drain_c):
        return "–"
    c = lib.drain_c[index]
    cell = fmt(_entry(summary, lib.key, f"drain:c{c}"), "rate")
    return cell if c == nominal else f"c={c}: {cell}"


def _latency_cell(summary: dict[str, dict[str, Any]], lib: Lib) -> str:
    entry = _entry(summary, lib.key, "latency")
    if entry is None:
        return "–"
    p50 = fmt({**entry, "problems": []}, "p50_ms", 2)
    p99 = fmt(entry, "p99_ms", 2)
    return f"{p50} / {p99}" + ("" if lib.latency_c == 10 else f" (c={lib.latency_c})")


def library_table(summary: dict[str, dict[str, Any]], libs: list[Lib], meta: dict[str, Any]) -> str:
    head = (
        "| library | version | worker setting | enqueue jobs/s (1 awaited call per job) "
        "| bulk enqueue jobs/s (batches of 1,000) | drain jobs/s, c=10 | drain jobs/s, c=50 "
        "| latency p50 / p99 ms (c=10) | notes |\n|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for lib in libs:
        version = " / ".join(
            f"{d} {meta['versions'].get(lib.key, {}).get(d, '?')}" for d in lib.dists[:2]
        )
        if lib.key in meta.get("unavailable", {}):
            why = meta["unavailable"][lib.key]
            rows.append(
                f"| {lib.label} | {version} | {lib.setting} | n/a | n/a | n/a | n/a | n/a | {why} |"
            )
            continue
        enqueue = fmt(_entry(summary, lib.key, "enqueue"), "rate")
        bulk = fmt(_entry(summary, lib.key, "bulk"), "rate") if lib.bulk else "no API"
        notes = lib.notes
        offered = _median(summary, lib.key, "latency", "offered")
        if offered:
            notes += f" Latency offered load ≈{offered:,.0f} jobs/s."
        n = meta["n"] if lib.n_cap is None else min(meta["n"], lib.n_cap)
        if n != meta["n"]:
            notes += f" N={n:,} (fits the step time bound)."
        cells = [lib.label, version, lib.setting, enqueue, bulk]
        cells += [_drain_cell(summary, lib, 0, 10), _drain_cell(summary, lib, 1, 50)]
        cells += [_latency_cell(summary, lib), notes]
        rows.append("| " + " | ".join(cells) + " |")
    if OURS not in libs:
        return head + "\n".join(rows) + "\n"
    memory = [
        "**ours** (queue_memory)",
        f"queue-toolkit {meta['versions'].get('ours', {}).get('queue-toolkit', '?')}",
        "in-process, no Redis; concurrency=c",
        "–",
        "–",
        fmt(_entry(summary, "ours-memory", "memdrain:c10"), "rate"),
        fmt(_entry(summary, "ours-memory", "memdrain:c50"), "rate"),
        "–",
        "The reference in-memory driver (no I/O): the runtime's own ceiling.",
    ]
    rows.append("| " + " | ".join(memory) + " |")
    return head + "\n".join(rows) + "\n"


def ours_table(summary: dict[str, dict[str, Any]], meta: dict[str, Any]) -> str:
    claim = _entry(summary, "ours", "claim")
    memory = _entry(summary, "ours", "memory")
    backlog = meta["backlog"]
    rows = [
        ("claim latency, empty topic: p50 / p99 µs", _pair(claim, "empty_p50_us", "empty_p99_us")),
        (
            f"claim latency, {backlog:,} delayed jobs over the whole int32 priority range: "
            "p50 / p99 µs",
            _pair(claim, "backlog_p50_us", "backlog_p99_us"),
        ),
        ("claim latency ratio backlog / empty (p50)", fmt(claim, "ratio", 2, "x")),
        (
            "Redis memory per waiting job beyond its 100-byte payload: ready / delayed (bytes)",
            _pair(memory, "ready_overhead_bytes", "delayed_overhead_bytes"),
        ),
        (
            "the same with a `traceparent` header (66 bytes of header): ready (bytes)",
            fmt(memory, "headers_bytes_per_job"),
        ),
        (
            "Redis memory per idempotency record (an explicit id remembered after its job "
            "ended, bytes)",
            fmt(memory, "record_bytes"),
        ),
    ]
    text = "| figure (ours) | median ± half-range |\n|---|---|\n"
    return text + "".join(f"| {name} | {value} |\n" for name, value in rows)


def _pair(entry: dict[str, Any] | None, first: str, second: str) -> str:
    if entry is None:
        return "–"
    return f"{fmt({**entry, 'problems': []}, first)} / {fmt(entry, second)}"


def sync_table(summary: dict[str, dict[str, Any]], libs: list[Lib]) -> str:
    """Sync enqueue: one blocking call per job from a thread without an
    event loop (ours: ``SyncQueueService.enqueue``)."""
    rows = [lib for lib in libs if lib.sync_enqueue is not None]
    if not rows:
        return ""
    text = (
        "Sync enqueue, one blocking call per job from a plain thread (ours: "
        "`SyncQueueService.enqueue`; Dramatiq: `actor.send`; RQ: `queue.enqueue`):\n\n"
        "| library | sync enqueue jobs/s | µs per call: mean | p50 / p99 |\n|---|---|---|---|\n"
    )
    for lib in rows:
        entry = _entry(summary, lib.key, "sync-enqueue")
        text += (
            f"| {lib.label} | {fmt(entry, 'rate')} | {fmt(entry, 'mean_us')} | "
            f"{_pair(entry, 'p50_us', 'p99_us')} |\n"
        )
    return text


def ceiling_table(summary: dict[str, dict[str, Any]], names: list[str]) -> str:
    text = "| redis-benchmark test (50 clients) | -P 1 req/s (p50 ms) | -P 16 req/s (p50 ms) |\n"
    text += "|---|---|---|\n"
    for name in names:
        cells = []
        for pipeline in (1, 16):
            entry = _entry(summary, "redis-benchmark", f"{name}|P{pipeline}")
            p50 = _median(summary, "redis-benchmark", f"{name}|P{pipeline}", "p50_ms")
            cell = fmt(entry, "rps")
            cells.append(cell + (f" ({p50:.3f})" if p50 is not None else ""))
        text += f"| {name} | {cells[0]} | {cells[1]} |\n"
    return text


# -- targets -----------------------------------------------------------------------------


def targets(summary: dict[str, dict[str, Any]], backlog: int = 100_000) -> list[dict[str, Any]]:
    """Each speed and memory target checked against this run's medians."""
    checks: list[dict[str, Any]] = []

    def check(
        name: str,
        measured: float | None,
        goal: float,
        *,
        at_most: bool = False,
        unit: str = "",
        detail: str = "",
    ) -> None:
        if measured is None:
            checks.append({"target": name, "measured": None, "met": None, "detail": detail})
            return
        met = measured <= goal if at_most else measured >= goal
        checks.append(
            {
                "target": name,
                "measured": measured,
                "goal": goal,
                "met": met,
                "unit": unit,
                "detail": detail,
            }
        )

    drains = [_median(summary, "ours", f"drain:c{c}", "rate") for c in OURS.drain_c]
    ours_drain = max((d for d in drains if d is not None), default=None)
    check(
        "drain >= 10,000 no-op jobs/s, one worker process (best of c=10, c=50)",
        ours_drain,
        10_000,
        unit="jobs/s",
    )
    best_peer, best_name = None, ""
    for lib in ALL:
        if lib is OURS or not lib.acked:
            continue
        for c in lib.drain_c:
            rate = _median(summary, lib.key, f"drain:c{c}", "rate")
            if rate is not None and (best_peer is None or rate > best_peer):
                best_peer, best_name = rate, f"{lib.label} c={c}"
    ratio = ours_drain / best_peer if ours_drain and best_peer else None
    check(
        "drain >= 5x the best acked peer's drain",
        ratio,
        5.0,
        unit="x",
        detail=f"best acked peer: {best_name} {best_peer:,.0f} jobs/s" if best_peer else "",
    )
    check(
        "bulk enqueue >= 50,000 jobs/s",
        _median(summary, "ours", "bulk", "rate"),
        50_000,
        unit="jobs/s",
    )

    def compare(
        name: str,
        ours: float | None,
        peer: float | None,
        peer_label: str,
        goal: float,
        *,
        at_most: bool = False,
        digits: int = 0,
        unit: str = "jobs/s",
    ) -> None:
        """A target on the ratio of ours to a peer's figure."""
        if ours is None or not peer:
            check(name, None, goal, at_most=at_most, unit="x")
            return
        detail = f"ours {ours:,.{digits}f} vs {peer_label} {peer:,.{digits}f} {unit}"
        check(name, ours / peer, goal, at_most=at_most, unit="x", detail=detail)

    ours_enqueue = _median(summary, "ours", "enqueue", "rate")
    bull = _median(summary, "bullmq", "enqueue", "rate")
    compare("single awaited enqueue >= 1.3x BullMQ-py", ours_enqueue, bull, "BullMQ", 1.3)
    dramatiq = [
        _median(summary, "dramatiq", figure, "rate") for figure in ("enqueue", "sync-enqueue")
    ]
    dramatiq_best = max((d for d in dramatiq if d is not None), default=None)
    compare(
        "single awaited enqueue >= Dramatiq's sync enqueue (the better of its two figures)",
        ours_enqueue,
        dramatiq_best,
        "Dramatiq",
        1.0,
    )
    compare(
        "sync producer (SyncQueueService.enqueue) >= Dramatiq's sync enqueue",
        _median(summary, "ours", "sync-enqueue", "rate"),
        dramatiq_best,
        "Dramatiq",
        1.0,
    )
    for metric in ("p50_ms", "p99_ms"):
        best, best_label = None, ""
        for lib in ALL:
            value = _median(summary, lib.key, "latency", metric) if lib.acked else None
            if lib is not OURS and value is not None and (best is None or value < best):
                best, best_label = value, lib.label
        compare(
            f"latency {metric[:3]} <= the best acked peer's",
            _median(summary, "ours", "latency", metric),
            best,
            best_label,
            1.0,
            at_most=True,
            digits=2,
            unit="ms",
        )
    check(
        "latency p50 <= 1 ms at light load",
        _median(summary, "ours", "latency", "p50_ms"),
        1.0,
        at_most=True,
        unit="ms",
    )
    check(
        "latency p99 <= 3 ms at light load",
        _median(summary, "ours", "latency", "p99_ms"),
        3.0,
        at_most=True,
        unit="ms",
    )
    check(
        f"claim latency with {backlog:,} delayed jobs <= 1.5x empty (p50)",
        _median(summary, "ours", "claim", "ratio"),
        1.5,
        at_most=True,
        unit="x",
    )
    mem_drains = [_median(summary, "ours-memory", f"memdrain:c{c}", "rate") for c in (10, 50)]
    check(
        "queue_memory drain >= 50,000 jobs/s (best of c=10, c=50)",
        max((d for d in mem_drains if d is not None), default=None),
        50_000,
        unit="jobs/s",
    )
    check(
        "Redis memory per waiting job < 300 bytes beyond payload",
        _median(summary, "ours", "memory", "ready_overhead_bytes"),
        300,
        at_most=True,
        unit="bytes",
    )
    check(
        "Redis memory per delayed job < 300 bytes beyond payload",
        _median(summary, "ours", "memory", "delayed_overhead_bytes"),
        300,
        at_most=True,
        unit="bytes",
    )
    return checks


def targets_table(checks: list[dict[str, Any]]) -> str:
    text = "| target | measured (this run, medians) | met |\n|---|---|---|\n"
    for c in checks:
        if c["measured"] is None:
            value, met = "n/a", "n/a"
        else:
            digits = 2 if c["unit"] in ("x", "ms") else 0
            value = f"{c['measured']:,.{digits}f} {c['unit']}".strip()
            met = "**met**" if c["met"] else "not met"
        if c.get("detail"):
            value += f" ({c['detail']})"
        text += f"| {c['target']} | {value} | {met} |\n"
    return text


# -- the whole report ----------------------------------------------------------------------


def render(meta: dict[str, Any], samples: list[Sample]) -> str:
    """The markdown report of one run (from its meta data and raw samples)."""
    summary = summarize(samples)
    keys = meta.get("libs") or sorted({s["lib"] for s in samples})
    libs = [lib for lib in ALL if lib.key in keys]
    only = set(meta.get("only") or ["ours", "peers", "ceiling"])
    lines = [
        f"Measured {meta['started']} – {meta['finished']} on {meta['machine']}; "
        f"git {meta['git_commit']}; Python {meta['python']}, Redis {meta['redis_version']} "
        "(private instance, no persistence, flushed before each figure); load average "
        f"(1/5/15 min) at start {'/'.join(meta['loadavg_start'])}, at end "
        f"{'/'.join(meta['loadavg_end'] or [])}. Producer, worker and redis-server share "
        f"the same {meta['cpus']} cores. {meta.get('note') or ''}{_changed(meta)}".rstrip(),
        "",
        f"Every cell is the median of {meta['reps']} repetitions (interleaved across "
        "libraries); `±x%` is half the max−min range relative to the median. "
        f"N={meta['n']:,} no-op jobs per throughput figure unless noted. Drain: N jobs "
        "already waiting, one worker process started fresh, timed from its start call "
        "to the N-th handler call; handlers count their calls, and a count other than N "
        f"is named in the cell. Latency: {meta['latency_n']:,} jobs enqueued one at a "
        "time by a separate process ~1 ms apart, each carrying its enqueue time; p50/p99 "
        "of handler entry minus enqueue time.",
        "",
    ]
    if only & {"ours", "peers"}:
        lines.append(library_table(summary, libs, meta))
    sync = sync_table(summary, libs)
    if sync:
        lines.append(sync)
    if OURS in libs:
        lines.append(ours_table(summary, meta))
        lines += ["Targets, checked on this run's medians:", ""]
        lines.append(targets_table(targets(summary, meta["backlog"])))
    if "ceiling" in only:
        lines.append(ceiling_table(summary, list(NAMES)))
    lines.append(f"Reproduce: `{meta['command']}` (raw samples: `{meta['json']}`).")
    return "\n".join(lines) + "\n"


def _changed(meta: dict[str, Any]) -> str:
    prints = {fingerprint for _, fingerprint in meta.get("src_fingerprints") or []}
    if len(prints) < 2:
        return ""
    return f" Note: src/ changed during the run ({len(prints)} versions measured across reps)."
