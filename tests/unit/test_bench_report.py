"""The benchmark report's arithmetic (benchmarks/report.py, benchmarks/check.py), on made-up
rates: fastest peer, ratios, noise, geomeans, issue 13's targets and bench-check floors,
and the MariaDB leg's table (ratios, no targets) and command line. No database and no
timing."""

from __future__ import annotations

import pytest

from benchmarks.check import CHECK_FLOORS, CheckFloor, check_lines, render_check
from benchmarks.report import fastest_peer, noise, render, summarize, targets
from benchmarks.run import implementations, mysql_url, parse_args
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


def test_mysql_summary_takes_asyncmy_as_the_raw_driver() -> None:
    rates = _rates({"orm_kit": 100.0, "core": 80.0, "tortoise": 125.0, "asyncmy": 400.0})
    line = summarize(rates, ["W3"], "mysql")[0]
    assert line.peer == ("tortoise", 125.0)
    assert line.vs_peer == pytest.approx(0.8)
    assert line.vs_raw == pytest.approx(0.25)
    assert line.vs_core == pytest.approx(1.25)


def test_mysql_has_no_targets() -> None:
    rates = _rates({"orm_kit": 150.0, "tortoise": 100.0, "asyncmy": 200.0})
    lines = summarize(rates, ALL, "mysql")
    assert targets(lines, "mysql", memory={"orm_kit": 500.0}) == []


def test_render_mysql_prints_ratios_without_verdicts() -> None:
    results = Results(
        rates=_rates({"orm_kit": 90.0, "core": 100.0, "orm": 60.0, "tortoise": 120.0}),
        memory={"orm_kit": 700.0, "tortoise": 550.0},
    )
    results.rates.update(_rates({"asyncmy": 360.0}))
    out = render(results, ALL, "### MariaDB 10.11.19", "mysql", ["a note"])
    rows = out.splitlines()
    header = next(line for line in rows if line.startswith("| workload"))
    cells = [c.strip() for c in header.strip("|").split("|")]
    assert cells == [
        "workload",
        "unit",
        "orm_kit",
        "SA Core",
        "SA ORM",
        "Tortoise",
        "asyncmy",
        "fastest peer",
        "orm_kit/peer",
        "orm_kit/asyncmy",
        "orm_kit/Core",
        "noise",
    ]
    separator = rows[rows.index(header) + 1]
    assert separator.count("|") == header.count("|")
    w3 = next(line for line in rows if line.startswith("| W3 "))
    assert w3.count("|") == header.count("|")
    assert "| Tortoise 120 | 0.75x | 0.25x | 0.90x |" in w3
    geomean = next(line for line in rows if line.startswith("| geomean"))
    assert geomean.count("|") == header.count("|")
    assert "per-workload fastest 120 | 0.75x | 0.25x | 0.90x |" in geomean
    # Ratios only: no floors, no verdicts, and a line saying no target is set.
    assert "PASS" not in out and "FAIL" not in out and "n/a" not in out
    assert "≥" not in out
    assert "no target set for this backend" in out
    assert "COPY" not in out
    assert "W5 memory, bytes an object" in out and "orm_kit 700 B" in out
    assert "- a note" in out


def test_render_postgresql_keeps_floor_and_result_columns() -> None:
    results = Results(rates=_rates({"orm_kit": 120.0, "core": 100.0, "asyncpg": 300.0}))
    out = render(results, ["W3"], "### test", "postgresql")
    rows = out.splitlines()
    header = next(line for line in rows if line.startswith("| workload"))
    assert header.endswith("| noise | floor | result |")
    for line in rows[rows.index(header) :]:
        if line.startswith("|"):
            assert line.count("|") == header.count("|"), line
    assert "no target set" not in out


def test_mysql_leg_contenders_and_url() -> None:
    names = [impl.name for impl in implementations("mysql")]
    assert names[:3] == ["orm_kit", "core", "orm"]
    assert names[-1] == "asyncmy"
    assert "piccolo" not in names and "django" not in names
    assert mysql_url("mysql://u:p@db:3307/bench") == "mysql+asyncmy://u:p@db:3307/bench"
    assert mysql_url("mariadb://u@db/bench") == "mysql+asyncmy://u@db/bench"
    with pytest.raises(ValueError, match="mysql"):
        mysql_url("postgresql+asyncpg://u@db/bench")


def test_mysql_flag_default_and_explicit_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORM_KIT_BENCH_MYSQL_URL", raising=False)
    assert parse_args([]).mysql is None
    explicit = parse_args(["--mysql", "mysql://root@h:3306/b"])
    assert explicit.mysql == "mysql+asyncmy://root@h:3306/b"
    assert parse_args(["--mysql"]).mysql == "mysql+asyncmy://root@127.0.0.1:3306/orm_kit_bench"
    monkeypatch.setenv("ORM_KIT_BENCH_MYSQL_URL", "mariadb://bench@db/b")
    assert parse_args(["--mysql"]).mysql == "mysql+asyncmy://bench@db/b"


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
