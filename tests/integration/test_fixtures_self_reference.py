"""``load_data`` of tables that reference themselves, on every backend: whatever the order in
the file, parents go in before their children; a cycle through a nullable column loads (the
reference set by an UPDATE in the same transaction); one through a NOT NULL column is refused
naming its rows, and nothing is loaded.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import Database, Model
from orm_kit.fixtures import FixtureError, dump_data, load_data, model_label


class TreeNode(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("tree_node.id"))


class StrictBoss(Model):
    """Everyone has a manager (NOT NULL); the top one manages themself."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    manager_id: Mapped[int] = mapped_column(ForeignKey("strict_boss.id"))


def fixture(path: Path, model: type[Model], rows: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps([{"model": model_label(model), "fields": r} for r in rows]))
    return path


async def nodes() -> list[tuple[Any, ...]]:
    return await TreeNode.objects.order_by("id").values_list("id", "name", "parent_id")


async def test_children_listed_before_their_parents_load(db: Database, tmp_path: Path) -> None:
    # A chain longer than Python's recursion limit, listed leaf first, then a small tree
    # whose rows are shuffled: every row comes before the row it points at.
    chain = [
        {"id": i, "name": f"n{i}", "parent_id": i + 1 if i < 1500 else None} for i in range(1, 1501)
    ]
    tree = [
        {"id": 2003, "name": "grandchild", "parent_id": 2002},
        {"id": 2001, "name": "root-of-tree", "parent_id": None},
        {"id": 2004, "name": "sibling", "parent_id": 2002},
        {"id": 2002, "name": "child", "parent_id": 2001},
    ]
    path = fixture(tmp_path / "tree.json", TreeNode, chain + tree)
    assert await load_data(db, [path]) == 1504
    expected = sorted((r["id"], r["name"], r["parent_id"]) for r in chain + tree)
    assert await nodes() == expected


async def test_a_dump_of_a_reparented_tree_loads_back(db: Database, tmp_path: Path) -> None:
    first = await TreeNode.objects.create(name="first")
    second = await TreeNode.objects.create(name="second")
    third = await TreeNode.objects.create(name="third", parent_id=second.id)
    # Re-parented under a later row: primary-key order now lists children first.
    await TreeNode.objects.filter(id=first.id).update(parent_id=third.id)
    before = await nodes()
    assert before == [
        (first.id, "first", third.id),
        (second.id, "second", None),
        (third.id, "third", second.id),
    ]
    out = io.StringIO()
    await dump_data(db, out, [TreeNode])
    await TreeNode.objects.filter().update(parent_id=None)
    await TreeNode.objects.filter().delete()
    dumped = [r["fields"]["id"] for r in json.loads(out.getvalue())]
    assert dumped == [first.id, second.id, third.id]
    path = tmp_path / "dump.json"
    path.write_text(out.getvalue())
    assert await load_data(db, [path]) == 3
    assert await nodes() == before


async def test_a_cycle_through_a_nullable_reference_loads(db: Database, tmp_path: Path) -> None:
    rows = [
        {"id": 1, "name": "a", "parent_id": 2},
        {"id": 2, "name": "b", "parent_id": 3},
        {"id": 3, "name": "c", "parent_id": 1},
        {"id": 4, "name": "d", "parent_id": 3},
        {"id": 5, "name": "self", "parent_id": 5},
    ]
    assert await load_data(db, [fixture(tmp_path / "cycle.json", TreeNode, rows)]) == 5
    assert await nodes() == [(r["id"], r["name"], r["parent_id"]) for r in rows]


async def test_a_cycle_through_a_not_null_reference_is_refused(
    db: Database, tmp_path: Path
) -> None:
    label = model_label(StrictBoss)
    ok = [
        {"id": 3, "name": "clerk", "manager_id": 1},
        {"id": 1, "name": "ceo", "manager_id": 1},  # managing themself: one insert does it
    ]
    assert await load_data(db, [fixture(tmp_path / "ok.json", StrictBoss, ok)]) == 2
    assert await StrictBoss.objects.order_by("id").values_list("id", "manager_id") == [
        (1, 1),
        (3, 1),
    ]
    # (The rows stay: InnoDB cannot delete a row that references itself.)

    cycle = [
        {"id": 10, "name": "ceo", "manager_id": 10},
        {"id": 11, "name": "x", "manager_id": 12},
        {"id": 12, "name": "y", "manager_id": 11},
    ]
    path = fixture(tmp_path / "cycle.json", StrictBoss, cycle)
    with pytest.raises(FixtureError) as caught:
        await load_data(db, [path])
    assert str(caught.value) == (
        f"{path}, record 2 ({label}); {path}, record 3 ({label}): these rows reference each "
        "other in a cycle through the NOT NULL column(s) manager_id, so no order of inserts "
        "can load them; nothing was loaded. Make the column nullable or break the cycle in "
        "the fixture."
    )
    assert await StrictBoss.objects.count() == 2  # the first fixture's rows only
