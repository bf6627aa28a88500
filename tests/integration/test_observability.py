"""The slow-query log and OpenTelemetry spans: the caller's file:line, the SQL without its
bound values (a secret in a filter never shows), on both backends."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import text

from orm_kit import ConflictError, Database, DatabaseSettings, ValidationError
from orm_kit.observability import disable_tracing, enable_tracing, tracing_enabled
from tests.backends import sleep_sql
from tests.models import User

SECRET = "s3cret-7f1c"


def here() -> int:
    """The line number of the line after the caller's (where its statement runs)."""
    return sys._getframe(1).f_lineno + 1


def slow_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "orm_kit" and getattr(r, "orm_kit_operation", None) == "slow_query"
    ]


def everything_logged(record: logging.LogRecord) -> str:
    return record.getMessage() + repr(sorted(vars(record).items(), key=lambda kv: kv[0]))


@pytest.fixture
async def slow_db(db: Database, backend_url: str) -> AsyncIterator[Database]:
    """A second Database on the backend under test whose every statement is "slow"."""
    other = Database(settings=DatabaseSettings(url=backend_url, slow_query_ms=0))
    await other.connect()
    try:
        yield other
    finally:
        await other.disconnect()


async def test_slow_query_log_names_the_caller_and_hides_values(
    slow_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    await User.objects.create(email=f"{SECRET}@x.io")
    with caplog.at_level(logging.WARNING, logger="orm_kit"):
        line = here()
        assert await User.objects.using(slow_db).filter(email=f"{SECRET}@x.io").count() == 1
    (record,) = slow_records(caplog)
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert f" at {__file__}:{line}: SELECT count(" in message
    assert "DATABASE_SLOW_QUERY_MS=0" in message
    assert record.orm_kit_call_site == f"{__file__}:{line}"  # type: ignore[attr-defined]
    assert record.orm_kit_duration_ms >= 0  # type: ignore[attr-defined]
    assert SECRET not in everything_logged(record)


async def test_slow_query_log_inside_a_session_names_the_statement_line(
    slow_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="orm_kit"):
        async with slow_db.session():
            line = here()
            await User.objects.create(email=f"{SECRET}@x.io", name=SECRET)
    inserts = [r for r in slow_records(caplog) if "INSERT INTO" in r.getMessage()]
    assert len(inserts) == 1
    assert inserts[0].orm_kit_call_site == f"{__file__}:{line}"  # type: ignore[attr-defined]
    assert all(SECRET not in everything_logged(r) for r in caplog.records)


@pytest.mark.requires("sleep")
async def test_a_statement_over_the_threshold_is_logged(
    db: Database, backend: str, backend_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    sleepy = Database(settings=DatabaseSettings(url=backend_url, slow_query_ms=100))
    await sleepy.connect()
    try:
        with caplog.at_level(logging.WARNING, logger="orm_kit"):
            async with sleepy.session() as session:
                sleep = f"{sleep_sql(backend, 0.3)}, :secret"
                line = here()
                await session.execute(text(sleep), {"secret": SECRET})
    finally:
        await sleepy.disconnect()
    sleeps = [r for r in slow_records(caplog) if "sleep(" in r.getMessage().lower()]
    assert len(sleeps) == 1
    assert sleeps[0].orm_kit_duration_ms >= 300  # type: ignore[attr-defined]
    assert sleeps[0].orm_kit_call_site == f"{__file__}:{line}"  # type: ignore[attr-defined]
    assert SECRET not in everything_logged(sleeps[0])


async def test_no_slow_query_log_by_default_or_under_the_threshold(
    db: Database, backend_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert DatabaseSettings(url=backend_url).slow_query_ms is None
    patient = Database(settings=DatabaseSettings(url=backend_url, slow_query_ms=600_000))
    await patient.connect()
    try:
        with caplog.at_level(logging.DEBUG, logger="orm_kit"):
            await User.objects.count()  # the default database: no threshold
            await User.objects.using(patient).count()
    finally:
        await patient.disconnect()
    assert slow_records(caplog) == []


def test_slow_query_ms_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_SLOW_QUERY_MS", "250")
    assert DatabaseSettings().slow_query_ms == 250.0


async def test_a_negative_threshold_is_refused(backend_url: str) -> None:
    with pytest.raises(ValidationError, match=r"DATABASE_SLOW_QUERY_MS=-1 \(slow_query_ms=\)"):
        DatabaseSettings(url=backend_url, slow_query_ms=-1)
    with pytest.raises(ValidationError, match=r"DATABASE_SLOW_QUERY_MS=-1"):
        Database(backend_url, slow_query_ms=-1)


# --- spans --------------------------------------------------------------------------------


def statement_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name != "request"]


def no_secret_in(span: ReadableSpan) -> bool:
    values = [str(v) for v in (span.attributes or {}).values()]
    values += [str(e.attributes) for e in span.events]
    return SECRET not in repr((span.name, values, span.status.description))


async def test_a_span_per_statement_with_the_call_site_and_no_values(
    db: Database, backend: str, spans: InMemorySpanExporter
) -> None:
    assert tracing_enabled()
    insert_line = here()
    await User.objects.create(email=f"{SECRET}@x.io")
    select_line = here()
    await User.objects.filter(email=f"{SECRET}@x.io").count()
    insert, select = statement_spans(spans)

    assert insert.name == "INSERT user"
    assert select.name == "SELECT user"
    for span, line, operation in ((insert, insert_line, "INSERT"), (select, select_line, "SELECT")):
        attributes = span.attributes or {}
        assert span.kind is trace.SpanKind.CLIENT
        assert attributes["db.system"] == backend  # "mariadb" (OpenTelemetry's name) on MariaDB
        assert attributes["db.operation.name"] == operation
        assert attributes["db.collection.name"] == "user"
        assert attributes["orm_kit.model"] == "User"
        assert attributes["code.filepath"] == __file__
        assert attributes["code.lineno"] == line
        assert str(attributes["db.query.text"]).startswith(operation)
        assert attributes["db.statement"] == attributes["db.query.text"]
        assert no_secret_in(span)


async def test_spans_are_children_of_the_current_span(
    db: Database, spans: InMemorySpanExporter
) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    with provider.get_tracer("test").start_as_current_span("request") as request:
        await User.objects.count()
    (select,) = statement_spans(spans)
    assert select.parent is not None
    assert select.parent.span_id == request.get_span_context().span_id
    assert select.context.trace_id == request.get_span_context().trace_id


async def test_a_failed_statement_span_has_an_error_status_and_no_values(
    db: Database, spans: InMemorySpanExporter
) -> None:
    await User.objects.create(email=f"{SECRET}@x.io")
    spans.clear()
    with pytest.raises(ConflictError):
        await User.objects.create(email=f"{SECRET}@x.io")
    (failed,) = statement_spans(spans)
    assert failed.status.status_code is trace.StatusCode.ERROR
    assert str((failed.attributes or {})["error.type"]).endswith("IntegrityError")
    assert no_secret_in(failed)


async def test_no_spans_once_tracing_is_disabled(db: Database) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    enable_tracing(provider)
    await User.objects.count()
    disable_tracing()
    assert not tracing_enabled()
    await User.objects.count()
    assert [s.name for s in exporter.get_finished_spans()] == ["SELECT user"]
