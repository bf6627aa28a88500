"""Run every script in examples/ as its own process, on SQLite and on PostgreSQL.

Each example reads ``DATABASE_URL``, creates its own tables (none of them share a name
with the models in ``tests/models.py``) and must exit 0 and print what it did.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.py"))
TIMEOUT = 60

# Lines the quickstart must print (it is what `make demo` shows a newcomer).
QUICKSTART_LINES = [
    "Created 4 customers; Ann has id 1",
    "top two:  [('Cleo', 7), ('Bob', 3)]",
    "update:   2 customers in Oslo got one more order",
    "Q:        ['Bob', 'Cleo']",
    "delete:   removed 1 customer without a city; 3 remain",
]


# Lines other examples must print: what their docs pages show.
EXPECTED_LINES = {
    "errors": [
        "ValidationError: Supplier.email expects a str, not int; pass a value of the column's "
        "type.",
        "ValidationError: '_sa_instance_state' is not a field of Supplier; valid fields: "
        "country, email, id.",
    ],
    "lookups": [
        "contains 'Blue':     ['Blue Monday']",
        "icontains 'blue':    ['Blue Monday', 'blue in green']",
        "startswith 'So':     ['So What']",
        "exclude(genre=jazz): ['Blue Monday', 'Untitled']",
        "filter(genre=F):     ['Blue Monday', 'blue in green', 'So What']",
        "exclude(genre=F):    ['Untitled']",
        "ValidationError:     Track.seconds expects an integer, not str; pass a value of the "
        "column's type.",
        "ValidationError:     Track.seconds expects an integer from -2147483648 to 2147483647 "
        "(Integer), not int; pass a value of the column's type.",
        "ValidationError:     The 'in' lookup on Track.genre needs a list, tuple or set of "
        "values or a QuerySet, not str.",
        "ValidationError:     Track.released expects a date (not a datetime), not str; pass a "
        "value of the column's type.",
    ],
    "managers": [
        "objects.published():      2",
        "published().popular(200): ['Hello']",
        "filter(...).published():  ['Deep dive']",
        "popular()...[:1]:         ['Old news']",
        "featured.published():     ['Hello']",
        "manager class:            ManagerFromArticleQuerySet",
        "from_queryset() is it:    True",
        "after filter():           ArticleQuerySet",
        "values_list(flat=True):   ['Deep dive', 'Hello']",
    ],
}


def run_example(path: Path, url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(EXAMPLES_DIR.parent)}
    env.pop("PYTHONSAFEPATH", None)
    return subprocess.run(
        [sys.executable, str(path)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def test_examples_are_found() -> None:
    assert EXAMPLES_DIR / "quickstart.py" in EXAMPLES


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs(
    example: Path, backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url: str = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "postgres_url")
    # Twice: every example resets its own tables, so a rerun must work as well.
    for attempt in (1, 2):
        proc = run_example(example, url, tmp_path)
        assert proc.returncode == 0, (
            f"{example.name} on {backend} (run {attempt}) exited with {proc.returncode}\n"
            f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
        )
        assert proc.stdout.strip(), f"{example.name} printed nothing\n{proc.stderr}"
    if example.stem == "quickstart":
        assert f"Connected to {backend}" in proc.stdout
        for line in QUICKSTART_LINES:
            assert line in proc.stdout, f"missing {line!r} in:\n{proc.stdout}"
    for line in EXPECTED_LINES.get(example.stem, []):
        assert line in proc.stdout, f"missing {line!r} in:\n{proc.stdout}"


def test_quickstart_default_database(tmp_path: Path) -> None:
    """With no DATABASE_URL the quickstart uses ./orm_kit.db in the working directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    env["PYTHONPATH"] = str(EXAMPLES_DIR.parent)
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES_DIR / "quickstart.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Connected to sqlite" in proc.stdout
    assert (tmp_path / "orm_kit.db").exists()
