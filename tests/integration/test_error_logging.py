"""A ConflictError is logged once, at WARNING, with model and operation, never with values."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import pytest

from orm_kit import ConflictError, Database
from tests.models import User

SECRET = "s3cret-ann@example.com"  # the conflicting (unique) value


@pytest.fixture
async def taken(db: Database) -> Database:
    await User.objects.create(email=SECRET, name="Ann")
    await User.objects.create(email="bob@example.com", name="Bob")
    return db


async def _save_duplicate() -> None:
    await User(email=SECRET, name="Dup").save()


async def _save_duplicate_in_a_session(db: Database) -> None:
    async with db.session():
        await User(email=SECRET, name="Dup").save()


WRITES: dict[str, Callable[[Database], Awaitable[object]]] = {
    "create": lambda db: User.objects.create(email=SECRET, name="Dup"),
    "save": lambda db: _save_duplicate(),
    "save-in-session": _save_duplicate_in_a_session,
    "update": lambda db: User.objects.filter(email="bob@example.com").update(email=SECRET),
    "bulk_create": lambda db: User.objects.bulk_create([User(email=SECRET, name="Dup")]),
}


@pytest.mark.parametrize("write", list(WRITES))
async def test_a_conflict_is_logged_once_at_warning_without_values(
    taken: Database, write: str, caplog: pytest.LogCaptureFixture
) -> None:
    operation = write.removesuffix("-in-session")
    with caplog.at_level(logging.DEBUG, logger="orm_kit"), pytest.raises(ConflictError):
        await WRITES[write](taken)
    records = [r for r in caplog.records if r.name == "orm_kit"]
    assert len(records) == 1, [r.getMessage() for r in records]
    record = records[0]
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        f"orm_kit {operation} on User failed: ConflictError (uq_user_email)"
    )
    assert record.orm_kit_model == "User"  # type: ignore[attr-defined]
    assert record.orm_kit_operation == operation  # type: ignore[attr-defined]
    assert record.orm_kit_constraint == "uq_user_email"  # type: ignore[attr-defined]
    # The value is nowhere in the record: message, arguments, extras, traceback.
    assert record.exc_info is None and record.exc_text is None
    assert SECRET not in repr(vars(record))
    assert "s3cret" not in caplog.text
