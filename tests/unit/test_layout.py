"""The package's shape, pinned: where driver errors are translated, and module sizes.

The import layers themselves are import-linter contracts in pyproject.toml (`make lint`).
"""

from __future__ import annotations

import re
from pathlib import Path

import orm_kit

PACKAGE = Path(orm_kit.__file__).parent
MODULES = sorted(PACKAGE.rglob("*.py"))

# The one choke point on the execution path, and the session layer's own boundaries
# (connect, schema changes, health / info; commit, rollback, savepoint).
TRANSLATING = {
    "query/executor.py",
    "database.py",
    "unit_of_work.py",
}
_TRANSLATE_CALL = re.compile(r"\btranslate(?:d|_error)\(")


def _relative(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def test_modules_are_found() -> None:
    assert len(MODULES) > 30
    assert "query/executor.py" in {_relative(p) for p in MODULES}


def test_errors_are_translated_only_at_the_choke_points() -> None:
    calling = {
        _relative(path)
        for path in MODULES
        if _relative(path) != "exceptions.py" and _TRANSLATE_CALL.search(path.read_text())
    }
    assert calling == TRANSLATING


def test_the_executor_translates_in_one_place() -> None:
    source = (PACKAGE / "query" / "executor.py").read_text()
    assert len(_TRANSLATE_CALL.findall(source)) == 1


def test_no_module_is_over_600_lines() -> None:
    sizes = {_relative(path): len(path.read_text().splitlines()) for path in MODULES}
    assert {name: n for name, n in sizes.items() if n > 600} == {}


def test_docstrings_use_markdown_not_sphinx_roles() -> None:
    # mkdocstrings renders Markdown: a :class:`...` role would show up literally.
    role = re.compile(r":(?:class|func|meth|mod|data|attr|exc):`")
    assert [_relative(p) for p in MODULES if role.search(p.read_text())] == []
