"""The throughput issue's table, filled from one `make bench` report.

Each row: the figure as the issue measured it before the rebuild (its baseline), what
this run measured, the issue's target, and whether the run reached the floor the issue
sets for calling the work done (5x the baseline; for the whole system at 100/s, p99
under 250 ms) and the target. The ceilings measured in the same run (PostgreSQL raw
inserts, Kafka produce/consume) come first, and the machine is stated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Report = dict[str, Any]


def get(tree: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


@dataclass(frozen=True)
class Row:
    figure: str
    baseline: str
    target: str
    #: (what this run measured as text, floor met (None: no floor), target met); None when
    #: not measured
    measure: Callable[[Report], tuple[str, bool | None, bool] | None]


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _latency(report: Report, instances: int, rate: int, hop: str) -> dict[str, Any] | None:
    found = get(report, "system", f"instances_{instances}", "paced", f"{rate}_per_s", hop)
    return found if isinstance(found, dict) else None


def _system_deadlines(rate: int, floor_ms: float | None, target_ms: float) -> Row:
    def measure(r: Report) -> tuple[str, bool | None, bool] | None:
        hop = _latency(r, 1, rate, "submission_to_deadlines")
        accepted = get(r, "system", "instances_1", "paced", f"{rate}_per_s", "load")
        p99 = _num(get(hop, "p99_ms"))
        if hop is None or p99 is None:
            return None
        text = (
            f"{get(accepted, 'accepted_per_s')}/s accepted;"
            f" p50 {hop['p50_ms']:.0f} ms, p99 {p99:.0f} ms"
        )
        warm = _num(get(r, "system", "instances_1", "warmup", "seconds"))
        if warm:
            text += f" (after {warm:g} s of warm-up)"
        floor = None if floor_ms is None else p99 < floor_ms
        return text, floor, p99 <= target_ms

    floor = "p99 < 250 ms" if floor_ms else "-"
    return Row(
        f"whole system, submission -> deadlines, {rate}/s offered",
        "20/s: p99 104 ms; 40/s: p99 3.8 s (collapses)",
        f"p99 <= {target_ms:.0f} ms at 300/s; floor {floor}",
        measure,
    )


def _intake_paced(r: Report) -> tuple[str, bool, bool] | None:
    rate, p99 = (
        _num(get(r, "intake", "paced", "accepted_per_s")),
        _num(get(r, "intake", "paced", "p99_ms")),
    )
    if rate is None or p99 is None:
        return None
    return f"{rate:.0f}/s accepted, p99 {p99:.0f} ms", rate >= 5 * 54, p99 <= 25


def _intake_flood(r: Report) -> tuple[str, bool, bool] | None:
    rate = _num(get(r, "intake", "flood", "accepted_per_s"))
    ceiling = _num(get(r, "intake", "postgres_ceiling", "inserts_per_s"))
    if rate is None or not ceiling:
        return None
    share = rate / ceiling
    text = f"{rate:.0f}/s vs {ceiling:.0f}/s ({share:.1%})"
    return text, rate >= 5 * 91, rate >= 2000 and share >= 0.2


def _handoffs(r: Report) -> tuple[str, bool, bool] | None:
    rate = _num(get(r, "routing", "routed", "flood", "handoffs_per_s"))
    cpu = get(r, "routing", "routed", "flood", "routing_cpu_ms_per_handoff")
    if rate is None:
        return None
    return f"{rate:.0f}/s ({cpu} ms CPU each)", rate >= 5 * 360, rate >= 1000


def _handoff_latency(r: Report) -> tuple[str, bool, bool] | None:
    p99 = _num(get(r, "routing", "routed", "paced", "target", "end_to_end_per_handoff", "p99_ms"))
    if p99 is None:
        return None
    return f"p99 {p99:.0f} ms", p99 <= 956 / 5, p99 <= 50


def _first_inbox(r: Report) -> tuple[str, bool, bool] | None:
    hop = _latency(r, 1, 200, "submission_to_first_inbox")
    rate = _num(get(r, "system", "instances_1", "paced", "200_per_s", "load", "accepted_per_s"))
    p99 = _num(get(hop, "p99_ms"))
    if rate is None or p99 is None:
        return None
    return f"{rate:.0f}/s achieved, p99 {p99:.0f} ms", rate >= 5 * 38, p99 <= 50


def _notify(r: Report) -> tuple[str, bool, bool] | None:
    rate = _num(get(r, "notify", "messages_per_second"))
    cpu = get(r, "notify", "notify_cpu_ms_per_message")
    if rate is None:
        return None
    return f"{rate:.0f}/s ({cpu} ms CPU each)", rate >= 5 * 126, rate >= 1000


def _chains(r: Report) -> tuple[str, bool, bool] | None:
    ours = get(r, "chain", "tasks")
    theirs = get(r, "flowable", "tasks")
    if not isinstance(ours, dict) or not isinstance(theirs, dict):
        return None
    our_rate = ours["chains_completed"] / ours["seconds"]
    their_rate = theirs["chains_completed"] / theirs["seconds"]
    text = f"ours {our_rate:.0f} chains/s; Flowable {their_rate:.0f} chains/s"
    return text, our_rate >= 5 * 10, our_rate > their_rate


def _timers(r: Report) -> tuple[str, bool, bool] | None:
    rate = _num(get(r, "sla", "throughput", "fired_per_second"))
    p99 = _num(get(r, "sla", "latency", "p99_ms"))
    opened = get(r, "sla", "open_deadlines")
    if rate is None or p99 is None:
        return None
    text = f"{opened:,} open: {rate:,.0f} fired/s, p99 {p99:.0f} ms late"
    return text, rate >= 5 * 14_397, rate >= 20_000 and p99 <= 50 and (opened or 0) >= 10**7


def _instances(r: Report, *where: str) -> tuple[str, bool, bool] | None:
    """Floor: two instances of each service carry what one does; target: faster too."""
    rates, p99s, parts = [], [], []
    for n in (1, 2):
        phase = get(r, "system", *where, f"instances_{n}", "paced", "300_per_s")
        if not isinstance(phase, dict):
            return None
        rate = _num(phase["load"]["accepted_per_s"]) or 0.0
        p99 = _num(phase["submission_to_deadlines"]["p99_ms"]) or float("inf")
        rates.append(rate)
        p99s.append(p99)
        parts.append(f"{n}x: {rate:.0f}/s, p99 {p99:.0f} ms")
    return "; ".join(parts), rates[1] >= 0.95 * rates[0], p99s[1] <= p99s[0]


def _overload(r: Report) -> tuple[str, bool, bool] | None:
    phase = get(r, "system", "instances_1", "overload")
    if not isinstance(phase, dict):
        return None
    load, count = phase["load"], phase["count"]
    p99 = _num(load.get("p99_ms")) or 0.0
    refused = load.get("http_503") or 0
    every_once = count["accepted"] == count["routed_once"] == count["own_deadline_once"]
    every_once = every_once and count["accepted"] == count["each_first_task_assigned_once"]
    stored_once = count["stored_by_intake_in_phase"] == count["accepted"]
    text = (
        f"{phase['offered_per_s']:.0f}/s offered: {load['accepted']} accepted (p99 {p99:.0f} ms),"
        f" {refused} x 503 ({load.get('http_503_with_retry_after')} with Retry-After);"
        f" routed once {count['routed_once']}/{count['accepted']},"
        f" stored {count['stored_by_intake_in_phase']}"
    )
    ok = p99 <= 1000 and every_once and stored_once
    ok = ok and refused == (load.get("http_503_with_retry_after") or 0)
    return text, ok, ok


def _console_inbox(r: Report) -> tuple[str, bool | None, bool] | None:
    first = get(r, "console_inbox", "first_page")
    p50, p99 = _num(get(first, "p50_ms")), _num(get(first, "p99_ms"))
    if p50 is None or p99 is None:
        return None
    tasks = get(r, "console_inbox", "tasks")
    return f"{tasks:,} tasks: p50 {p50:.0f} ms, p99 {p99:.0f} ms", None, p99 <= 300


ROWS = (
    _system_deadlines(100, 250, 100),
    _system_deadlines(300, None, 100),
    Row(
        "intake alone, 500/s offered",
        "54/s, p99 13 s",
        ">= 2,000/s flood; p99 <= 25 ms",
        _intake_paced,
    ),
    Row(
        "intake flood vs PostgreSQL ceiling", "91/s vs 9,457/s (1%)", ">= 20% of it", _intake_flood
    ),
    Row("routing hand-offs, flood", "360/s (1.7 ms CPU)", ">= 1,000/s", _handoffs),
    Row("routing hand-off latency at 200/s", "p99 956 ms", "p99 <= 50 ms", _handoff_latency),
    Row("submission -> first inbox, 200/s", "38/s, p99 27 s", "p99 <= 50 ms", _first_inbox),
    Row("notify, with dedupe and receipts", "126/s (5.1 ms CPU)", ">= 1,000/s", _notify),
    Row("two-unit chain, 8 clients", "10/s; Flowable 92/s", "ahead of Flowable", _chains),
    Row("SLA timers", "1 M: 14,397/s, p99 28 ms", "10 M: >= 20,000/s, p99 <= 50 ms", _timers),
    Row("1 vs 2 instances per service, 300/s, one broker", "-", "scales out", _instances),
    Row(
        "1 vs 2 instances per service, 300/s, 3 brokers",
        "-",
        "scales out",
        lambda r: _instances(r, "cluster"),
    ),
    Row("overload at 5x", "nothing shed", "p99 <= 1 s; 503 + Retry-After; routed once", _overload),
    Row(
        "console inbox, first page of a 10,000-task unit",
        "200 rows, no more; one SLA call per row",
        "p99 <= 300 ms",
        _console_inbox,
    ),
)


def ceilings(report: Report) -> str:
    pg = get(report, "intake", "postgres_ceiling", "inserts_per_s")
    kafka = get(report, "routing", "kafka_ceiling")
    parts = [f"PostgreSQL raw inserts {pg}/s" if pg else "PostgreSQL ceiling not measured"]
    if isinstance(kafka, dict):
        parts.append(
            f"Kafka produce {kafka['produce_per_s']}/s, consume {kafka['consume_per_s']}/s"
        )
    return "Ceilings in this run: " + "; ".join(parts) + "."


def issue_table(report: Report) -> str:
    m = report["machine"]
    lines = [
        f"Throughput (issue 10). Machine: {m['cpus']} CPUs, {m['cpu_model']}, {m['sharing']}"
        f" (load average {m['load_average']} at start).",
        ceilings(report),
        f"{'figure':<56}{'baseline':<48}{'this run':<72}{'floor':<7}{'target'}",
    ]
    for row in ROWS:
        measured = row.measure(report)
        if measured is None:
            lines.append(f"{row.figure:<56}{row.baseline:<48}{'not measured':<72}{'-':<7}-")
            continue
        text, floor, target = measured
        lines.append(
            f"{row.figure:<56}{row.baseline:<48}{text:<72}"
            f"{'-' if floor is None else 'met' if floor else 'NOT':<7}"
            f"{'met' if target else 'not met'} ({row.target})"
        )
    return "\n".join(lines)
