"""The benchmark report's arithmetic (benchmarks/report.py, benchmarks/check.py), on made-up
rates: fastest peer, ratios, noise, geomeans, issue 13's targets and bench-check floors.
No database and no timing."""

from __future__ import annotations

import pytest

from benchmarks.check import CHECK_FLOORS, CheckFloor, check_lines, render_check
from benchmarks.report import fastest_peer, noise, render, summarize, targets
from benchmarks.runner import Results
from benchmarks.workloads import WORKLOADS

ALL = list(WORKLOADS)


def _rates(per_impl: dict[str, float], workloads: list[str] = ALL) -> dict:
    """Three rounds per (impl, workload) around ``rate``: 0.9x, 1.0x, 1.1x."""
    return {
        (impl, wid): [rate * 0.9, rate, rate * 1.1]
        for impl, rate in per_impl.items()
        for wid in workloads
    }


def test_fastest_peer_ignores_core_and_the_raw_driver() -> None:
    medians = {"orm_kit": 50.0, "core": 900.0, "asyncpg": 990.0, "orm": 30.0, "piccolo": 70.0}
    assert fastest_peer(medians) == ("piccolo", 70.0)
    assert fastest_peer({"orm_kit": 1.0, "core": 2.0}) is None


def test_noise_is_spread_over_median() -> None:
    assert noise([90.0, 100.0, 130.0]) == pytest.approx(0.4)
    assert noise([100.0]) is None


def test_summary_ratios_per_workload() -> None:
    rates = _rates({"orm_kit": 200.0, "core": 100.0, "tortoise": 160.0, "orm": 80.0})
    rates.update(_rates({"aiosqlite": 400.0}))
    line = summarize(rates, ["W3"], "sqlite")[0]
    assert line.peer == ("tortoise", 160.0)
    assert line.vs_peer == pytest.approx(1.25)
    assert line.vs_raw == pytest.approx(0.5)
    assert line.vs_core == pytest.approx(2.0)
    assert line.noise == pytest.approx(0.2)


def _verdicts(found: list) -> dict[str, bool | None]:
    return {t.label.split(" ", 2)[0] + " " + t.label.split(" ", 2)[1]: t.passed for t in found}


def test_targets_pass_on_postgresql() -> None:
    rates = _rates({"orm_kit": 150.0, "tortoise": 100.0, "piccolo": 90.0, "asyncpg": 200.0})
    lines = summarize(rates, ALL, "postgresql")
    found = targets(lines, "postgresql", copy_rate=200.0, memory={"orm_kit": 550.0})
    assert [t.passed for t in found] == [True, True, True, True, True]
    assert "1.50x" in found[1].got  # geomean 150 / per-workload fastest 100


def test_targets_fail_on_postgresql() -> None:
    rates = _rates({"orm_kit": 120.0, "tortoise": 100.0, "asyncpg": 200.0})
    rates[("piccolo", "W6")] = [130.0, 130.0, 130.0]  # one workload lost to a peer
    lines = summarize(rates, ALL, "postgresql")
    found = targets(lines, "postgresql", copy_rate=200.0, memory={"orm_kit": 743.0})
    every, geo_peer, geo_raw, copy, memory = found
    assert every.passed is False and "W6 0.92x" in every.got
    assert geo_peer.passed is False  # ~1.21x < 1.4x
    assert geo_raw.passed is False  # 0.60x < 0.65x
    assert copy.passed is False  # 0.60x < 0.70x
    assert memory.passed is False and "743 B" in memory.got


def test_sqlite_targets_are_weaker_and_have_no_copy() -> None:
    rates = _rates({"orm_kit": 120.0, "tortoise": 100.0, "aiosqlite": 200.0})
    lines = summarize(rates, ALL, "sqlite")
    found = targets(lines, "sqlite", memory={})
    labels = [t.label for t in found]
    assert not any("COPY" in label for label in labels)
    assert [t.passed for t in found] == [True, True, True, None]  # 1.2 ≥ 1.1, 0.6 ≥ 0.55


def test_targets_without_peers_are_not_measurable() -> None:
    lines = summarize(_rates({"orm_kit": 1.0, "core": 1.0}), ALL, "sqlite")
    assert targets(lines, "sqlite")[0].passed is None


def test_render_prints_every_implementation_and_verdicts() -> None:
    results = Results(
        rates=_rates({"orm_kit": 120.0, "core": 100.0, "orm": 90.0, "piccolo": 110.0}),
        memory={"orm_kit": 700.0, "piccolo": 500.0},
    )
    results.rates.update(_rates({"asyncpg": 300.0}))
    out = render(results, ALL, "### test", "postgresql", ["a note"])
    header = next(line for line in out.splitlines() if line.startswith("| workload"))
    for title in ("orm_kit", "SA Core", "SA ORM", "Piccolo", "asyncpg", "fastest peer", "noise"):
        assert title in header
    assert "Piccolo 110" in out
    assert "per-workload fastest 110" in out
    assert "**FAIL** — W5 ≤ 600 B an object: 700 B" in out
    assert "PASS — every workload ≥ 1.0x the fastest peer" in out
    assert "n/a — W2 ≥ 0.70x raw COPY" in out  # no COPY variant measured
    assert "- a note" in out


def test_bench_check_floors_cover_every_workload() -> None:
    for floors in CHECK_FLOORS.values():
        assert set(floors) == set(WORKLOADS)


def test_bench_check_compares_best_rounds_against_floors() -> None:
    rates = {
        # Best rounds 300 / 280 = 1.07x; the ratio of medians would say 0.50x.
        ("orm_kit", "W3"): [100.0, 300.0, 60.0],
        ("core", "W3"): [95.0, 280.0, 200.0],
        ("orm_kit", "W4"): [80.0, 88.0, 85.0],
        ("core", "W4"): [100.0, 100.0, 100.0],
    }
    floors = {"W3": CheckFloor(1.0), "W4": CheckFloor(0.9, measured=True)}
    w3, w4 = check_lines(rates, ["W3", "W4"], floors)
    assert w3.passed and w3.ratio == pytest.approx(300 / 280)
    assert not w4.passed and w4.ratio == pytest.approx(0.88)  # floor 0.90
    out = render_check("### check", [w3, w4])
    assert "0.90x (today)" in out and "**FAIL**" in out and "1 pass, 1 fail" in out
