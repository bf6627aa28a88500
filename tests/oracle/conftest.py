"""Fixtures of the oracle test, and the summary line each backend's run prints."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict

import pytest

from orm_kit import Database
from tests.oracle.data import build_dataset
from tests.oracle.runner import BackendStats, Harness, Mismatch
from tests.oracle.settings import DATA_SEED, KEEP_GOING, describe_mode

STATS = pytest.StashKey[dict[str, BackendStats]]()
MAX_REPORTED = 40  # distinct mismatches printed per backend


@pytest.fixture
def oracle(db: Database, backend: str, request: pytest.FixtureRequest) -> Iterator[Harness]:
    """The harness for this backend: one per test, shared by all hypothesis examples."""
    stats = BackendStats(backend)
    runs = request.config.stash.setdefault(STATS, {})
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if not runs and capture is not None:
        # Printed up front too, so a run that is killed can still be replayed.
        with capture.global_and_fixture_disabled():
            print(f"\norm_kit oracle: {describe_mode()}")
    runs[request.node.nodeid] = stats
    harness = Harness(db, backend, build_dataset(DATA_SEED), stats)
    start = time.perf_counter()
    yield harness
    stats.seconds = time.perf_counter() - start


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    runs = terminalreporter.config.stash.get(STATS, {})
    if not runs:
        return
    terminalreporter.ensure_newline()  # after the progress line, not inside the section
    terminalreporter.section("orm_kit oracle")
    terminalreporter.write_line(describe_mode())
    for nodeid, s in runs.items():
        terminalreporter.write_line(
            f"{s.backend}: {s.examples} examples, {s.actions} actions, {s.queries} queries "
            f"({s.writes} writes), {s.seconds:.1f} s, {len(s.mismatches)} mismatches, "
            f"collation {s.collation} [{nodeid}]"
        )
        if s.reduction_queries:
            terminalreporter.write_line(
                f"  reducing the failing actions took {s.reduction_queries} more queries, "
                f"{s.reduction_seconds:.1f} s of the above"
            )
        if not s.text_order:
            terminalreporter.write_line(
                f"  collation {s.collation!r} does not sort by code point: {s.skipped} actions "
                "that order or compare text were skipped"
            )
        categories: dict[str, int] = {}
        for m in s.mismatches:
            categories[m.category] = categories.get(m.category, 0) + 1
        for name, n in sorted(categories.items()):
            terminalreporter.write_line(f"  {name}: {n}")
        if s.mismatches:
            # One report per distinct minimal reproduction, most frequent first.
            groups: dict[tuple[str, str], list[Mismatch]] = {}
            for m in s.mismatches:
                shown = m.minimal or m
                groups.setdefault((m.signature, shown.code), []).append(m)
            ranked = sorted(groups.values(), key=len, reverse=True)
            for group in ranked[:MAX_REPORTED]:
                best = min(group, key=lambda m: len(m.code))
                terminalreporter.write_line(f"{len(group)}x {best.report()}")
            if len(ranked) > MAX_REPORTED:
                terminalreporter.write_line(
                    f"... and {len(ranked) - MAX_REPORTED} more (ORM_KIT_FUZZ_REPORT=file.json "
                    "writes them all)"
                )
    path = os.environ.get("ORM_KIT_FUZZ_REPORT")
    if path:
        dump = {k: [asdict(m) for m in s.mismatches] for k, s in runs.items()}
        with open(path, "w", encoding="utf-8") as out:
            json.dump(dump, out, indent=1, default=str)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under ORM_KIT_FUZZ_KEEP_GOING=1 the test records mismatches instead of failing:
    fail the run here when there were any."""
    runs = session.config.stash.get(STATS, {})
    if KEEP_GOING and any(s.mismatches for s in runs.values()) and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
