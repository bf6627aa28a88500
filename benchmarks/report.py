"""Markdown tables of medians, ratios to the fastest peer ORM and to the raw driver, the
noise of orm_kit's rounds, PERFORMANCE.md floors and issue 13's targets.

Floors and targets are set for PostgreSQL and SQLite (``TARGET_DIALECTS``); a MariaDB /
MySQL leg gets the same rates and ratios and says "no target set" instead of verdicts."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from benchmarks.runner import MEMORY_LOADS, MEMORY_METHOD, SETTLED_METHOD, Results
from benchmarks.workloads import FLOORS, WORKLOADS

__all__ = [
    "PEERS",
    "RAW_DRIVER",
    "TARGET_DIALECTS",
    "TITLES",
    "Target",
    "WorkloadLine",
    "fastest_peer",
    "geomean",
    "noise",
    "render",
    "summarize",
    "targets",
]

# Every implementation that may be measured, in column order.
TITLES = {
    "orm_kit": "orm_kit",
    "core": "SA Core",
    "orm": "SA ORM",
    "tortoise": "Tortoise",
    "piccolo": "Piccolo",
    "django": "Django",
    "asyncpg": "asyncpg",
    "aiosqlite": "aiosqlite",
    "asyncmy": "asyncmy",
}
# The peer ORMs orm_kit is to beat (not Core, not the raw driver).
PEERS = ("orm", "tortoise", "piccolo", "django")
RAW_DRIVER = {"postgresql": "asyncpg", "sqlite": "aiosqlite", "mysql": "asyncmy"}
COPY_KEY = ("asyncpg", "W2 COPY")

# Issue 13's "Done when" figures, per dialect; the dialects it (and the floors) cover.
TARGET_DIALECTS = ("postgresql", "sqlite")
EVERY_WORKLOAD_VS_PEER = 1.0
GEOMEAN_VS_PEER = {"postgresql": 1.4, "sqlite": 1.1}
GEOMEAN_VS_RAW = {"postgresql": 0.65, "sqlite": 0.55}
W2_VS_COPY = 0.7
W5_MAX_BYTES = 600.0

VARIANT_TITLES = {
    ("orm", "W2 insert(Model)+dicts"): "SA ORM `insert(Model)` + dicts (render_nulls)",
    COPY_KEY: "asyncpg `copy_records_to_table`",
}
# orm_kit's own variants, reported as variant / SA Core.
ORM_KIT_VARIANTS = {
    ("orm_kit", "W2 bulk_create call only (instances prebuilt)"): "vs Core",
}


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def _fmt_ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}x"


def geomean(values: Sequence[float]) -> float:
    """The geometric mean of positive rates."""
    return math.exp(sum(math.log(v) for v in values) / len(values))


def noise(rates: Sequence[float]) -> float | None:
    """The spread of one contender's rounds: (max - min) / median (``None`` for < 2)."""
    if len(rates) < 2:
        return None
    median = statistics.median(rates)
    return (max(rates) - min(rates)) / median if median else None


def fastest_peer(medians: Mapping[str, float | None]) -> tuple[str, float] | None:
    """The fastest peer ORM among ``medians`` (implementation name -> median rate)."""
    measured = [(medians[p], p) for p in PEERS if medians.get(p) is not None]
    if not measured:
        return None
    rate, name = max(measured)  # type: ignore[type-var]
    return name, rate  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class WorkloadLine:
    """One workload's medians and orm_kit's ratios."""

    workload: str
    medians: dict[str, float | None]
    peer: tuple[str, float] | None
    vs_peer: float | None
    vs_raw: float | None
    vs_core: float | None
    noise: float | None


@dataclass(frozen=True, slots=True)
class Target:
    """One of issue 13's targets and whether this run meets it."""

    label: str
    got: str
    passed: bool | None  # None: not measurable in this run


def summarize(
    rates: Mapping[tuple[str, str], Sequence[float]], workloads: Sequence[str], dialect: str
) -> list[WorkloadLine]:
    """Per workload: every implementation's median, the fastest peer and orm_kit's ratios."""
    names = {impl for impl, _ in rates}
    raw = RAW_DRIVER.get(dialect)
    out = []
    for wid in workloads:
        med = {
            n: (statistics.median(rates[n, wid]) if rates.get((n, wid)) else None)
            for n in TITLES
            if n in names
        }
        ours = med.get("orm_kit")
        peer = fastest_peer(med)
        out.append(
            WorkloadLine(
                workload=wid,
                medians=med,
                peer=peer,
                vs_peer=_ratio(ours, peer[1] if peer else None),
                vs_raw=_ratio(ours, med.get(raw) if raw else None),
                vs_core=_ratio(ours, med.get("core")),
                noise=noise(rates.get(("orm_kit", wid), ())),
            )
        )
    return out


def _geo(values: Sequence[float | None]) -> float | None:
    if not values or any(v is None or v <= 0 for v in values):
        return None
    return geomean([v for v in values if v is not None])


def targets(
    lines: Sequence[WorkloadLine],
    dialect: str,
    *,
    copy_rate: float | None = None,
    memory: Mapping[str, float] | None = None,
) -> list[Target]:
    """Issue 13's "Done when" targets checked against one run's figures (none for a
    dialect outside ``TARGET_DIALECTS``)."""
    out: list[Target] = []
    if dialect not in TARGET_DIALECTS:
        return out
    vs_peer = [(ln.workload, ln.vs_peer) for ln in lines]
    if any(r is None for _, r in vs_peer) or not vs_peer:
        out.append(Target("every workload ≥ 1.0x the fastest peer", "no peer measured", None))
    else:
        below = [f"{w} {r:.2f}x" for w, r in vs_peer if r is not None and r < 1.0]
        worst = min(r for _, r in vs_peer if r is not None)
        got = f"lowest {worst:.2f}x" + (f"; below: {', '.join(below)}" if below else "")
        out.append(Target("every workload ≥ 1.0x the fastest peer", got, not below))
    ours = _geo([ln.medians.get("orm_kit") for ln in lines])
    peers = _geo([ln.peer[1] if ln.peer else None for ln in lines])
    raw_name = RAW_DRIVER.get(dialect)
    raw = _geo([ln.medians.get(raw_name) for ln in lines]) if raw_name else None
    want_peer = GEOMEAN_VS_PEER.get(dialect)
    want_raw = GEOMEAN_VS_RAW.get(dialect)
    if want_peer is not None:
        r = _ratio(ours, peers)
        out.append(
            Target(
                f"geomean ≥ {want_peer:.2f}x the fastest peer (per-workload fastest rates)",
                _fmt_ratio(r),
                None if r is None else r >= want_peer,
            )
        )
    if want_raw is not None and raw_name is not None:
        r = _ratio(ours, raw)
        out.append(
            Target(
                f"geomean ≥ {want_raw:.2f}x raw {raw_name}",
                _fmt_ratio(r),
                None if r is None else r >= want_raw,
            )
        )
    if dialect == "postgresql":
        w2 = next((ln.medians.get("orm_kit") for ln in lines if ln.workload == "W2"), None)
        r = _ratio(w2, copy_rate)
        out.append(
            Target(
                f"W2 ≥ {W2_VS_COPY:.2f}x raw COPY",
                _fmt_ratio(r),
                None if r is None else r >= W2_VS_COPY,
            )
        )
    mem = (memory or {}).get("orm_kit")
    out.append(
        Target(
            f"W5 ≤ {W5_MAX_BYTES:.0f} B an object",
            "not measured" if mem is None else f"{mem:,.0f} B",
            None if mem is None else mem <= W5_MAX_BYTES,
        )
    )
    return out


def _verdict(passed: bool | None) -> str:
    return "n/a" if passed is None else ("PASS" if passed else "**FAIL**")


def _floor_cell(line: WorkloadLine) -> tuple[str, int, int]:
    floor = FLOORS[line.workload]
    got = _ratio(line.medians.get("orm_kit"), line.medians.get(floor.reference))
    if got is None:
        return "n/a", 0, 0
    if got >= floor.factor:
        return f"PASS ({got:.2f}x)", 1, 0
    return f"**FAIL** ({got:.2f}x)", 0, 1


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def render(
    results: Results,
    workloads: list[str],
    heading: str,
    dialect: str = "postgresql",
    notes: Sequence[str] = (),
) -> str:
    """The main table (W rows + geomean), the memory line, the targets, the variants
    table, notes and any warnings. Without targets for ``dialect`` (MariaDB / MySQL) the
    floor and result columns are left out and the targets line says so."""
    lines_ = summarize(results.rates, workloads, dialect)
    names = [n for n in TITLES if any(n in ln.medians for ln in lines_)]
    raw = RAW_DRIVER.get(dialect, "raw")
    head = [TITLES[n] for n in names]
    judged = dialect in TARGET_DIALECTS
    out = [
        heading,
        "",
        "| workload | unit | "
        + " | ".join(head)
        + f" | fastest peer | orm_kit/peer | orm_kit/{raw} | orm_kit/Core | noise"
        + (" | floor | result |" if judged else " |"),
        "|---|---|" + "---:|" * (len(head) + 5) + ("---|---|" if judged else ""),
    ]
    passed = failed = 0
    for ln in lines_:
        verdict, p, f = _floor_cell(ln)
        passed, failed = passed + p, failed + f
        unit = "rows/s" if WORKLOADS[ln.workload].per_row else "ops/s"
        peer = f"{TITLES[ln.peer[0]]} {_fmt(ln.peer[1])}" if ln.peer else "—"
        cells = [_fmt(ln.medians.get(n)) for n in names]
        extra = [
            peer,
            _fmt_ratio(ln.vs_peer),
            _fmt_ratio(ln.vs_raw),
            _fmt_ratio(ln.vs_core),
            _pct(ln.noise),
        ]
        title = f"{ln.workload} {WORKLOADS[ln.workload].title}"
        judgement = [FLOORS[ln.workload].label, verdict] if judged else []
        out.append(f"| {title} | {unit} | " + " | ".join([*cells, *extra, *judgement]) + " |")
    geo = {n: _geo([ln.medians.get(n) for ln in lines_]) for n in names}
    peer_geo = _geo([ln.peer[1] if ln.peer else None for ln in lines_])
    ours = geo.get("orm_kit")
    out.append(
        "| geomean | | "
        + " | ".join(_fmt(geo[n]) for n in names)
        + f" | per-workload fastest {_fmt(peer_geo)} | {_fmt_ratio(_ratio(ours, peer_geo))}"
        + f" | {_fmt_ratio(_ratio(ours, geo.get(raw)))}"
        + f" | {_fmt_ratio(_ratio(ours, geo.get('core')))} |"
        + (f" | | {passed} pass, {failed} fail |" if judged else " |")
    )
    out.append("")
    out.append(
        "Peers (for 'fastest peer'): the ORMs measured among "
        + ", ".join(TITLES[p] for p in PEERS)
        + "; not Core, not the raw driver. Noise: orm_kit's (max - min) / median over rounds."
    )
    if results.memory:
        mem = ", ".join(
            f"{TITLES.get(n, n)} {b:,.0f} B"
            for n, b in sorted(results.memory.items(), key=lambda kv: kv[1])
        )
        out += ["", f"W5 memory, bytes an object ({MEMORY_METHOD.format(n=MEMORY_LOADS)}): {mem}."]
    if results.memory_settled:
        settled = ", ".join(
            f"{TITLES.get(n, n)} {b:,.0f} B"
            for n, b in sorted(results.memory_settled.items(), key=lambda kv: kv[1])
        )
        out += ["", f"W5 memory settled ({SETTLED_METHOD}): {settled}."]
    copy_rate = None
    if COPY_KEY in results.rates:
        copy_rate = statistics.median(results.rates[COPY_KEY])
    if judged:
        out += ["", "Targets (issue 13, 'Done when'):", ""]
        out += [
            f"- {_verdict(t.passed)} — {t.label}: {t.got}"
            for t in targets(lines_, dialect, copy_rate=copy_rate, memory=results.memory)
        ]
    else:
        out += [
            "",
            "Targets: no target set for this backend (issue 13's targets and the floors are "
            "for PostgreSQL and SQLite): the ratios above are for comparison only.",
        ]
    out.extend(_variants(results, workloads))
    if notes:
        out += ["", "Notes:", *(f"- {n}" for n in notes)]
    if results.warnings:
        out += ["", "Warnings:", *(f"- {w}" for w in results.warnings)]
    return "\n".join(out)


def _median(results: Results, impl: str, key: str) -> float | None:
    rates = results.rates.get((impl, key))
    return statistics.median(rates) if rates else None


def _variants(results: Results, workloads: list[str]) -> list[str]:
    rows = []
    for (impl, key), title in VARIANT_TITLES.items():
        if key.split(" ", 1)[0] not in workloads or (impl, key) not in results.rates:
            continue
        value = _median(results, impl, key)
        ours = _median(results, "orm_kit", key.split(" ", 1)[0])
        rows.append(
            f"| {key.split(' ', 1)[0]} | {title} | {_fmt(value)} | "
            f"{_fmt_ratio(_ratio(ours, value))} |"
        )
    for (impl, key), results_key in ORM_KIT_VARIANTS.items():
        if (impl, key) not in results.rates or key.split(" ", 1)[0] not in workloads:
            continue
        value = _median(results, impl, key)
        core = _median(results, "core", key.split(" ", 1)[0])
        rows.append(
            f"| {key.split(' ', 1)[0]} | orm_kit {key.split(' ', 1)[1]} | {_fmt(value)} | "
            f"{results_key}: {_fmt_ratio(_ratio(value, core))} |"
        )
    if not rows:
        return []
    return ["", "| workload | variant | rows/s | orm_kit/variant |", "|---|---|---:|---:|", *rows]
