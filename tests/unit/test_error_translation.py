"""How driver errors become orm_kit errors, where no server is needed to show it."""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

from orm_kit import DatabaseUnavailableError, ValidationError
from orm_kit.exceptions import translate_error


class InternalClientError(Exception):
    """Stands for asyncpg's protocol-state error ("another operation is in progress")."""


def test_an_error_on_a_connection_the_dialect_found_closed_says_it_was_lost() -> None:
    # What asyncpg raises when the server ended the connection under a server-side cursor:
    # a protocol-state error, which SQLAlchemy's dialect marks invalidated (is_closed()).
    driver = InternalClientError("cannot switch to state 15; another operation (2) is in progress")
    error = sa_exc.InternalError("FETCH FORWARD 5", {}, driver, connection_invalidated=True)
    translated = translate_error(error, operation="iterate")
    assert isinstance(translated, DatabaseUnavailableError)
    assert "the connection was lost while it ran (InternalClientError" in str(translated)
    assert "retry" in str(translated)


def test_an_error_on_a_live_connection_is_not_called_lost() -> None:
    driver = InternalClientError("cannot switch to state 15; another operation (2) is in progress")
    error = sa_exc.InternalError("FETCH FORWARD 5", {}, driver, connection_invalidated=False)
    translated = translate_error(error, operation="iterate")
    assert "connection was lost" not in str(translated)


def test_a_compile_error_is_a_validation_error_that_says_what_to_declare() -> None:
    error = sa_exc.CompileError(
        "(in table 'post', column 'title'): VARCHAR requires a length on dialect mysql"
    )
    translated = translate_error(error, operation="create_all")
    assert isinstance(translated, ValidationError)
    assert "column 'title'" in str(translated) and "String(255)" in str(translated)
    other = translate_error(
        sa_exc.CompileError("Unconsumed column names: nope"), operation="update"
    )
    assert isinstance(other, ValidationError) and "nope" in str(other)
    assert "String(255)" not in str(other)
