"""Fixtures from Python: dump_data / load_data, what orm-kit dumpdata / loaddata run, on a
table that references itself."""

import asyncio
import io
import json
import tempfile
from pathlib import Path

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import Database, Model
from orm_kit.fixtures import FixtureError, dump_data, load_data


# --8<-- [start:model]
class Section(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(50))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("section.id"))


# --8<-- [end:model]


async def tree() -> list[tuple[str, int | None]]:
    return await Section.objects.order_by("id").values_list("title", "parent_id")


async def main() -> None:
    async with Database() as db:
        await db.reset()
        folder = Path(tempfile.mkdtemp())
        # --8<-- [start:dump]
        intro = await Section.objects.create(title="Intro")
        guide = await Section.objects.create(title="Guide")
        await Section.objects.filter(id=intro.id).update(parent_id=guide.id)  # re-parented
        buffer = io.StringIO()
        rows = await dump_data(db, buffer, [Section])
        ids = [record["fields"]["id"] for record in json.loads(buffer.getvalue())]
        print(f"dumped:   {rows} rows, child first: {ids == [intro.id, guide.id]}")
        # --8<-- [end:dump]
        before = await tree()
        await Section.objects.update(parent_id=None)
        await Section.objects.delete()

        # --8<-- [start:load]
        path = folder / "sections.json"
        path.write_text(buffer.getvalue())
        print(f"loaded:   {await load_data(db, [path])} rows")  # parents go in first
        print(f"same:     {await tree() == before}")
        # --8<-- [end:load]

        # --8<-- [start:cycle]
        await Section.objects.update(parent_id=None)
        await Section.objects.delete()
        label = f"{Section.__module__}.Section"
        cycle = [  # each the other's parent: B goes in with parent_id NULL, then A, then an
            # UPDATE gives B its parent, all in one transaction
            {"model": label, "fields": {"id": 1, "title": "A", "parent_id": 2}},
            {"model": label, "fields": {"id": 2, "title": "B", "parent_id": 1}},
        ]
        path.write_text(json.dumps(cycle))
        print(f"cycle:    {await load_data(db, [path])} rows, {await tree()}")
        # --8<-- [end:cycle]

        # --8<-- [start:refused]
        path.write_text(json.dumps([{"model": label, "fields": {"id": 3, "title": 7}}]))
        try:
            await load_data(db, [path])
        except FixtureError as exc:  # nothing of the file is loaded
            print(f"refused:  {str(exc).split('): ', 1)[1]}")
        # --8<-- [end:refused]


if __name__ == "__main__":
    asyncio.run(main())
