"""pre_save / post_save / pre_delete / post_delete: when they fire and what they see."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from orm_kit import Database
from orm_kit.signals import Signal, post_delete, post_save, pre_delete, pre_save
from tests.models import Invoice, User


@pytest.fixture
def db(rolled_back_db: Database) -> Database:
    """Isolation by rollback (orm_kit.testing's orm_session) instead of emptying tables."""
    return rolled_back_db


@contextmanager
def connected(signal: Signal, fn: Any, sender: type[Any] | None = None) -> Iterator[None]:
    signal.connect(fn, sender)
    try:
        yield
    finally:
        signal.disconnect(fn, sender)


async def test_save_signals_fire_for_create_and_save(db: Database) -> None:
    seen: list[tuple[str, str, bool]] = []

    async def before(sender: type[Any], instance: Any, created: bool) -> None:
        seen.append(("pre", instance.email, created))
        instance.name = instance.name or "filled by pre_save"

    def after(sender: type[Any], instance: Any, created: bool) -> None:
        assert instance.id is not None  # flushed already
        seen.append(("post", instance.email, created))

    with connected(pre_save, before, User), connected(post_save, after, User):
        user = await User.objects.create(email="a@x.io")
        user.score = 3
        await user.save()
        await User.objects.bulk_create([User(email="bulk@x.io")])  # set-based: no signals
        await User.objects.filter(email="a@x.io").update(score=4)  # no signals
    assert seen == [
        ("pre", "a@x.io", True),
        ("post", "a@x.io", True),
        ("pre", "a@x.io", False),
        ("post", "a@x.io", False),
    ]
    assert (await User.objects.get(email="a@x.io")).name == "filled by pre_save"
    await User.objects.create(email="later@x.io")  # disconnected: nothing recorded
    assert len(seen) == 4


async def test_delete_signals_report_soft_and_hard_deletes(db: Database) -> None:
    seen: list[tuple[str, str, bool]] = []

    def record(name: str) -> Any:
        def receive(sender: type[Any], instance: Any, soft: bool) -> None:
            seen.append((name, sender.__name__, soft))

        return receive

    before, after = record("pre"), record("post")
    with connected(pre_delete, before), connected(post_delete, after):
        inv = await Invoice.objects.create(number="1")
        user = await User.objects.create(email="a@x.io")
        await inv.delete()
        await inv.hard_delete()
        await user.delete()
        await User.objects.filter(email="zzz").delete()  # set-based: no signals
    assert seen == [
        ("pre", "Invoice", True),
        ("post", "Invoice", True),
        ("pre", "Invoice", False),
        ("post", "Invoice", False),
        ("pre", "User", False),
        ("post", "User", False),
    ]


async def test_a_failing_receiver_rolls_the_write_back(db: Database) -> None:
    def refuse(sender: type[Any], instance: Any, created: bool) -> None:
        raise RuntimeError("receiver said no")

    with connected(post_save, refuse, User), pytest.raises(RuntimeError, match="said no"):
        await User.objects.create(email="a@x.io")
    assert await User.objects.count() == 0
