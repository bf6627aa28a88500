"""Observability: the slow-query log, OpenTelemetry spans, counting statements (N+1)."""

import asyncio
import logging
import sys

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from orm_kit import Database, DatabaseSettings, Model
from orm_kit.observability import disable_tracing, enable_tracing
from orm_kit.testing import count_queries


class Sprocket(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    api_key: Mapped[str] = mapped_column(String(50))
    parts: Mapped[list["SprocketPart"]] = relationship(back_populates="sprocket")


class SprocketPart(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    sprocket_id: Mapped[int] = mapped_column(ForeignKey("sprocket.id"))
    sprocket: Mapped[Sprocket] = relationship(back_populates="parts")


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def main() -> None:
    # --8<-- [start:slow]
    # DATABASE_SLOW_QUERY_MS=250 in the environment does the same; 0 logs every statement.
    settings = DatabaseSettings(slow_query_ms=0)
    # --8<-- [end:slow]
    logs = Collect()
    logging.getLogger("orm_kit").addHandler(logs)
    async with Database(settings=settings) as db:
        await db.reset()
        sprockets = await Sprocket.objects.bulk_create(
            [Sprocket(name=f"g{i}", api_key=f"secret-{i}") for i in range(3)]
        )
        await SprocketPart.objects.bulk_create([SprocketPart(sprocket_id=g.id) for g in sprockets])

        # --8<-- [start:slow_record]
        logs.records.clear()
        line = sys._getframe().f_lineno + 1
        await Sprocket.objects.filter(api_key="secret-1").count()
        (slow,) = [r for r in logs.records if getattr(r, "orm_kit_operation", "") == "slow_query"]
        message = slow.getMessage()  # orm_kit slow query: 0.4 ms (...) at /path/file.py:57: SQL
        print(f"slow query log: {slow.levelname} {message.split(':')[0]}")
        site = slow.orm_kit_call_site  # type: ignore[attr-defined]
        print(f"called from:    this line: {site.endswith(f'observability.py:{line}')}")
        print(f"values logged:  {'secret-1' in message}")
        # --8<-- [end:slow_record]

        # --8<-- [start:spans]
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        enable_tracing(provider)  # or enable_tracing() for the global tracer provider
        await Sprocket.objects.filter(api_key="secret-2").first()
        disable_tracing()
        (span,) = exporter.get_finished_spans()
        attributes = span.attributes or {}
        print(f"span:           {span.name}")
        print(f"  db.system:    {attributes['db.system']}")
        print(f"  model:        {attributes['orm_kit.model']}")
        print(f"  values in it: {'secret-2' in str(dict(attributes))}")
        # --8<-- [end:spans]

        # --8<-- [start:counting]
        with count_queries() as one_by_one:
            for sprocket in await Sprocket.objects.all():
                await SprocketPart.objects.filter(sprocket_id=sprocket.id).count()
        with count_queries() as prefetched:
            [len(g.parts) for g in await Sprocket.objects.prefetch_related("parts")]
        print(f"N+1 loop:       {one_by_one.count} statements")
        print(f"prefetch:       {prefetched.count} statements")
        # --8<-- [end:counting]
    logging.getLogger("orm_kit").removeHandler(logs)


if __name__ == "__main__":
    asyncio.run(main())
