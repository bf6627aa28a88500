"""Seeing the statements orm_kit runs: the slow-query log, OpenTelemetry spans, and the
statement counter behind ``orm_kit.testing``'s ``count_queries`` / ``assert_num_queries``.

``build_engine`` calls ``instrument_engine`` on every engine it makes: one listener pair on
SQLAlchemy's ``before_cursor_execute`` / ``after_cursor_execute`` (and ``handle_error``),
which returns at once while nothing is switched on. Nothing here ever records a bound
value: the SQL is the statement as sent, with its placeholders (``$1``, ``?``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sys
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import mapperlib

from orm_kit.exceptions import ValidationError, logger

__all__ = [
    "QueryCount",
    "call_site",
    "count_statements",
    "disable_tracing",
    "enable_tracing",
    "instrument_engine",
    "statement_watcher",
    "tracing_enabled",
]

_TIMING = "orm_kit_statement_timing"
_TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")


def _folder(module: Any) -> str:
    return os.path.dirname(os.path.abspath(str(module.__file__))) + os.sep


@functools.cache
def _library_paths() -> tuple[str, ...]:
    paths = [
        _folder(sys.modules["orm_kit"]),
        _folder(sqlalchemy),
        _folder(asyncio),
        os.path.abspath(contextlib.__file__),
        # orm_kit.sync runs statements on a loop thread, whose stack starts here.
        os.path.abspath(threading.__file__),
    ]
    greenlet = sys.modules.get("greenlet")
    if greenlet is not None and getattr(greenlet, "__file__", None):
        paths.append(_folder(greenlet))
    # SQLAlchemy's generated wrappers have file names like "<sqlalchemy generated ...>".
    return (*paths, "<frozen ", "<sqlalchemy ")


# --- the call site ------------------------------------------------------------------------


def call_site() -> tuple[str, int] | None:
    """The file and line of the code that ran the current statement: the first frame
    outside orm_kit, SQLAlchemy, asyncio, contextlib and greenlet.

    An async engine runs the statement in a greenlet SQLAlchemy spawned for it, whose own
    stack holds only library frames; the caller's coroutine is on the stack of the parent
    greenlet (the event loop's), suspended where it switched, so the walk goes on there.
    ``None`` when no frame qualifies: a call through ``orm_kit.sync``, whose statements run
    on the facade's loop thread, away from the calling thread's stack.
    """
    skip = _library_paths()
    frame: FrameType | None = sys._getframe(1)
    try:
        from greenlet import getcurrent  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - SQLAlchemy's asyncio extra installs greenlet
        current = None
    else:
        current = getcurrent()
    while True:
        while frame is not None:
            if not frame.f_code.co_filename.startswith(skip):
                return frame.f_code.co_filename, frame.f_lineno
            frame = frame.f_back
        if current is None or current.parent is None:
            return None
        current = current.parent
        frame = current.gr_frame


# --- tracing ------------------------------------------------------------------------------


@dataclass
class _Tracing:
    tracer: Any = None
    client_kind: Any = None
    error_status: Any = None


_tracing = _Tracing()


def enable_tracing(tracer_provider: Any = None) -> None:
    """Open an OpenTelemetry span for every statement orm_kit's engines run (the ``otel``
    extra: ``pip install 'orm_kit[otel]'``).

    Each span is a CLIENT span named after the operation and table (``SELECT product``),
    a child of the span current where the statement ran, with ``db.system``,
    ``db.operation.name``, ``db.collection.name``, ``orm_kit.model`` (when the statement is
    about a model), ``db.query.text`` / ``db.statement`` (the SQL with its placeholders,
    never the bound values) and ``code.filepath`` / ``code.lineno`` (the caller). A failed
    statement's span has status ERROR and ``error.type``, not the driver's message (which
    can quote values).

    Args:
        tracer_provider: The provider to take the tracer from; by default OpenTelemetry's
            global one (``opentelemetry.trace.set_tracer_provider``).

    Raises:
        ValidationError: opentelemetry-api is not installed, or ``tracer_provider`` is not
            a tracer provider (it has no ``get_tracer``).
    """
    if tracer_provider is not None and not callable(getattr(tracer_provider, "get_tracer", None)):
        raise ValidationError(
            f"enable_tracing(tracer_provider={tracer_provider!r}) is not an OpenTelemetry "
            "TracerProvider (it has no get_tracer method): pass your SDK's provider, e.g. "
            "opentelemetry.sdk.trace.TracerProvider(), or nothing for the global one."
        )
    try:
        from opentelemetry import trace
    except ImportError as exc:
        raise ValidationError(
            "enable_tracing() needs OpenTelemetry: install the otel extra, "
            "`pip install 'orm_kit[otel]'` (opentelemetry-api), and an SDK to export spans."
        ) from exc
    _tracing.tracer = trace.get_tracer("orm_kit", tracer_provider=tracer_provider)
    _tracing.client_kind = trace.SpanKind.CLIENT
    _tracing.error_status = trace.Status(trace.StatusCode.ERROR)


def disable_tracing() -> None:
    """Stop opening spans (statements already under way still end theirs)."""
    _tracing.tracer = None


def tracing_enabled() -> bool:
    """Whether ``enable_tracing`` is in force."""
    return _tracing.tracer is not None


def _operation(statement: str) -> str:
    words = statement.lstrip().split(None, 1)
    return words[0].upper() if words else ""


def _subject(compiled: Any) -> tuple[str | None, str | None]:
    """The table and the model class name a compiled statement is about, where known."""
    stmt = getattr(compiled, "statement", None)
    if stmt is None:
        return None, None
    table = getattr(stmt, "table", None)  # INSERT / UPDATE / DELETE
    if table is None and hasattr(stmt, "get_final_froms"):
        froms = stmt.get_final_froms()
        table = froms[0] if froms else None
    name = getattr(table, "name", None)
    if not isinstance(name, str):
        return None, None
    return name, _model_of(table)


_models: weakref.WeakKeyDictionary[Any, str | None] = weakref.WeakKeyDictionary()


def _model_of(table: Any) -> str | None:
    """The name of the mapped class whose table ``table`` is (this layer imports no
    models: the mappers are found through SQLAlchemy's registries, once per table)."""
    try:
        return _models[table]
    except (KeyError, TypeError):
        pass
    found = None
    for registry in mapperlib._all_registries():
        for mapper in registry.mappers:
            if mapper.local_table is table:
                found = mapper.class_.__name__
                break
    with contextlib.suppress(TypeError):  # an object that takes no weak reference
        _models[table] = found
    return found


def _start_span(dialect: str, statement: str, compiled: Any) -> Any:
    operation = _operation(statement)
    table, model = _subject(compiled)
    attributes: dict[str, Any] = {
        "db.system": dialect,
        "db.operation.name": operation,
        "db.query.text": statement,
        "db.statement": statement,
    }
    if table is not None:
        attributes["db.collection.name"] = table
    if model is not None:
        attributes["orm_kit.model"] = model
    site = call_site()
    if site is not None:
        attributes["code.filepath"], attributes["code.lineno"] = site
    name = f"{operation} {table}" if table else (operation or dialect)
    return _tracing.tracer.start_span(name, kind=_tracing.client_kind, attributes=attributes)


# --- counting -----------------------------------------------------------------------------


@dataclass
class QueryCount:
    """The statements run on orm_kit's engines inside a ``count_statements`` block."""

    statements: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.statements)

    @property
    def count(self) -> int:
        """How many statements ran."""
        return len(self.statements)


_counters: ContextVar[tuple[QueryCount, ...]] = ContextVar("orm_kit_counters", default=())


@contextmanager
def count_statements() -> Iterator[QueryCount]:
    """Collect the statements run in the block by this task (and the tasks it starts),
    leaving out transaction control (BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE): these
    differ between backends and between a test's rolled-back connection and production."""
    counter = QueryCount()
    token = _counters.set((*_counters.get(), counter))
    try:
        yield counter
    finally:
        _counters.reset(token)


def _is_transaction_control(statement: str) -> bool:
    return statement.lstrip()[:20].upper().startswith(_TRANSACTION_CONTROL)


# --- the listeners ------------------------------------------------------------------------


class _Watcher:
    """The statement listeners of one engine."""

    def __init__(self, dialect: Any, slow_query_ms: float | None) -> None:
        self._dialect = dialect
        self.slow_query_ms = slow_query_ms

    @property
    def system(self) -> str:
        """``db.system``: the dialect's name, or ``mariadb`` (OpenTelemetry's name) for a
        MariaDB server, which SQLAlchemy's mysql dialect learns when it first connects."""
        dialect = self._dialect
        return "mariadb" if getattr(dialect, "is_mariadb", False) else str(dialect.name)

    def before(
        self,
        conn: Connection,
        _cursor: Any,
        statement: str,
        _parameters: Any,
        context: Any,
        _executemany: bool,
    ) -> None:
        token = self.started(statement, getattr(context, "compiled", None))
        if token is not None:
            conn.info.setdefault(_TIMING, []).append(token)

    def after(
        self,
        conn: Connection,
        _cursor: Any,
        statement: str,
        _parameters: Any,
        _context: Any,
        _executemany: bool,
    ) -> None:
        timings = conn.info.get(_TIMING)
        if timings:
            self.finished(timings.pop(), statement)

    def error(self, context: ExceptionContext) -> None:
        conn = context.connection
        timings = conn.info.get(_TIMING) if conn is not None else None
        if timings:
            self.failed(timings.pop(), context.sqlalchemy_exception or context.original_exception)

    # The three steps, also called by orm_kit.raw_path, which runs statements without a
    # Connection: a token (start time, span) when timing or tracing is on, else None.

    def started(self, statement: str, compiled: Any) -> tuple[float, Any] | None:
        """Count ``statement``; start its timing and span if either is on."""
        counters = _counters.get()
        if counters and not _is_transaction_control(statement):
            for counter in counters:
                counter.statements.append(statement)
        if self.slow_query_ms is None and _tracing.tracer is None:
            return None
        span = _start_span(self.system, statement, compiled) if _tracing.tracer else None
        return time.perf_counter(), span

    def finished(self, token: tuple[float, Any] | None, statement: str) -> None:
        """End the timing and span of ``started``; log the statement if it was slow."""
        if token is None:
            return
        start, span = token
        elapsed_ms = (time.perf_counter() - start) * 1000
        if span is not None:
            span.end()
        if self.slow_query_ms is not None and elapsed_ms >= self.slow_query_ms:
            self._log_slow(statement, elapsed_ms)

    def failed(self, token: tuple[float, Any] | None, error: BaseException) -> None:
        """End the span of ``started`` as failed with ``error``."""
        if token is None:
            return
        _start, span = token
        if span is not None:
            span.set_attribute("error.type", type(error).__name__)
            span.set_status(_tracing.error_status)
            span.end()

    def _log_slow(self, statement: str, elapsed_ms: float) -> None:
        site = call_site()
        where = f"{site[0]}:{site[1]}" if site is not None else "an unknown caller"
        logger.warning(
            "orm_kit slow query: %.1f ms (DATABASE_SLOW_QUERY_MS=%s) at %s: %s",
            elapsed_ms,
            f"{self.slow_query_ms:g}",
            where,
            statement,
            extra={
                "orm_kit_operation": "slow_query",
                "orm_kit_duration_ms": round(elapsed_ms, 3),
                "orm_kit_statement": statement,
                "orm_kit_call_site": where,
            },
        )


_watchers: weakref.WeakKeyDictionary[Engine, _Watcher] = weakref.WeakKeyDictionary()


def statement_watcher(engine: Engine) -> _Watcher | None:
    """The listeners ``instrument_engine`` attached to ``engine``, for code that runs
    statements without SQLAlchemy's ``Connection`` (``orm_kit.raw_path``)."""
    return _watchers.get(engine)


def instrument_engine(engine: AsyncEngine | Engine, slow_query_ms: float | None) -> None:
    """Attach orm_kit's statement listeners to ``engine`` (``build_engine`` does it).

    Args:
        engine: The engine; an ``AsyncEngine``'s listeners go on its sync engine.
        slow_query_ms: Log a WARNING on the ``orm_kit`` logger for every statement that
            takes at least this long (``DATABASE_SLOW_QUERY_MS``); ``None`` logs none.

    Raises:
        ValidationError: ``slow_query_ms`` is negative.
    """
    if slow_query_ms is not None and slow_query_ms < 0:
        raise ValidationError(
            f"slow_query_ms={slow_query_ms!r} is negative; pass the threshold in "
            "milliseconds (0 logs every statement) or None for no slow-query log."
        )
    sync = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
    watcher = _watchers[sync] = _Watcher(sync.dialect, slow_query_ms)
    event.listen(sync, "before_cursor_execute", watcher.before)
    event.listen(sync, "after_cursor_execute", watcher.after)
    event.listen(sync, "handle_error", watcher.error)
