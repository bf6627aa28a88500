"""A model rule of your own, registered with orm_kit's hook point (orm_kit.rules).

Archived rows are hidden the way soft-deleted ones are: default queries, relationship
filters and session loads skip them, delete() archives, restore() brings them back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column, with_loader_criteria

from orm_kit import Database, Model

# --8<-- [start:rule]
from orm_kit.rules import Rule, Visibility, register_rule


class Archivable:
    archived: Mapped[bool] = mapped_column(default=False)


class ArchiveRule(Rule):
    def applies(self, model: type[Any]) -> bool:
        return issubclass(model, Archivable)

    def row_filter(
        self, model: type[Any], column: Callable[[str], Any], visibility: Visibility
    ) -> Any:
        if visibility == "include":  # with_deleted()
            return None
        return column("archived").is_(visibility == "only")  # "hide", or only_deleted()

    def loader_option(self) -> Any:  # ORM selects and relationship loads on a session
        return with_loader_criteria(
            Archivable, lambda cls: cls.archived.is_(False), include_aliases=True
        )

    def delete_values(self, model: type[Any]) -> dict[str, Any]:
        return {"archived": True}

    def restore_values(self, model: type[Any]) -> dict[str, Any]:
        return {"archived": False}


register_rule(ArchiveRule())
# --8<-- [end:rule]


class Memo(Model, Archivable):
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(50))


async def titles(qs: Any) -> list[str]:
    return list(await qs.order_by("id").values_list("title", flat=True))


async def main() -> None:
    async with Database() as db:  # DATABASE_URL, or the embedded SQLite default
        await db.reset()
        # --8<-- [start:use]
        await Memo.objects.bulk_create([Memo(title="plan"), Memo(title="draft")])
        draft = await Memo.objects.get(title="draft")
        await draft.delete()  # the rule makes it an UPDATE: archived = true
        print("visible:     ", await titles(Memo.objects.all()))
        print("with_deleted:", await titles(Memo.objects.with_deleted()))
        print("only_deleted:", await titles(Memo.objects.only_deleted()))
        print("restored:    ", await Memo.objects.filter(title="draft").restore())
        print("visible:     ", await titles(Memo.objects.all()))
        # --8<-- [end:use]


if __name__ == "__main__":
    asyncio.run(main())
