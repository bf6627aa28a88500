"""The orm_kit exception tree and the one place driver errors are translated.

::

    ORMKitError
     ├── NotFoundError                 (each Model.DoesNotExist subclasses it)
     ├── MultipleObjectsReturned       (each Model.MultipleObjectsReturned subclasses it)
     ├── ConflictError                 unique / foreign-key / not-null / check violation
     ├── InvalidLookupError            unknown field, relation or lookup
     ├── RelationNotLoadedError        a relationship that would lazy-load under asyncio
     ├── ReadOnlyError                 a write to a read-only model
     ├── ValidationError               bad values or names handed to a model or manager
     ├── DatabaseUnavailableError      cannot connect, pool timeout, connection lost
     ├── DatabaseError                 anything else the driver raised
     └── SyncUsageError                orm_kit.sync used where it cannot work

The original exception is always kept on ``__cause__``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import Any, Literal

from sqlalchemy import PrimaryKeyConstraint, UniqueConstraint
from sqlalchemy import exc as sa_exc

# No handler of its own, not even a NullHandler: in an application that configures no
# logging (a plain `uvicorn app:app`), WARNING and ERROR records still reach stderr through
# Python's last-resort handler instead of vanishing.
logger = logging.getLogger("orm_kit")

retry_pending: ContextVar[bool] = ContextVar("orm_kit_retry_pending", default=False)
"""True inside an attempt of ``transaction(retries=N)`` that has retries left: its
serialization failures and deadlocks are logged at INFO as "will retry", not as failures."""

_RETRIED_SQLSTATES = ("40001", "40P01")

__all__ = [
    "ConflictError",
    "DatabaseError",
    "DatabaseUnavailableError",
    "InvalidLookupError",
    "MultipleObjectsReturned",
    "NotFoundError",
    "ORMKitError",
    "ReadOnlyError",
    "RelationNotLoadedError",
    "SyncUsageError",
    "ValidationError",
    "mysql_error_code",
    "note_failed_cleanup",
    "raw_use",
    "retry_pending",
    "sqlstate_of",
    "translate_error",
    "translated",
]


class ORMKitError(Exception):
    """Base class of every error orm_kit raises."""


class NotFoundError(ORMKitError):
    """No row matched a query that needs exactly one."""


class MultipleObjectsReturned(ORMKitError):  # noqa: N818 - Django parity name
    """More than one row matched a query that needs exactly one."""


class ConflictError(ORMKitError):
    """A write violated a unique, foreign-key, not-null or check constraint.

    Attributes:
        constraint: The name of the violated constraint when it can be known, else ``None``.
        kind: One of ``"unique"``, ``"foreign_key"``, ``"not_null"``, ``"check"`` or
            ``"integrity"`` when the driver does not say which.
    """

    def __init__(self, message: str, *, constraint: str | None = None, kind: str = "integrity"):
        super().__init__(message)
        self.constraint = constraint
        self.kind = kind


class InvalidLookupError(ORMKitError):
    """A field, relation or lookup named in a query does not exist on the model."""


class RelationNotLoadedError(ORMKitError):
    """A relationship was touched that was not loaded; async code cannot lazy-load it."""


class ReadOnlyError(ORMKitError):
    """A write was attempted on a read-only model."""


class ValidationError(ORMKitError):
    """Values or names handed to a model, manager or QuerySet are not acceptable."""


class DatabaseUnavailableError(ORMKitError):
    """The database cannot be used: connection refused or lost, pool timeout, not connected."""


class DatabaseError(ORMKitError):
    """Any other error reported by the database driver."""


class SyncUsageError(ORMKitError):
    """The blocking facade (``orm_kit.sync``) was used where it cannot work.

    Raised when it is called from its own event-loop thread (code already running under
    ``orm_kit.sync``, which would wait for itself forever), inside a ``sync.session()``
    block whose unit of work was cancelled by a timeout or an interrupt, or when its loop
    stopped while a call was waiting.
    """


# --- translation ------------------------------------------------------------------------

# NOTE(postgresql): asyncpg reports SQLSTATE and the constraint name on the original error.
_PG_SQLSTATE_KIND = {
    "23505": "unique",
    "23503": "foreign_key",
    "23502": "not_null",
    "23514": "check",
}

# NOTE(sqlite): SQLite reports only a message; the constraint name is derived from it.
_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (?P<cols>.+)$")
_SQLITE_NOT_NULL = re.compile(r"NOT NULL constraint failed: (?P<cols>.+)$")
_SQLITE_CHECK = re.compile(r"CHECK constraint failed: (?P<name>.+)$")


# NOTE(mysql): MariaDB / MySQL report an error code and a message naming the constraint,
# except for a primary key ('PRIMARY'), whose name is derived from the model. MySQL 8
# prefixes a unique key with its table ('user.uq_user_email').
_MYSQL_KIND = {1062: "unique", 1451: "foreign_key", 1452: "foreign_key", 1048: "not_null"}
_MYSQL_KIND |= {1364: "not_null", 4025: "check", 3819: "check", 1557: "unique"}
_MYSQL_DUPLICATE = re.compile(r"for key '(?:[^'.]*\.)?(?P<name>[^']+)'")
_MYSQL_FOREIGN_KEY = re.compile(r"CONSTRAINT [`\"](?P<name>[^`\"]+)[`\"] FOREIGN KEY")
_MYSQL_CHECK = re.compile(r"(?:CONSTRAINT [`\"]|Check constraint ')(?P<name>[^`\"']+)")
# Deadlock and lock wait timeout: a transaction worth retrying, as PostgreSQL's 40001 / 40P01.
_MYSQL_SQLSTATES = {1213: "40001", 1205: "40001"}


def mysql_error_code(driver: BaseException) -> int | None:
    """The MariaDB / MySQL error code of a driver error (asyncmy's ``args[0]``), else None."""
    if not type(driver).__module__.startswith(("asyncmy", "pymysql")):
        return None
    code = driver.args[0] if driver.args else None
    return code if isinstance(code, int) else None


def sqlstate_of(driver: BaseException) -> str:
    """The SQLSTATE of a driver error ('' when unknown); MariaDB / MySQL's deadlock and lock
    wait timeout read as serialization failures (40001)."""
    code = mysql_error_code(driver)
    if code in _MYSQL_SQLSTATES:
        return _MYSQL_SQLSTATES[code]
    state = getattr(driver, "sqlstate", None) or getattr(driver, "pgcode", None)
    return str(state) if state else ""


def _mysql_conflict(code: int, text: str, model: type[Any] | None) -> tuple[str, str | None]:
    kind = _MYSQL_KIND.get(code, "integrity")
    constraint: str | None = None
    if kind == "unique" and (m := _MYSQL_DUPLICATE.search(text)):
        constraint = m["name"]
        if constraint == "PRIMARY":
            table: Any = getattr(model, "__table__", None)
            pk = table.primary_key.name if table is not None else None
            constraint = str(pk) if pk else None
    elif kind in ("foreign_key", "check"):
        pattern = _MYSQL_FOREIGN_KEY if kind == "foreign_key" else _MYSQL_CHECK
        m = pattern.search(text)
        constraint = m["name"] if m else None
    return kind, constraint


def _find_driver_error(exc: BaseException) -> BaseException:
    orig = getattr(exc, "orig", None)
    # SQLAlchemy's async adapters wrap the driver exception once more.
    while (
        orig is not None
        and getattr(orig, "__cause__", None) is not None
        and (type(orig).__module__.startswith("sqlalchemy"))
    ):
        orig = orig.__cause__
    return orig if orig is not None else exc


def _declared_unique_name(model: type[Any] | None, table: str, columns: list[str]) -> str | None:
    """The name of the primary key, unique constraint or unique index of ``model``'s
    table over exactly ``columns``, if the model's table is ``table``."""
    declared: Any = getattr(model, "__table__", None)
    if declared is None or declared.name != table:
        return None
    wanted = set(columns)
    candidates = [
        *(
            c
            for c in declared.constraints
            if isinstance(c, PrimaryKeyConstraint | UniqueConstraint)
        ),
        *(i for i in declared.indexes if i.unique),
    ]
    for candidate in candidates:
        if candidate.name and {c.name for c in candidate.columns} == wanted:
            return str(candidate.name)
    return None


def _sqlite_unique_name(cols: str, model: type[Any] | None) -> str | None:
    # "user.email" or "item.a, item.b" -> uq_user_email / uq_item_a_b (the naming convention).
    parts = [c.strip() for c in cols.split(",")]
    tables = {p.split(".", 1)[0] for p in parts if "." in p}
    if len(tables) != 1:
        return None
    table = tables.pop()
    columns = [p.split(".", 1)[1] for p in parts]
    # NOTE(sqlite): a primary-key violation reads "UNIQUE constraint failed: user.id" too;
    # the model's table knows it is pk_user, as PostgreSQL reports.
    declared = _declared_unique_name(model, table, columns)
    return declared if declared is not None else f"uq_{table}_{'_'.join(columns)}"


def _conflict_from_integrity(exc: BaseException, model: type[Any] | None) -> ConflictError:
    driver = _find_driver_error(exc)
    sqlstate = getattr(driver, "sqlstate", None)
    text = str(driver).strip().splitlines()[0] if str(driver).strip() else type(driver).__name__
    mysql_code = mysql_error_code(driver)
    if mysql_code is not None:
        kind, constraint = _mysql_conflict(mysql_code, text, model)
    elif sqlstate is not None:
        kind = _PG_SQLSTATE_KIND.get(str(sqlstate), "integrity")
        constraint = getattr(driver, "constraint_name", None)
    else:
        kind, constraint = "integrity", None
        if m := _SQLITE_UNIQUE.search(text):
            kind, constraint = "unique", _sqlite_unique_name(m["cols"], model)
        elif m := _SQLITE_NOT_NULL.search(text):
            kind, constraint = "not_null", None
        elif m := _SQLITE_CHECK.search(text):
            kind, constraint = "check", m["name"].strip()
        elif "FOREIGN KEY constraint failed" in text:
            kind = "foreign_key"
    label = {
        "unique": "A unique constraint",
        "foreign_key": "A foreign-key constraint",
        "not_null": "A NOT NULL constraint",
        "check": "A check constraint",
    }.get(kind, "An integrity constraint")
    named = f" ({constraint})" if constraint else ""
    return ConflictError(
        f"{label}{named} was violated: {text}. Nothing from this statement was kept "
        "(inside a session, roll it back); change the conflicting values and try again.",
        constraint=constraint,
        kind=kind,
    )


_UNAVAILABLE_NAMES = (
    "ConnectionRefusedError",
    "ConnectionDoesNotExistError",
    "CannotConnectNowError",
    "InvalidCatalogNameError",
    "InvalidAuthorizationSpecificationError",
    "TooManyConnectionsError",
    "gaierror",
)


# SQLSTATEs of a server that is going away or not taking connections: class 08 (connection
# exception), admin / crash shutdown, "cannot connect now" (starting up or shutting down)
# and too many connections.
_UNAVAILABLE_SQLSTATES = ("57P01", "57P02", "57P03", "53300")


_LOST = "_orm_kit_connection_lost"


def note_failed_cleanup(failure: BaseException, cleanup_error: BaseException) -> None:
    """Record on ``failure`` that the rollback / close after it failed with
    ``cleanup_error`` (which must not replace it: see ``unit_of_work.clean_up_after``).

    When the cleanup failed because the connection is gone, ``failure`` happened on a
    connection that was being lost (the server ended it mid-query): it then translates to
    ``DatabaseUnavailableError``, whatever the driver made of the half-finished operation
    (asyncpg can report a protocol-state error there).
    """
    first = str(cleanup_error).strip().splitlines()[0] if str(cleanup_error).strip() else ""
    failure.add_note(f"While cleaning up after it: {type(cleanup_error).__name__}: {first}")
    if _is_unavailable(cleanup_error):
        setattr(failure, _LOST, True)


def _is_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, sa_exc.TimeoutError | DatabaseUnavailableError):  # pool timeout, or
        return True  # already judged (a connection's cleanup translated by raw_use)
    if getattr(exc, _LOST, False):
        return True
    if isinstance(exc, OSError | TimeoutError):
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:  # the dialect saw the connection die under it
            return True
        state = str(getattr(_find_driver_error(exc), "sqlstate", "") or "")
        if state.startswith("08") or state in _UNAVAILABLE_SQLSTATES:
            return True
        if state == "55000" and exc.statement is None:
            # NOTE(postgresql): "database ... is not currently accepting connections"
            # (ALLOW_CONNECTIONS false) is a generic SQLSTATE; raised while connecting.
            return True
    chain: BaseException | None = exc
    seen = 0
    while chain is not None and seen < 6:
        if type(chain).__name__ in _UNAVAILABLE_NAMES or isinstance(chain, OSError):
            return True
        if type(chain).__module__.startswith("asyncpg") and "connection is closed" in str(chain):
            # NOTE(postgresql): raw asyncpg (a server-side cursor's fetch bypasses
            # SQLAlchemy's wrapping): "cannot call Cursor.fetch(): the underlying
            # connection is closed".
            return True
        chain = getattr(chain, "orig", None) or chain.__cause__
        seen += 1
    return False


_SQLSTATE_HINTS = {
    # NOTE(postgresql): query_canceled, also raised when statement_timeout runs out.
    "57014": ". It ran longer than statement_timeout (DATABASE_STATEMENT_TIMEOUT) or was "
    "cancelled: make it faster or raise the timeout.",
    # NOTE(postgresql): invalid_sql_statement_name / duplicate_prepared_statement: what
    # asyncpg's prepared statements meet behind PgBouncer's transaction pooling.
    "26000": ". Behind PgBouncer in transaction mode set DATABASE_PGBOUNCER=true "
    "(Database(..., pgbouncer=True)).",
    "42P05": ". Behind PgBouncer in transaction mode set DATABASE_PGBOUNCER=true "
    "(Database(..., pgbouncer=True)).",
}


# SQLAlchemy's QueuePool: "QueuePool limit of size 5 overflow 10 reached, connection timed
# out, timeout 30.00".
_POOL_LIMITS = re.compile(
    r"limit of size (?P<size>\d+) overflow (?P<overflow>-?\d+) reached.*timeout (?P<timeout>[\d.]+)"
)


def _pool_timeout_message(exc: BaseException, operation: str) -> str:
    """The message of a pool timeout: every connection was checked out for too long."""
    m = _POOL_LIMITS.search(str(exc))
    figures = (
        f" (pool size {m['size']}, max overflow {m['overflow']}: at most "
        f"{int(m['size']) + max(int(m['overflow']), 0)} connections) were all checked out "
        f"and none came back within the pool timeout of {float(m['timeout']):g} s"
        if m
        else " were all checked out and none came back within the pool timeout"
    )
    return (
        f"No connection was free for {operation}: the pool's connections{figures}. The "
        "database itself was not asked. Release sessions sooner (a `db.session()` block "
        "holds its connection until it ends: do no slow non-database work inside one), "
        "or raise DATABASE_POOL_SIZE / DATABASE_MAX_OVERFLOW (pool_size= / max_overflow=), "
        "or DATABASE_POOL_TIMEOUT to wait longer."
    )


_BIND_ERRORS = (TypeError, ValueError, OverflowError, UnicodeError, AttributeError)


def _is_bind_error(exc: BaseException) -> bool:
    if isinstance(exc, sa_exc.DBAPIError):
        # NOTE(postgresql): asyncpg reports a parameter it cannot encode as a DataError
        # whose message starts "invalid input for query argument".
        return "invalid input for query argument" in str(exc)
    if isinstance(exc, sa_exc.StatementError):  # raised while processing parameters
        return isinstance(exc.orig, _BIND_ERRORS)
    return isinstance(exc, _BIND_ERRORS)


class _Translated:
    """The context manager ``translated()`` returns (a class: it wraps every statement,
    and a generator-based one costs several times more to enter and leave)."""

    __slots__ = ("filters", "model", "operation", "outer")

    def __init__(self, model: type[Any] | None, operation: str, filters: Iterable[str]) -> None:
        self.model, self.operation, self.filters = model, operation, filters
        self.outer = False

    def __enter__(self) -> None:
        self.outer = _translating.get()
        _translating.set(True)  # (set back, not reset: an async generator may end elsewhere)

    def __exit__(self, kind: Any, exc: BaseException | None, _tb: Any) -> Literal[False]:
        try:
            if isinstance(exc, Exception) and not isinstance(exc, ORMKitError):
                raise translate_error(
                    exc, model=self.model, operation=self.operation, filters=self.filters
                ) from exc
        finally:
            _translating.set(self.outer)
        return False  # anything else (none, an orm_kit error, a cancellation) as it is


def translated(
    *, model: type[Any] | None = None, operation: str = "query", filters: Iterable[str] = ()
) -> AbstractContextManager[None]:
    """Turn anything but an orm_kit error raised in the block into one (see
    ``translate_error``); the original stays on ``__cause__``.

    Wraps every call into SQLAlchemy and the drivers, so no raw exception reaches users;
    ``asyncio.CancelledError`` (a ``BaseException``) passes through untouched.
    """
    return _Translated(model, operation, filters)


_translating: ContextVar[bool] = ContextVar("orm_kit_translating", default=False)
"""Whether orm_kit's own code is running the statement (inside ``translated``): it
translates with what it knows (model, operation, filters), so ``raw_use`` stays out."""


@contextmanager
def raw_use(operation: str) -> Iterator[None]:
    """``translated(operation=...)`` for SQLAlchemy used directly by the caller (an
    ``AsyncSession`` method called in a ``db.session()`` block); nothing inside orm_kit's
    own ``translated`` blocks, which know more about the statement."""
    if _translating.get():
        yield
        return
    with translated(operation=operation):
        yield


_LENGTH_HINT = (
    " MariaDB / MySQL's VARCHAR needs a length, and `Mapped[str]` alone has none: declare "
    "the column as `mapped_column(String(255))` (any length up to 16,383 characters), or "
    "`mapped_column(Text)` for long text (which a unique key or index cannot cover whole)."
)


def translate_error(
    exc: BaseException,
    *,
    model: type[Any] | None = None,
    operation: str = "query",
    filters: Iterable[str] = (),
) -> ORMKitError:
    """Turn a SQLAlchemy or driver exception into the matching orm_kit error.

    The returned error should be raised ``from exc`` so the original stays on
    ``__cause__``. The error is logged once, at WARNING, on the ``orm_kit`` logger:
    ``orm_kit create on User failed: ConflictError (uq_user_email)``, with the model,
    operation, filter *names* and constraint in the record's extras (at INFO, ending "; the
    transaction will retry", for a conflict a retrying transaction runs again). Neither the message
    nor the extras carry the driver's text or bound values, which may hold secrets.

    Args:
        exc: The exception raised by SQLAlchemy or the driver.
        model: The model class the operation concerned, if any.
        operation: A short name of the operation (``"create"``, ``"update"`` ...).
        filters: The names of the filters in play (never their values).

    Returns:
        The orm_kit error to raise.
    """
    if isinstance(exc, ORMKitError):
        return exc
    error: ORMKitError
    if (
        isinstance(exc, sa_exc.IntegrityError)
        or str(getattr(exc, "sqlstate", "")).startswith("23")
        # NOTE(mysql): a NOT NULL column left out of an INSERT is error 1364, an
        # OperationalError, where PostgreSQL reports a not-null violation.
        or mysql_error_code(_find_driver_error(exc)) in _MYSQL_KIND
    ):
        # (a raw driver error carries SQLSTATE class 23 when it bypassed SQLAlchemy: COPY)
        error = _conflict_from_integrity(exc, model)
    elif _is_bind_error(exc):
        # A value the driver or a column type's bind processor could not take (a check in
        # orm_kit.query.values normally refuses it first; this catches types it does not
        # know, such as your own TypeDecorator).
        cause = _find_driver_error(exc)
        subject = f" of {model.__name__}" if model is not None else ""
        error = ValidationError(
            f"A value in {operation}{subject} could not be sent to the database "
            f"({type(cause).__name__}); pass values of the columns' types."
        )
    elif isinstance(exc, sa_exc.CompileError):
        # SQLAlchemy could not write the SQL for this database: nothing was sent. Its
        # message names the table and column and carries no values.
        said = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        error = ValidationError(
            f"The SQL of {operation} cannot be written for this database: {said}."
            + (_LENGTH_HINT if "requires a length" in said else "")
        )
    elif isinstance(exc, sa_exc.TimeoutError):
        error = DatabaseUnavailableError(_pool_timeout_message(exc, operation))
    elif getattr(exc, _LOST, False) or (
        isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated
    ):
        # Lost: the rollback after the failure found the connection closed, or the dialect
        # did (asyncpg reports a protocol-state error for a cursor the loss cut short).
        error = DatabaseUnavailableError(
            f"The database could not be reached during {operation}: the connection was lost "
            f"while it ran ({type(_find_driver_error(exc)).__name__}, and the connection was "
            "found closed after it); what it had not committed was rolled back by the server. "
            "Check that the server is running, then retry: the pool replaces the lost connection."
        )
    elif _is_unavailable(exc):
        error = DatabaseUnavailableError(
            f"The database could not be reached during {operation}: "
            f"{type(_find_driver_error(exc)).__name__}. Check that the server is running, "
            "that DATABASE_URL is right, and that the pool is large enough."
        )
    else:
        driver = _find_driver_error(exc)
        first = str(driver).strip().splitlines()[0] if str(driver).strip() else ""
        error = DatabaseError(
            f"The database rejected {operation}: {type(driver).__name__}: {first}".rstrip(": ")
            + _SQLSTATE_HINTS.get(str(getattr(driver, "sqlstate", "") or ""), "")
        )
    model_name = model.__name__ if model is not None else None
    constraint = error.constraint if isinstance(error, ConflictError) else None
    # Built from names only (operation, model, error class, constraint): the driver's
    # message can quote the offending values (PostgreSQL's DETAIL line does), so it is
    # left out; it stays reachable on the raised error's __cause__.
    will_retry = retry_pending.get() and sqlstate_of(_find_driver_error(exc)) in _RETRIED_SQLSTATES
    logger.log(
        logging.INFO if will_retry else logging.WARNING,
        "orm_kit %s%s failed: %s%s" + ("; the transaction will retry" if will_retry else ""),
        operation,
        f" on {model_name}" if model_name else "",
        type(error).__name__,
        f" ({constraint})" if constraint else "",
        extra={
            "orm_kit_model": model_name,
            "orm_kit_operation": operation,
            "orm_kit_filters": sorted(set(filters)),
            "orm_kit_error": type(error).__name__,
            "orm_kit_constraint": constraint,
        },
    )
    return error
