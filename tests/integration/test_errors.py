"""Bad input gets a named orm_kit error and leaves the table unchanged."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy import text

from orm_kit import (
    ConflictError,
    Database,
    DatabaseError,
    InvalidLookupError,
    ORMKitError,
    ValidationError,
)
from tests.models import Post, Product, User


async def snapshot(db: Database) -> list[tuple[Any, ...]]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(text('SELECT id, email, name, score FROM "user" ORDER BY id'))
        return [tuple(r) for r in rows]


@pytest.fixture
async def seeded(db: Database) -> Database:
    await User.objects.create(email="ann@example.com", name="Ann", score=1)
    await User.objects.create(email="bob@example.com", name="Bob", score=2)
    return db


async def test_unknown_field_names_model_and_choices(seeded: Database) -> None:
    before = await snapshot(seeded)
    with pytest.raises(InvalidLookupError) as info:
        await User.objects.filter(emial="ann@example.com")
    message = str(info.value)
    assert "User" in message and "'emial'" in message
    assert "Did you mean 'email'?" in message
    assert "Valid fields:" in message and "score" in message
    with pytest.raises(InvalidLookupError):
        await User.objects.filter(emial="x").update(score=5)
    assert await snapshot(seeded) == before


async def test_unknown_lookup_suggests_the_closest(seeded: Database) -> None:
    with pytest.raises(InvalidLookupError) as info:
        User.objects.filter(name__icontain="a")
    assert "Did you mean 'icontains'?" in str(info.value)
    assert "Valid lookups:" in str(info.value)


async def test_lookup_key_carrying_sql_is_rejected(seeded: Database) -> None:
    before = await snapshot(seeded)
    evil = {'name"; DELETE FROM "user"; --': "x"}
    with pytest.raises(InvalidLookupError):
        await User.objects.filter(**evil)
    with pytest.raises(InvalidLookupError):
        await User.objects.filter(**{"name__exact) OR 1=1 --": "x"})
    with pytest.raises(InvalidLookupError):
        await User.objects.order_by("name; DROP TABLE user")
    with pytest.raises(InvalidLookupError):
        await User.objects.values("email FROM user --")
    with pytest.raises(InvalidLookupError):
        await User.objects.filter(score=1).update(**{"score = 0; --": 1})
    assert await snapshot(seeded) == before


async def test_value_carrying_sql_is_just_a_value(seeded: Database) -> None:
    before = await snapshot(seeded)
    evil = "x' OR '1'='1"
    assert await User.objects.filter(name=evil).count() == 0
    assert await User.objects.filter(name__contains=evil).count() == 0
    assert await User.objects.filter(name__icontains="'; DROP TABLE user; --").count() == 0
    assert await User.objects.filter(name=evil).update(score=99) == 0
    assert await snapshot(seeded) == before
    await User.objects.create(email="evil@x.io", name='Robert\'); DROP TABLE "user";--')
    assert (await User.objects.get(email="evil@x.io")).name.startswith("Robert')")


async def test_negative_slice_raises_value_error(seeded: Database) -> None:
    with pytest.raises(ValueError, match="Negative"):
        User.objects.all()[-1]
    with pytest.raises(ValueError, match="Negative"):
        User.objects.all()[:-1]


async def test_get_with_no_or_several_matches(seeded: Database) -> None:
    before = await snapshot(seeded)
    with pytest.raises(User.DoesNotExist):
        await User.objects.get(email="nobody@example.com")
    with pytest.raises(User.MultipleObjectsReturned):
        await User.objects.get(score__gte=1)
    assert await snapshot(seeded) == before


async def test_duplicate_unique_value_is_a_conflict(seeded: Database) -> None:
    before = await snapshot(seeded)
    with pytest.raises(ConflictError) as info:
        await User.objects.create(email="ann@example.com", name="Dup")
    assert info.value.constraint == "uq_user_email"
    assert info.value.kind == "unique"
    assert info.value.__cause__ is not None
    assert await snapshot(seeded) == before
    user = await User.objects.get(email="bob@example.com")
    user.email = "ann@example.com"
    with pytest.raises(ConflictError):
        await user.save()
    assert await snapshot(seeded) == before


async def test_a_taken_primary_key_names_the_primary_key_constraint(seeded: Database) -> None:
    taken = (await User.objects.get(email="ann@example.com")).id
    before = await snapshot(seeded)
    with pytest.raises(ConflictError) as info:
        await User.objects.create(id=taken, email="new@example.com")
    # PostgreSQL reports pk_user; on SQLite ("UNIQUE constraint failed: user.id") the
    # name comes from the model's table, not from the unique-constraint pattern.
    assert (info.value.kind, info.value.constraint) == ("unique", "pk_user")
    assert await snapshot(seeded) == before


async def test_composite_unique_check_and_foreign_key_conflicts(seeded: Database) -> None:
    await Product.objects.create(sku="A", region="eu")
    with pytest.raises(ConflictError) as info:
        await Product.objects.create(sku="A", region="eu")
    assert info.value.constraint == "uq_product_sku_region"
    with pytest.raises(ConflictError) as info:
        await Product.objects.create(sku="B", price=-1)
    assert info.value.kind == "check"
    assert info.value.constraint == "ck_product_price_positive"
    with pytest.raises(ConflictError) as info:
        await Post.objects.create(author_id=987654, title="orphan")
    assert info.value.kind == "foreign_key"
    author = await User.objects.get(email="ann@example.com")
    await Post.objects.create(author_id=author.id, title="kept")
    with pytest.raises(ConflictError):
        await author.delete()  # ON DELETE RESTRICT
    assert await Product.objects.count() == 1
    assert await Post.objects.count() == 1


async def test_not_null_violation_is_a_conflict(seeded: Database) -> None:
    with pytest.raises(ConflictError) as info:
        await Post.objects.create(title="no author")
    assert info.value.kind in ("not_null", "foreign_key")
    assert await Post.objects.count() == 0


async def test_unknown_create_field_is_a_validation_error(seeded: Database) -> None:
    before = await snapshot(seeded)
    with pytest.raises(ValidationError, match="nickname"):
        await User.objects.create(email="c@x.io", nickname="c")
    assert await snapshot(seeded) == before


async def test_none_with_a_comparison_lookup(seeded: Database) -> None:
    with pytest.raises(ValidationError, match="isnull"):
        User.objects.filter(age__gt=None)


async def test_errors_are_logged_once_without_values(
    seeded: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="orm_kit")
    with pytest.raises(ConflictError):
        await User.objects.create(email="ann@example.com", name="secret-value")
    records = [r for r in caplog.records if r.name == "orm_kit"]
    assert len(records) == 1
    assert records[0].orm_kit_model == "User"  # type: ignore[attr-defined]
    assert records[0].orm_kit_operation == "create"  # type: ignore[attr-defined]
    assert "secret-value" not in records[0].getMessage()
    assert "ann@example.com" not in records[0].getMessage()


async def test_driver_errors_are_translated(seeded: Database) -> None:
    session = seeded.new_session()
    try:
        with pytest.raises(ORMKitError):
            await User.objects.using(session).filter(User.id == text("no_such_column")).count()
    finally:
        await session.close()
    assert issubclass(DatabaseError, ORMKitError)
