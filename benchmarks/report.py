"""Markdown tables of medians, ratios and PERFORMANCE.md floors."""

from __future__ import annotations

import math
import statistics

from benchmarks.runner import Results
from benchmarks.workloads import FLOORS, WORKLOADS

__all__ = ["render"]

COLUMNS = (
    ("orm_kit", "orm_kit"),
    ("core", "SA Core"),
    ("orm", "SA ORM"),
    ("tortoise", "Tortoise"),
    ("asyncpg", "asyncpg"),
)
# orm_kit's rate is divided by each of these, in its own column.
RATIO_TO = (("core", "Core"), ("orm", "ORM"), ("tortoise", "Tortoise"))
VARIANT_TITLES = {
    ("orm", "W2 insert(Model)+dicts"): "SA ORM `insert(Model)` + dicts (render_nulls)",
    ("asyncpg", "W2 COPY"): "asyncpg `copy_records_to_table`",
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


def _geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


def _median(results: Results, impl: str, key: str) -> float | None:
    rates = results.rates.get((impl, key))
    return statistics.median(rates) if rates else None


def render(results: Results, workloads: list[str], heading: str) -> str:
    """The main table (W rows + geomean), the variants table and any warnings."""
    measured = {impl for impl, _ in results.rates}
    columns = [c for c in COLUMNS if c[0] in measured]
    ratio_to = [r for r in RATIO_TO if r[0] in measured]
    head = [c[1] for c in columns]
    lines = [
        heading,
        "",
        "| workload | unit | "
        + " | ".join(head)
        + "".join(f" | orm_kit/{title}" for _, title in ratio_to)
        + " | floor | result |",
        "|---|---|" + "---:|" * (len(head) + len(ratio_to)) + "---|---|",
    ]
    per_impl: dict[str, list[float]] = {name: [] for name, _ in columns}
    passed = failed = 0
    for wid in workloads:
        med = {name: _median(results, name, wid) for name, _ in columns}
        for name, value in med.items():
            if value is not None:
                per_impl[name].append(value)
        floor = FLOORS[wid]
        got = _ratio(med["orm_kit"], med.get(floor.reference))
        if got is None:
            verdict = "n/a"
        elif got >= floor.factor:
            verdict, passed = f"PASS ({got:.2f}x)", passed + 1
        else:
            verdict, failed = f"**FAIL** ({got:.2f}x)", failed + 1
        unit = "rows/s" if WORKLOADS[wid].per_row else "ops/s"
        cells = [_fmt(med[name]) for name, _ in columns]
        ratios = [_fmt_ratio(_ratio(med["orm_kit"], med[r])) for r, _ in ratio_to]
        title = f"{wid} {WORKLOADS[wid].title}"
        lines.append(
            f"| {title} | {unit} | " + " | ".join([*cells, *ratios, floor.label, verdict]) + " |"
        )
    geo = {
        name: _geomean(vals) if vals and len(vals) == len(workloads) else None
        for name, vals in per_impl.items()
    }
    geo_ratios = [_fmt_ratio(_ratio(geo["orm_kit"], geo[r])) for r, _ in ratio_to]
    lines.append(
        "| geomean | | "
        + " | ".join([*(_fmt(geo[n]) for n, _ in columns), *geo_ratios])
        + f" | | {passed} pass, {failed} fail |"
    )
    lines.extend(_variants(results, workloads))
    if results.warnings:
        lines += ["", "Warnings:", *(f"- {w}" for w in results.warnings)]
    return "\n".join(lines)


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
