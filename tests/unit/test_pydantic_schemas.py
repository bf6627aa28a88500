"""``schema_for``: field shapes, payload validation, naming and caching (no database)."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pydantic
import pytest
from sqlalchemy import JSON, Computed, Enum, FetchedValue, Identity, Numeric, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import Model, ReadOnlyError, ValidationError, schema_for
from orm_kit.contrib.pydantic import ReadSchema, WriteSchema
from orm_kit.mixins import AuditedModel
from orm_kit.types import utcnow
from tests.models import Country, Invoice, Post, User


class Shade(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Widget(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(8))
    shade: Mapped[Shade] = mapped_column(Enum(Shade))
    price: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    note: Mapped[str | None] = mapped_column(Text)
    stock: Mapped[int] = mapped_column(server_default="0")
    serial: Mapped[int] = mapped_column(Identity())
    total: Mapped[int | None] = mapped_column(Computed("stock * 2", persisted=True))
    stamp: Mapped[str | None] = mapped_column(String(20), server_default=FetchedValue())
    touched: Mapped[datetime | None] = mapped_column(default=None, onupdate=utcnow)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)


class Gizmo(AuditedModel):
    """UUIDv7 key, timestamps, soft delete and audit columns from the mixins."""

    label: Mapped[str] = mapped_column(String(30))
    seen: Mapped[datetime] = mapped_column(server_default=func.now())


GOOD: dict[str, Any] = {"code": "AB-1", "shade": "red", "price": "1234.50"}


def test_create_schema_fields() -> None:
    schema = schema_for(Widget, "create")
    fields = schema.model_fields
    # Autoincrement key, Identity, Computed, trigger (FetchedValue) and onupdate columns
    # are filled by the database or orm_kit: a client does not give them.
    assert list(fields) == ["code", "shade", "price", "note", "stock", "tags"]
    assert [k for k, f in fields.items() if f.is_required()] == ["code", "shade", "price"]
    assert fields["note"].default is None
    # A server default: optional, with no value pydantic could show.
    assert "default" not in schema.model_json_schema()["properties"]["stock"]
    assert schema.model_json_schema()["properties"]["code"]["maxLength"] == 8


def test_create_schema_accepts_a_good_payload() -> None:
    payload = schema_for(Widget, "create").model_validate(GOOD)
    assert payload.model_dump() == {"code": "AB-1", "shade": Shade.RED, "price": Decimal("1234.50")}
    # Fields not given stay out of the dump, so the model's defaults apply.
    assert "stock" not in payload.model_dump()
    assert "note" not in payload.model_dump_json()


@pytest.mark.parametrize(
    ("change", "error_type"),
    [
        ({"code": "TOO-LONG-1"}, "string_too_long"),
        ({"code": 12}, "string_type"),
        ({"shade": "green"}, "enum"),
        ({"price": "12345.6"}, "decimal_whole_digits"),
        ({"price": "1.234"}, "decimal_max_places"),
        ({"price": "abc"}, "decimal_parsing"),
        ({"stock": 2**31}, "less_than_equal"),
        ({"total": 3}, "extra_forbidden"),
        ({"code": None}, "string_type"),
    ],
)
def test_create_schema_rejects_bad_payloads(change: dict[str, Any], error_type: str) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        schema_for(Widget, "create").model_validate({**GOOD, **change})
    assert [e["type"] for e in caught.value.errors()] == [error_type]


@pytest.mark.parametrize("missing", ["code", "shade", "price"])
def test_create_schema_requires_not_null_columns_without_default(missing: str) -> None:
    body = {k: v for k, v in GOOD.items() if k != missing}
    with pytest.raises(pydantic.ValidationError) as caught:
        schema_for(Widget, "create").model_validate(body)
    assert [(e["type"], e["loc"]) for e in caught.value.errors()] == [("missing", (missing,))]


def test_scalar_defaults_show_in_the_create_schema() -> None:
    fields = schema_for(User, "create").model_fields
    assert (fields["name"].default, fields["is_active"].default, fields["score"].default) == (
        "",
        True,
        0,
    )
    assert fields["email"].is_required()
    assert "id" not in fields  # autoincrement primary key


def test_mixin_columns_are_read_only() -> None:
    read = schema_for(Gizmo, "read").model_fields
    assert {"id", "created_at", "updated_at", "deleted_at", "created_by", "updated_by"} <= set(read)
    create = schema_for(Gizmo, "create").model_fields
    # A plain server default (func.now()) stays optional; mixin columns and the key go.
    assert list(create) == ["label", "seen"]
    assert not create["seen"].is_required()
    assert list(schema_for(Gizmo, "update").model_fields) == ["label", "seen"]
    with pytest.raises(pydantic.ValidationError) as caught:
        schema_for(Gizmo, "create").model_validate({"label": "x", "created_by": "mallory"})
    assert caught.value.errors()[0]["type"] == "extra_forbidden"


def test_include_opts_a_left_out_column_back_in() -> None:
    schema = schema_for(Gizmo, "create", include={"id"})
    assert schema.__name__ == "GizmoCreateWithId"
    assert not schema.model_fields["id"].is_required()
    payload = schema.model_validate({"label": "x", "id": "01890a5d-ac96-774b-bcce-b302099a8057"})
    assert str(payload.model_dump()["id"]) == "01890a5d-ac96-774b-bcce-b302099a8057"


def test_update_schema_makes_every_field_optional() -> None:
    schema = schema_for(Widget, "update")
    assert "id" not in schema.model_fields
    assert not any(f.is_required() for f in schema.model_fields.values())
    assert schema.model_validate({}).model_dump() == {}
    payload = schema.model_validate({"note": None, "price": "2.50"})
    assert payload.model_dump() == {"note": None, "price": Decimal("2.50")}
    assert payload.model_fields_set == {"note", "price"}
    with pytest.raises(pydantic.ValidationError) as caught:  # NOT NULL: no explicit null
        schema.model_validate({"code": None})
    assert caught.value.errors()[0]["loc"] == ("code",)
    with pytest.raises(pydantic.ValidationError):
        schema.model_validate({"code": "much too long"})


def test_update_from_sets_only_the_fields_that_were_set() -> None:
    user = User(id=1, email="ann@example.com", name="Ann", age=30, score=5)
    payload = schema_for(User, "update").model_validate({"name": "Annie", "age": None})
    assert user.update_from(payload) is user
    assert (user.email, user.name, user.age, user.score) == ("ann@example.com", "Annie", None, 5)


def test_update_from_checks_values_like_update() -> None:
    class Loose(pydantic.BaseModel):
        age: Any = None
        nickname: str | None = None

    user = User(id=1, email="ann@example.com", age=30)
    with pytest.raises(ValidationError, match=r"User\.age expects"):
        user.update_from(Loose(age="old"))
    with pytest.raises(ValidationError, match=r"no field\(s\) nickname"):
        user.update_from(Loose(nickname="a"))
    assert user.age == 30
    with pytest.raises(ValidationError, match="takes a pydantic model"):
        user.update_from({"age": 3})  # type: ignore[arg-type]


def test_read_schema_types_and_nullability() -> None:
    schema = schema_for(User)
    assert issubclass(schema, ReadSchema)
    assert schema.model_config.get("from_attributes") is True
    assert all(f.is_required() for f in schema.model_fields.values())
    assert "posts" not in schema.model_fields  # relationships only when asked
    props = schema.model_json_schema()["properties"]
    assert props["age"]["anyOf"] == [{"type": "integer"}, {"type": "null"}]
    assert props["email"] == {"title": "Email", "type": "string"}  # no write constraints
    assert props["data"]["anyOf"][0]["type"] == "object"  # from Mapped[dict[str, Any] | None]


def test_names_and_cache() -> None:
    assert schema_for(User, "read") is schema_for(User)
    assert schema_for(User, "create") is schema_for(User, "create")
    assert schema_for(Post, include={"author"}) is schema_for(Post, include=frozenset({"author"}))
    # New-user trial: include="author" was read letter by letter ("cannot include 'a'").
    assert schema_for(Post, include="author") is schema_for(Post, include={"author"})  # type: ignore[call-overload]
    with pytest.raises(ValidationError, match="takes a set of field names"):
        schema_for(Post, include=7)  # type: ignore[call-overload]
    names = {
        schema_for(User, "read").__name__,
        schema_for(User, "create").__name__,
        schema_for(User, "update").__name__,
        schema_for(Post, include={"tags", "author"}).__name__,
        schema_for(User, "create", exclude={"data", "seen_at"}).__name__,
        schema_for(User, include={"posts__tags"}).__name__,
    }
    assert names == {
        "UserRead",
        "UserCreate",
        "UserUpdate",
        "PostReadWithAuthorAndTags",
        "UserCreateWithoutDataAndSeenAt",
        "UserReadWithPostsTags",
    }
    assert schema_for(User, "create").model_json_schema()["title"] == "UserCreate"
    nested = schema_for(Post, include={"author"}).model_json_schema()
    assert nested["title"] == "PostReadWithAuthor"
    assert nested["properties"]["author"]["anyOf"][0] == {"$ref": "#/$defs/UserRead"}
    assert issubclass(schema_for(User, "update"), WriteSchema)


def test_exclude_leaves_columns_out() -> None:
    schema = schema_for(User, exclude={"data"})
    assert "data" not in schema.model_fields
    assert schema.__name__ == "UserReadWithoutData"


def test_read_only_models_have_no_write_schema() -> None:
    assert "code" in schema_for(Country).model_fields
    for mode in ("create", "update"):
        with pytest.raises(ReadOnlyError, match=r"Country is read-only.*schema_for\(Country"):
            schema_for(Country, mode)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "delete"}, "mode must be one of"),
        ({"include": {"writer"}}, "'writer' is not a relationship of Post"),
        ({"include": {"author__nope"}}, "'nope' is not a relationship of User"),
        ({"exclude": {"nope"}}, "cannot exclude nope: not a column"),
        ({"mode": "create", "include": {"author"}}, "nested writes are not supported"),
        ({"include": {"author"}, "exclude": {"author"}}, "cannot exclude author"),
        ({"exclude": {"title"}, "include": {"title"}}, "in both include and exclude"),
    ],
)
def test_bad_arguments_raise_validation_error(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        schema_for(Post, **kwargs)


def test_not_a_model_is_refused() -> None:
    with pytest.raises(ValidationError, match="concrete orm_kit model"):
        schema_for(AuditedModel)  # abstract


def test_invoice_create_dump_feeds_the_model() -> None:
    payload = schema_for(Invoice, "create").model_validate({"number": "A-1"})
    invoice = Invoice(**payload.model_dump())
    assert invoice.number == "A-1"
    # UTCDateTime columns hold aware datetimes only.
    assert schema_for(Invoice).model_fields["created_at"].annotation is pydantic.AwareDatetime
    row = {
        "id": "01890a5d-ac96-774b-bcce-b302099a8057",
        "number": "A-2",
        "paid": False,
        "amount": 0,
        "created_at": datetime(2024, 1, 1, tzinfo=UTC),
        "updated_at": datetime(2024, 1, 1, tzinfo=UTC),
        "deleted_at": None,
        "created_by": None,
        "updated_by": None,
    }
    assert schema_for(Invoice).model_validate(row).number == "A-2"
    with pytest.raises(pydantic.ValidationError) as caught:
        schema_for(Invoice).model_validate({**row, "created_at": datetime(2024, 1, 1)})
    assert [e["loc"] for e in caught.value.errors()] == [("created_at",)]
