"""A plain script on the blocking facade: no asyncio code, run as its own process by
tests/integration/test_sync_scripts.py (and from inside a running loop by sync_notebook.py).

It leaves its table filled, so the test can check from another connection what committed.
"""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import Model, sync


class ScriptNote(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(50), unique=True)
    done: Mapped[bool] = mapped_column(default=False)


class PlannedError(Exception):
    pass


def main() -> None:
    db = sync.connect()  # DATABASE_URL
    sync.run(db.reset(ScriptNote.metadata))
    print(f"connected: {db.dialect}")

    for title in ("milk", "bread", "eggs"):
        sync.run(ScriptNote.objects.create(title=title))
    titles = sync.run(ScriptNote.objects.order_by("title").values_list("title", flat=True))
    print(f"created: {titles}")

    with sync.session(db):  # one unit of work: commits at the end of the block
        note = sync.run(ScriptNote.objects.get(title="milk"))
        note.done = True
        sync.run(note.save())
        sync.run(ScriptNote.objects.filter(title="eggs").update(done=True))
        sync.run(ScriptNote.objects.create(title="butter"))
    done = sync.run(ScriptNote.objects.filter(done=True).order_by("title"))
    print(f"done: {[n.title for n in done]}")

    try:
        with sync.session(db):
            sync.run(ScriptNote.objects.create(title="jam"))
            sync.run(ScriptNote.objects.filter(title="bread").update(done=True))
            raise PlannedError
    except PlannedError:
        print(f"rolled back: {sync.run(ScriptNote.objects.count())} notes")

    print(f"checked out: {db.engine.pool.checkedout()}")  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
