"""The differential oracle: random query sequences through orm_kit and through a Python
model of the documented semantics (tests/oracle/semantics.py), on every backend.

One test per backend runs every example on the same engine, so statement caches stay
warm: a statement one query compiled must never be served for another. The sequences in
tests/oracle/regressions.py run first. See tests/oracle/settings.py for the bounded run
(``make test``) and the long one (``make fuzz``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import example, given

from tests.oracle.describe import Action
from tests.oracle.regressions import REGRESSIONS
from tests.oracle.runner import Harness
from tests.oracle.sequences import actions
from tests.oracle.settings import KEEP_GOING, describe_mode, hypothesis_settings, seeded


def regression_examples(test: Callable[..., Any]) -> Callable[..., Any]:
    """``@example(sequence=...)`` for every sequence in REGRESSIONS, in order."""
    for sequence in reversed(list(REGRESSIONS.values())):
        test = example(sequence=sequence)(test)
    return test


@pytest.mark.fuzz
@seeded()
@hypothesis_settings()
@regression_examples
@given(sequence=actions())
async def test_queries_match_the_oracle(oracle: Harness, sequence: list[Action]) -> None:
    found = await oracle.example(sequence)
    if found and not KEEP_GOING:
        name = next((n for n, s in REGRESSIONS.items() if s == sequence), None)
        where = f"regression example {name!r}" if name else describe_mode()
        report = "\n".join(m.report() for m in found)
        pytest.fail(
            f"orm_kit disagrees with the oracle on {oracle.backend} ({where}):\n{report}",
            pytrace=False,
        )
