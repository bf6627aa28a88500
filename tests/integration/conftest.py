"""Fixtures shared by the integration tests: a migration project folder with a clean database
of its own, an in-memory exporter of orm_kit's OpenTelemetry spans, and a spy on the raw
path's statements and one on the cached statements."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from orm_kit import raw_path
from orm_kit.observability import disable_tracing, enable_tracing
from orm_kit.query import prepared
from tests.backends import create_database_sql, drop_database_sql
from tests.integration.migration_project import Project


@pytest.fixture
async def project(backend: str, backend_url: str, tmp_path: Path) -> AsyncIterator[Project]:
    """A project folder with ``[tool.orm_kit]`` and a clean database of its own."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "pyproject.toml").write_text(
        '[project]\nname = "demo"\nversion = "0"\n\n[tool.orm_kit]\nmodels = "app.models"\n'
    )
    (root / "app").mkdir()
    (root / "app" / "__init__.py").write_text("")
    url = make_url(backend_url)
    if url.get_backend_name() == "sqlite":
        yield Project(root, f"sqlite+aiosqlite:///{tmp_path / 'project.db'}")
        return
    # Per process: two runs of the suite on one server must not drop each other's database.
    name = f"{url.database or 'postgres'}_migrations_{os.getpid()}"
    server = create_async_engine(url, isolation_level="AUTOCOMMIT")
    drop = drop_database_sql(url.get_backend_name(), name)
    create = create_database_sql(url.get_backend_name(), name)
    try:
        async with server.connect() as conn:
            await conn.execute(text(drop))
            await conn.execute(text(create))
        yield Project(root, url.set(database=name).render_as_string(hide_password=False))
        async with server.connect() as conn:
            await conn.execute(text(drop))
    finally:
        await server.dispose()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on, into an in-memory exporter; off again (and the provider shut) afterwards."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    enable_tracing(provider)
    try:
        yield exporter
    finally:
        disable_tracing()
        provider.shutdown()


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The SQL of every statement the raw path runs."""
    ran: list[str] = []
    original = raw_path.RawPath.run

    def counting(self: raw_path.RawPath, plan: Any, params: Any, consume: Any) -> Any:
        ran.append(plan.sql)
        return original(self, plan, params, consume)

    monkeypatch.setattr(raw_path.RawPath, "run", counting)
    return ran


@pytest.fixture
def cached(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The kinds of the cached statements served (``prepared.exact_statement``; one entry
    per use)."""
    served: list[Any] = []
    original = prepared.exact_statement

    def counting(state: Any, kind: Any, build: Any) -> Any:
        served.append(kind)
        return original(state, kind, build)

    monkeypatch.setattr(prepared, "exact_statement", counting)
    return served
