"""The pytest plugin (a ``pytest11`` entry point, loaded in every pytest run where orm_kit is
installed): it adds the ``--orm-kit-db`` option and the ``orm_database`` / ``orm_session``
fixtures, and does nothing else unless a test asks for one of them."""

from __future__ import annotations

import pytest

try:
    # Module attributes of a plugin are its fixtures: importing them registers them.
    from orm_kit.testing.fixtures import (  # noqa: F401
        OPTION,
        URL_VARIABLE,
        _orm_session_class,
        _orm_session_function,
        _orm_session_module,
        _orm_session_package,
        _orm_session_session,
        orm_database,
        orm_session,
    )
except ModuleNotFoundError as exc:  # pragma: no cover - without the testing extra
    if exc.name != "pytest_asyncio":
        raise
    OPTION, URL_VARIABLE = "--orm-kit-db", "ORM_KIT_TEST_DATABASE_URL"
    _MISSING = "orm_kit's test fixtures need pytest-asyncio: pip install 'orm_kit[testing]'."

    @pytest.fixture(name="orm_database", scope="session")
    def _orm_database_missing() -> None:
        raise pytest.UsageError(_MISSING)

    @pytest.fixture(name="orm_session")
    def _orm_session_missing() -> None:
        raise pytest.UsageError(_MISSING)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("orm_kit")
    group.addoption(
        OPTION,
        dest="orm_kit_db",
        default=None,
        metavar="URL",
        help=(
            f"Database URL of orm_kit's orm_database fixture (else ${URL_VARIABLE}, "
            "else in-memory SQLite)."
        ),
    )
