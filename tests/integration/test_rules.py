"""The hook point (orm_kit.rules): a rule of the user's own holds on every path the
built-in mixin rules do — compiled queries, relationship filters, ORM selects and loads on a
session, deletes, and the write check — and stops when unregistered."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import ForeignKey, String, select
from sqlalchemy.orm import Mapped, mapped_column, relationship, selectinload, with_loader_criteria

from orm_kit import Database, Model, ReadOnlyError
from orm_kit.rules import Rule, Visibility, register_rule, rules_for, unregister_rule


@pytest.fixture
def db(rolled_back_db: Database) -> Database:
    """Isolation by rollback (orm_kit.testing's orm_session) instead of emptying tables."""
    return rolled_back_db


class Archivable:
    """Marks models whose archived rows are hidden like soft-deleted ones."""

    archived: Mapped[bool] = mapped_column(default=False)


class RuleShelf(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    notes: Mapped[list[RuleNote]] = relationship(back_populates="shelf", order_by="RuleNote.id")


class RuleNote(Model, Archivable):
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(50))
    shelf_id: Mapped[int | None] = mapped_column(ForeignKey("rule_shelf.id"))
    shelf: Mapped[RuleShelf | None] = relationship(back_populates="notes")


class ArchiveRule(Rule):
    """Hide archived rows; a delete archives; writes refused while ``frozen``."""

    frozen = False

    def applies(self, model: type[Any]) -> bool:
        return issubclass(model, Archivable)

    def row_filter(
        self, model: type[Any], column: Callable[[str], Any], visibility: Visibility
    ) -> Any:
        if visibility == "include":
            return None
        archived = column("archived")
        return archived.is_(False) if visibility == "hide" else archived.is_(True)

    def loader_option(self) -> Any:
        return with_loader_criteria(
            Archivable, lambda cls: cls.archived.is_(False), include_aliases=True
        )

    def check_write(self, model: type[Any], operation: str) -> None:
        if self.frozen:
            raise ReadOnlyError(f"{model.__name__} is frozen: {operation} refused.")

    def delete_values(self, model: type[Any]) -> dict[str, Any] | None:
        return {"archived": True}

    def restore_values(self, model: type[Any]) -> dict[str, Any] | None:
        return {"archived": False}


@pytest.fixture
def rule() -> Iterator[ArchiveRule]:
    added = register_rule(ArchiveRule())
    try:
        yield added
    finally:
        unregister_rule(added)


async def _seed() -> RuleShelf:
    shelf = await RuleShelf.objects.create(name="s")
    await RuleNote.objects.create(title="kept", shelf_id=shelf.id)
    await RuleNote.objects.create(title="gone", shelf_id=shelf.id, archived=True)
    return shelf


async def test_row_filter_on_compiled_queries(db: Database, rule: ArchiveRule) -> None:
    await _seed()
    assert [n.title for n in await RuleNote.objects.order_by("id")] == ["kept"]
    assert await RuleNote.objects.count() == 1
    assert await RuleNote.objects.values_list("title", flat=True) == ["kept"]
    assert await RuleNote.objects.filter(title="gone").exists() is False
    everything = RuleNote.objects.with_deleted().order_by("id")
    assert await everything.values_list("title", flat=True) == ["kept", "gone"]
    assert await RuleNote.objects.only_deleted().values_list("title", flat=True) == ["gone"]
    # update() sees only the visible rows too
    assert await RuleNote.objects.update(title="seen") == 1


async def test_row_filter_through_relationships(db: Database, rule: ArchiveRule) -> None:
    await _seed()
    assert await RuleShelf.objects.filter(notes__title="kept").count() == 1
    assert await RuleShelf.objects.filter(notes__title="gone").count() == 0
    assert await RuleShelf.objects.values_list("notes__title", flat=True) == ["kept"]


async def test_loader_option_on_session_selects(db: Database, rule: ArchiveRule) -> None:
    await _seed()
    async with db.session() as session:
        titles = (await session.scalars(select(RuleNote.title))).all()
        notes = (await session.scalars(select(RuleNote))).all()
        shelves = await session.scalars(select(RuleShelf).options(selectinload(RuleShelf.notes)))
        loaded = [n.title for s in shelves for n in s.notes]
    assert titles == ["kept"]  # a column select of the entity gets the criteria too
    assert [n.title for n in notes] == ["kept"]
    assert loaded == ["kept"]


async def test_delete_and_restore_follow_the_rule(db: Database, rule: ArchiveRule) -> None:
    await _seed()
    note = await RuleNote.objects.get(title="kept")
    assert await note.delete() == 1
    assert note.archived is True
    assert await RuleNote.objects.count() == 0
    assert await RuleNote.objects.with_deleted().count() == 2  # archived, not removed
    assert await RuleNote.objects.filter(title="kept").restore() == 1
    assert await RuleNote.objects.values_list("title", flat=True) == ["kept"]
    assert await RuleNote.objects.filter(title="kept").delete() == 1
    assert await RuleNote.objects.count() == 0


async def test_check_write_on_every_write_path(db: Database, rule: ArchiveRule) -> None:
    await _seed()
    note = await RuleNote.objects.get(title="kept")
    rule.frozen = True
    with pytest.raises(ReadOnlyError, match="RuleNote is frozen: create"):
        await RuleNote.objects.create(title="x")
    with pytest.raises(ReadOnlyError, match="frozen: update"):
        await RuleNote.objects.update(title="y")
    with pytest.raises(ReadOnlyError, match="frozen: bulk_create"):
        await RuleNote.objects.bulk_create([RuleNote(title="z")])
    note.title = "changed"
    with pytest.raises(ReadOnlyError, match="frozen: a flush"):
        await note.save()
    rule.frozen = False
    assert await RuleNote.objects.with_deleted().order_by("id").values_list("title", flat=True) == [
        "kept",
        "gone",
    ]


async def test_unregistered_rule_no_longer_applies(db: Database) -> None:
    added = register_rule(ArchiveRule())
    assert rules_for(RuleNote) == (added,)
    await _seed()
    assert await RuleNote.objects.count() == 1
    unregister_rule(added)
    assert rules_for(RuleNote) == ()
    assert await RuleNote.objects.count() == 2
    assert rules_for(RuleShelf) == ()
