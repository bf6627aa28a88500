"""Generated pydantic schemas and ``to_dict(mode="json")`` against real rows, on every backend."""

from __future__ import annotations

import enum
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pydantic
import pytest
from sqlalchemy import (
    JSON,
    BigInteger,
    Enum,
    Float,
    Interval,
    LargeBinary,
    Numeric,
    SmallInteger,
    String,
    Text,
    Time,
    Uuid,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import Database, Model, RelationNotLoadedError, ValidationError, schema_for
from orm_kit.mixins import AuditedModel, acting_as
from orm_kit.types import UTCDateTime
from tests.models import Invoice, Post, Tag, User


class Mood(enum.Enum):
    CALM = "calm"
    LOUD = "loud"


class Specimen(Model):
    """A column of every type orm_kit checks (orm_kit.query.values)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    small: Mapped[int] = mapped_column(SmallInteger)
    big: Mapped[int] = mapped_column(BigInteger)
    ratio: Mapped[float] = mapped_column(Float)
    price: Mapped[Decimal] = mapped_column(Numeric(10, 3))
    label: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)
    mood: Mapped[Mood] = mapped_column(Enum(Mood))
    flag: Mapped[bool]
    naive: Mapped[datetime]
    aware: Mapped[datetime] = mapped_column(UTCDateTime)
    day: Mapped[date]
    clock: Mapped[time] = mapped_column(Time)
    span: Mapped[timedelta] = mapped_column(Interval)
    blob: Mapped[bytes] = mapped_column(LargeBinary)
    token: Mapped[uuid.UUID] = mapped_column(Uuid)
    doc: Mapped[dict[str, Any]] = mapped_column(JSON)
    missing: Mapped[str | None] = mapped_column(String(10))


class Notebook(AuditedModel):
    title: Mapped[str] = mapped_column(String(30))
    pages: Mapped[int] = mapped_column(default=1)


SPECIMEN: dict[str, Any] = {
    "small": -7,
    "big": 2**40,
    "ratio": 0.25,
    "price": Decimal("1234567.125"),
    "label": "ünïcode ✓",
    "body": "long text " * 20,
    "mood": Mood.LOUD,
    "flag": True,
    "naive": datetime(2024, 2, 29, 13, 45, 1, 123456),
    "aware": datetime(2024, 2, 29, 13, 45, 1, 123456, tzinfo=UTC),
    "day": date(2024, 2, 29),
    "clock": time(23, 59, 58),
    "span": timedelta(days=2, hours=3, microseconds=5),
    "blob": b"\x00\xff binary \xfe",
    "token": uuid.UUID("01890a5d-ac96-774b-bcce-b302099a8057"),
    "doc": {"nested": [1, 2.5, "x", None, True], "empty": {}},
    "missing": None,
}


@contextmanager
def no_sql(db: Database) -> Iterator[list[str]]:
    """Record every statement sent on ``db``'s engine."""
    sent: list[str] = []

    def record(*args: Any) -> None:
        sent.append(args[2])

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


async def test_create_payload_creates_the_row(db: Database) -> None:
    UserCreate = schema_for(User, "create")  # noqa: N806 - a class
    payload = UserCreate.model_validate_json('{"email": "ann@example.com", "age": 31}')
    user = await User.objects.create(**payload.model_dump())
    fetched = await User.objects.get(pk=user.pk)
    assert (fetched.email, fetched.age, fetched.name, fetched.is_active, fetched.score) == (
        "ann@example.com",
        31,
        "",
        True,
        0,
    )


async def test_create_payload_of_a_mixin_model(db: Database) -> None:
    payload = schema_for(Notebook, "create").model_validate({"title": "log"})
    with acting_as("editor-1"):
        book = await Notebook.objects.create(**payload.model_dump())
    fetched = await Notebook.objects.get(pk=book.pk)
    assert (fetched.title, fetched.pages, fetched.created_by) == ("log", 1, "editor-1")
    assert fetched.created_at.tzinfo is not None


async def test_create_payload_with_every_column_type(db: Database) -> None:
    payload = schema_for(Specimen, "create").model_validate(SPECIMEN)
    made = await Specimen.objects.create(**payload.model_dump())
    fetched = await Specimen.objects.get(pk=made.pk)
    assert {k: getattr(fetched, k) for k in SPECIMEN} == SPECIMEN


async def test_generated_schema_rejects_what_the_database_would_not_keep(db: Database) -> None:
    SpecimenCreate = schema_for(Specimen, "create")  # noqa: N806 - a class
    for change in (
        {"label": "x" * 41},
        {"price": Decimal("12345678.1")},
        {"price": Decimal("1.0001")},
        {"small": 2**15},
        {"mood": "quiet"},
        {"aware": "2024-01-01T00:00:00"},  # UTCDateTime needs a time zone
        {"naive": "2024-01-01T00:00:00+02:00"},
        {"token": "not-a-uuid"},
        {"flag": "maybe"},
    ):
        with pytest.raises(pydantic.ValidationError):
            SpecimenCreate.model_validate({**SPECIMEN, **change})
    assert await Specimen.objects.count() == 0


async def test_update_from_then_save_writes_only_the_set_fields(db: Database) -> None:
    user = await User.objects.create(email="ann@example.com", name="Ann", age=30, score=4)
    # Another writer changes score meanwhile; the PATCH below does not send it.
    await User.objects.filter(pk=user.pk).update(score=9)
    payload = schema_for(User, "update").model_validate_json('{"name": "Annie", "age": null}')
    await user.update_from(payload).save()
    fetched = await User.objects.get(pk=user.pk)
    assert (fetched.email, fetched.name, fetched.age, fetched.score) == (
        "ann@example.com",
        "Annie",
        None,
        9,
    )


async def test_update_payload_in_a_queryset_update(db: Database) -> None:
    invoice = await Invoice.objects.create(number="A-1", amount=5)
    payload = schema_for(Invoice, "update").model_validate({"paid": True})
    with acting_as("clerk"):
        assert await Invoice.objects.filter(pk=invoice.pk).update(**payload.model_dump()) == 1
    fetched = await Invoice.objects.get(pk=invoice.pk)
    assert (fetched.paid, fetched.amount, fetched.updated_by) == (True, 5, "clerk")


async def test_read_schema_from_a_fetched_instance(db: Database) -> None:
    ann = await User.objects.create(
        email="ann@example.com", data={"k": [1]}, seen_at=datetime(2024, 1, 1, tzinfo=UTC)
    )
    fetched = await User.objects.get(pk=ann.pk)
    with no_sql(db) as sent:
        read = schema_for(User).model_validate(fetched)
    assert sent == []
    assert read.model_dump() == fetched.to_dict()
    assert "posts" not in read.model_dump()


async def test_read_schema_nests_loaded_relations_without_sql(db: Database) -> None:
    ann = await User.objects.create(email="ann@example.com", name="Ann")
    post = await Post.objects.create(author=ann, title="Hello")
    tag = await Tag.objects.create(name="news")
    await post.related("tags").add(tag)
    loaded = await Post.objects.select_related("author").prefetch_related("tags").get(pk=post.pk)
    PostRead = schema_for(Post, include={"author", "tags"})  # noqa: N806 - a class
    with no_sql(db) as sent:
        read = PostRead.model_validate(loaded)
        dumped = json.loads(read.model_dump_json())
    assert sent == []
    assert dumped["author"]["name"] == "Ann"
    assert [t["name"] for t in dumped["tags"]] == ["news"]
    # Two levels: the user's posts and each post's tags.
    user = await User.objects.prefetch_related("posts__tags").get(pk=ann.pk)
    with no_sql(db) as sent:
        deep = schema_for(User, include={"posts__tags"}).model_validate(user)
    assert sent == []
    assert [[t.name for t in p.tags] for p in deep.posts] == [["news"]]  # type: ignore[attr-defined]


async def test_unloaded_relation_raises_without_sql(db: Database) -> None:
    ann = await User.objects.create(email="ann@example.com")
    post = await Post.objects.create(author_id=ann.pk, title="Hello")
    plain = await Post.objects.get(pk=post.pk)
    PostRead = schema_for(Post, include={"author"})  # noqa: N806 - a class
    with no_sql(db) as sent, pytest.raises(RelationNotLoadedError, match=r"Post\.author"):
        PostRead.model_validate(plain)
    # Inside a session too, where SQLAlchemy could otherwise lazy-load.
    async with db.session():
        attached = await Post.objects.get(pk=post.pk)
        with no_sql(db) as sent_in_session, pytest.raises(RelationNotLoadedError):
            PostRead.model_validate(attached)
    assert sent == sent_in_session == []


async def test_deferred_column_raises_without_sql(db: Database) -> None:
    ann = await User.objects.create(email="ann@example.com")
    partial = await User.objects.only("id", "email").get(pk=ann.pk)
    with no_sql(db) as sent, pytest.raises(ValidationError, match=r"User\.name is not loaded"):
        schema_for(User).model_validate(partial)
    assert sent == []
    assert schema_for(User, exclude=set(SLIM)).model_validate(partial).model_dump() == {
        "id": ann.pk,
        "email": "ann@example.com",
    }


SLIM = ("name", "is_active", "age", "score", "last_login", "seen_at", "birthday", "data")


async def test_to_dict_json_round_trips_every_column_type(db: Database) -> None:
    made = await Specimen.objects.create(**SPECIMEN)
    fetched = await Specimen.objects.get(pk=made.pk)
    data = fetched.to_dict(mode="json")
    text = json.dumps(data)
    assert json.loads(text) == data
    assert data["price"] == "1234567.125"
    assert data["token"] == "01890a5d-ac96-774b-bcce-b302099a8057"
    assert data["aware"] == "2024-02-29T13:45:01.123456Z"
    assert data["naive"] == "2024-02-29T13:45:01.123456"
    assert (data["day"], data["clock"], data["mood"]) == ("2024-02-29", "23:59:58", "loud")
    assert data["span"] == "P2DT3H0.000005S"
    assert data["blob"] == "AP8gYmluYXJ5IP4="
    assert data["doc"] == SPECIMEN["doc"]
    # And back: the read schema parses the JSON into the values the row holds.
    back = schema_for(Specimen).model_validate_json(text)
    assert back.model_dump() == fetched.to_dict() == {"id": made.pk, **SPECIMEN}
    # Python mode is unchanged.
    assert fetched.to_dict(exclude={"id"}) == SPECIMEN


async def test_to_dict_json_of_included_relations(db: Database) -> None:
    ann = await User.objects.create(email="ann@example.com")
    await Post.objects.create(author=ann, title="Hi", rating=Decimal("4.50"))
    user = await User.objects.prefetch_related("posts").get(pk=ann.pk)
    data = user.to_dict(mode="json", include={"posts"})
    assert json.loads(json.dumps(data))["posts"][0]["rating"] == "4.50"
    with pytest.raises(ValidationError, match="mode must be"):
        user.to_dict(mode="yaml")  # type: ignore[arg-type]
