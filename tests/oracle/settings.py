"""How long the oracle runs: a fixed-seed bounded run by default, a long random one under
``ORM_KIT_FUZZ=1``.

* ``ORM_KIT_FUZZ=1``: random seed (printed in the summary), ``ORM_KIT_FUZZ_EXAMPLES``
  examples (default 2000: over 10,000 queries per backend);
  ``ORM_KIT_FUZZ_SEED=<n>`` replays a run.
* ``ORM_KIT_FUZZ_KEEP_GOING=1``: record every mismatch and go on (the summary lists them,
  the run still fails) instead of failing at the first example that has one.
* ``ORM_KIT_FUZZ_SHRINK=1``: let hypothesis shrink a failing example. Off by default:
  caches stay warm across examples, so a replayed example may behave differently.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, Phase, seed, settings

__all__ = ["DATA_SEED", "FUZZ", "KEEP_GOING", "describe_mode", "hypothesis_settings", "seeded"]

FUZZ = os.environ.get("ORM_KIT_FUZZ") == "1"
KEEP_GOING = os.environ.get("ORM_KIT_FUZZ_KEEP_GOING") == "1"
SHRINK = os.environ.get("ORM_KIT_FUZZ_SHRINK") == "1"
BOUNDED_EXAMPLES = 600
FUZZ_EXAMPLES = int(os.environ.get("ORM_KIT_FUZZ_EXAMPLES") or 2000)
FUZZ_SEED = int(os.environ.get("ORM_KIT_FUZZ_SEED") or random.SystemRandom().randrange(2**32))
DATA_SEED = FUZZ_SEED if FUZZ else 0
"""Seeds the extra rows of the dataset (the designed rows are always there)."""


def hypothesis_settings() -> settings:
    phases = [Phase.explicit, Phase.generate] + ([Phase.shrink] if SHRINK else [])
    return settings(
        max_examples=FUZZ_EXAMPLES if FUZZ else BOUNDED_EXAMPLES,
        derandomize=not FUZZ,
        database=None,
        deadline=None,
        phases=phases,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,  # the harness lives across examples on purpose
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
        print_blob=False,
    )


def seeded() -> Callable[[Any], Any]:
    """``@seed(FUZZ_SEED)`` in fuzz mode (bounded runs are derandomized instead)."""
    if FUZZ:
        return seed(FUZZ_SEED)
    return lambda fn: fn


def describe_mode() -> str:
    if FUZZ:
        return (
            f"fuzz run: seed {FUZZ_SEED} (replay with ORM_KIT_FUZZ=1 ORM_KIT_FUZZ_SEED={FUZZ_SEED} "
            f"ORM_KIT_FUZZ_EXAMPLES={FUZZ_EXAMPLES}), {FUZZ_EXAMPLES} examples per backend"
        )
    return (
        f"bounded run: derandomized, {BOUNDED_EXAMPLES} examples per backend (make fuzz for more)"
    )
