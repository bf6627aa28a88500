"""``dump_data`` / ``load_data`` on every backend: the dump streams from a server-side cursor
and reads every table from one snapshot, so rows written while it runs never give a dump that
cannot load; loading moves key sequences past the rows, whatever the table's name.
"""

from __future__ import annotations

import asyncio
import io
import json
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import ForeignKey, String, event, insert
from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_ss_cursor
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import Database, Model
from orm_kit.fixtures import dump_data, load_data, model_label


class SnapWriter(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


class SnapEssay(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    writer_id: Mapped[int] = mapped_column(ForeignKey("snap_writer.id"))


async def test_rows_stream_from_a_server_side_cursor(db: Database) -> None:
    writers = await SnapWriter.objects.bulk_create([SnapWriter(name=f"w{i}") for i in range(3)])
    await SnapEssay.objects.bulk_create([SnapEssay(writer_id=w.id) for w in writers])
    cursors: list[tuple[str, Any]] = []

    def seen(_conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        cursors.append((statement, cursor))

    event.listen(db.engine.sync_engine, "before_cursor_execute", seen)
    try:
        out = io.StringIO()
        assert await dump_data(db, out, [SnapWriter, SnapEssay]) == 6
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", seen)
    reads = [(s, c) for s, c in cursors if "FROM snap_" in s]
    assert len(reads) == 2
    assert all(isinstance(cursor, AsyncAdapt_dbapi_ss_cursor) for _, cursor in reads)


def _write_elsewhere(url: str) -> None:
    """A writer and an essay of theirs, committed by another connection (another thread)."""

    async def write() -> None:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.execute(insert(SnapWriter).values(id=100, name="late"))
                await conn.execute(insert(SnapEssay).values(id=100, writer_id=100))
        finally:
            await engine.dispose()

    thread = threading.Thread(target=asyncio.run, args=(write(),))
    thread.start()
    thread.join()


class _WriteBetweenTables:
    """Progress that commits new rows elsewhere once the first table has been read."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.tables = 0

    def start(self, label: str, total: int) -> None:
        self.tables += 1
        if self.tables == 2:
            _write_elsewhere(self.url)

    def advance(self, label: str, done: int) -> None:
        pass


async def test_every_table_is_read_from_one_snapshot(db: Database) -> None:
    writer = await SnapWriter.objects.create(name="early")
    essay = await SnapEssay.objects.create(writer_id=writer.id)
    out = io.StringIO()
    url = db.engine.url.render_as_string(hide_password=False)
    progress = _WriteBetweenTables(url)
    assert await dump_data(db, out, [SnapWriter, SnapEssay], progress=progress) == 2
    assert progress.tables == 2
    dumped = [(r["model"], r["fields"]["id"]) for r in json.loads(out.getvalue())]
    # Without one snapshot the late essay would be in the dump and its writer not.
    assert dumped == [(model_label(SnapWriter), writer.id), (model_label(SnapEssay), essay.id)]
    assert 100 in await SnapEssay.objects.values_list("id", flat=True)  # it was committed


class QuotedNote(Model):
    """A table name that must be quoted in SQL (mixed case)."""

    __tablename__ = "QuotedNote"
    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(50))


async def test_loading_moves_the_key_past_the_rows_of_a_quoted_table(
    db: Database, tmp_path: Path
) -> None:
    path = tmp_path / "notes.json"
    path.write_text(
        json.dumps([{"model": model_label(QuotedNote), "fields": {"id": 5, "text": "five"}}])
    )
    assert await load_data(db, [path]) == 1
    assert (await QuotedNote.objects.create(text="next")).id == 6
