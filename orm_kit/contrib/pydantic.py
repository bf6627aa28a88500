"""Pydantic v2 schemas built from a model's columns: ``schema_for(User, mode="create")``.

One function, three shapes of the same model, each class built once and cached:

* ``"read"`` (``UserRead``): every column, ``from_attributes=True``; relationships only when
  named in ``include=`` and never loaded on access (an unloaded one raises
  ``RelationNotLoadedError``, a column that is not loaded ``ValidationError``; no SQL).
* ``"create"`` (``UserCreate``): the columns a client may give. Required when NOT NULL
  without a default; optional when nullable or with a client or server default; left out
  when orm_kit or the database fills them (autoincrement and defaulted primary keys,
  ``Computed`` / ``Identity`` / trigger columns, ``onupdate`` columns, and the columns of
  ``TimestampMixin`` / ``SoftDeleteMixin`` / ``AuditMixin``).
* ``"update"`` (``UserUpdate``): the same columns minus the primary key, every field
  optional, for ``obj.update_from(payload)``.

``model_dump()`` of a create or update payload holds only the fields that were set, so
``await User.objects.create(**payload.model_dump())`` lets the model's own defaults apply.
"""

from __future__ import annotations

import enum
import hashlib
import typing
import uuid
from datetime import date, time, timedelta
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    NaiveDatetime,
    SerializerFunctionWrapHandler,
    create_model,
    model_serializer,
    model_validator,
)
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    DefaultClause,
    Enum,
    Float,
    Integer,
    Interval,
    LargeBinary,
    Numeric,
    String,
    Time,
    Uuid,
)
from sqlalchemy.orm import Mapped, MappedColumn, RelationshipProperty
from sqlalchemy.types import TypeDecorator, TypeEngine

from orm_kit.exceptions import ReadOnlyError, RelationNotLoadedError, ValidationError
from orm_kit.mixins import AuditMixin, SoftDeleteMixin, TimestampMixin
from orm_kit.model import Model, model_info
from orm_kit.query.values import integer_bits
from orm_kit.types import UTCDateTime

__all__ = ["ReadSchema", "SchemaMode", "WriteSchema", "schema_for"]

SchemaMode = Literal["read", "create", "update"]
"""What a generated schema is for."""

_MODES: tuple[SchemaMode, ...] = ("read", "create", "update")
# Mixins whose columns orm_kit fills itself: readable, never written by a payload.
_MANAGING_MIXINS: tuple[type[Any], ...] = (TimestampMixin, SoftDeleteMixin, AuditMixin)
# (model, mode, include, exclude) -> the generated class; filled once per selection.
_CACHE: dict[
    tuple[type[Any], str, frozenset[str], frozenset[str]], type[ReadSchema] | type[WriteSchema]
] = {}


class ReadSchema(BaseModel):
    """Base class of the ``"read"`` schemas ``schema_for`` builds.

    Validating an instance of its model reads the instance's loaded state only, so it
    never emits SQL; bytes travel as URL-safe base64 in JSON, both ways.
    """

    model_config = ConfigDict(
        from_attributes=True, ser_json_bytes="base64", val_json_bytes="base64"
    )

    __orm_kit_model__: ClassVar[type[Any] | None] = None
    __orm_kit_columns__: ClassVar[tuple[str, ...]] = ()
    __orm_kit_relationships__: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _from_instance(cls, data: Any) -> Any:
        model = cls.__orm_kit_model__
        if model is None or not isinstance(data, model):
            return data
        loaded = data.__dict__
        values: dict[str, Any] = {}
        for key in cls.__orm_kit_columns__:
            if key not in loaded:
                raise ValidationError(
                    f"{model.__name__}.{key} is not loaded on this instance (deferred with "
                    f"only() / defer(), or expired), so {cls.__name__} cannot read it without "
                    f"SQL. Load it, or leave it out: schema_for({model.__name__}, "
                    f'exclude={{"{key}"}}).'
                )
            values[key] = loaded[key]
        for key in cls.__orm_kit_relationships__:
            if key not in loaded:
                raise RelationNotLoadedError(
                    f"{model.__name__}.{key} was not loaded, and {cls.__name__} does not load "
                    f"it (that would be SQL while validating). Load it with the query: "
                    f".select_related('{key}') or .prefetch_related('{key}'), or on the "
                    f"instance: await obj.fetch_related('{key}')."
                )
            value = loaded[key]
            values[key] = list(value) if isinstance(value, list | set | tuple) else value
        return values


class WriteSchema(BaseModel):
    """Base class of the ``"create"`` and ``"update"`` schemas ``schema_for`` builds.

    Unknown fields are refused (a typo in a PATCH body is an error, not a no-op), and
    ``model_dump()`` / ``model_dump_json()`` hold only the fields that were set, so the
    model's defaults apply to the others.
    """

    model_config = ConfigDict(extra="forbid", ser_json_bytes="base64", val_json_bytes="base64")

    __orm_kit_model__: ClassVar[type[Any] | None] = None

    @model_serializer(mode="wrap")
    def _only_set_fields(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if not isinstance(data, dict):
            return data
        return {key: value for key, value in data.items() if key in self.model_fields_set}


@typing.overload
def schema_for(
    model: type[Model],
    mode: Literal["read"] = "read",
    *,
    include: set[str] | frozenset[str] | None = None,
    exclude: set[str] | frozenset[str] | None = None,
) -> type[ReadSchema]: ...


@typing.overload
def schema_for(
    model: type[Model],
    mode: Literal["create", "update"],
    *,
    include: set[str] | frozenset[str] | None = None,
    exclude: set[str] | frozenset[str] | None = None,
) -> type[WriteSchema]: ...


@typing.overload
def schema_for(
    model: type[Model],
    mode: SchemaMode,
    *,
    include: set[str] | frozenset[str] | None = None,
    exclude: set[str] | frozenset[str] | None = None,
) -> type[ReadSchema] | type[WriteSchema]: ...


def schema_for(
    model: type[Model],
    mode: SchemaMode = "read",
    *,
    include: set[str] | frozenset[str] | None = None,
    exclude: set[str] | frozenset[str] | None = None,
) -> type[ReadSchema] | type[WriteSchema]:
    """Return the pydantic model for ``model`` in ``mode``, built once and cached.

    Args:
        model: A concrete orm_kit model.
        mode: ``"read"`` (responses, ``from_attributes``), ``"create"`` (new rows) or
            ``"update"`` (partial changes, every field optional).
        include: Read mode: relationships to nest, as paths (``{"author"}``,
            ``{"posts", "posts__tags"}``); they must be loaded when an instance is
            validated. Create / update mode: columns left out by default to let a client
            give them after all (``{"id"}`` for a client-chosen key).
        exclude: Columns to leave out.

    Returns:
        A ``ReadSchema`` or ``WriteSchema`` subclass named ``<Model><Mode>``
        (``UserRead``); a selection other than the default adds a suffix such as
        ``WithAuthor`` / ``WithoutEmail`` so OpenAPI names stay unique.

    Raises:
        ReadOnlyError: ``model`` is read-only and ``mode`` writes.
        ValidationError: ``model`` is not a mapped model, ``mode`` is unknown, or a name in
            ``include`` / ``exclude`` is not a column or relationship that mode can take.

    Example:
        ```python
        UserCreate = schema_for(User, "create")
        payload = UserCreate.model_validate_json(body)
        user = await User.objects.create(**payload.model_dump())
        PostRead = schema_for(Post, include={"author"})
        PostRead.model_validate(await Post.objects.select_related("author").get(id=1))
        ```
    """
    key = (model, mode, _names(include, "include"), _names(exclude, "exclude"))
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    if mode not in _MODES:
        raise ValidationError(
            f"schema_for() mode must be one of {', '.join(map(repr, _MODES))}, not {mode!r}."
        )
    if not (isinstance(model, type) and issubclass(model, Model) and hasattr(model, "__table__")):
        raise ValidationError(f"schema_for() takes a concrete orm_kit model class, not {model!r}.")
    if mode != "read" and getattr(model, "__orm_kit_read_only__", False):
        raise ReadOnlyError(
            f"{model.__name__} is read-only, so it has no {mode} schema; use "
            f'schema_for({model.__name__}, "read").'
        )
    schema = _build(model, mode, key[2], key[3])
    _CACHE[key] = schema
    return schema


def _build(
    model: type[Any], mode: SchemaMode, include: frozenset[str], exclude: frozenset[str]
) -> type[ReadSchema] | type[WriteSchema]:
    info = model_info(model)
    columns = info.table_columns
    unknown = sorted(exclude - set(columns))
    if unknown:
        raise ValidationError(
            f"schema_for({model.__name__}) cannot exclude {', '.join(unknown)}: not a column. "
            f"Columns: {', '.join(columns)}."
        )
    if include & exclude:
        raise ValidationError(
            f"schema_for({model.__name__}) got {', '.join(sorted(include & exclude))} in both "
            "include and exclude; give each name once."
        )
    fields: dict[str, Any] = {}
    relationships: dict[str, Any] = {}
    if mode == "read":
        relationships = _nested(model, include)
        for key, column in columns.items():
            if key not in exclude:
                fields[key] = _read_field(model, key, column)
    else:
        bad = sorted(include - set(columns))
        if bad:
            raise ValidationError(
                f"schema_for({model.__name__}, {mode!r}) can include columns only, not "
                f"{', '.join(bad)} (nested writes are not supported). Columns: "
                f"{', '.join(columns)}."
            )
        managed = _managed_columns(model)
        for key, column in columns.items():
            if key in exclude:
                continue
            if key not in include and _left_out(column, mode, key in managed):
                continue
            fields[key] = _write_field(model, key, column, mode)
    fields.update(relationships)
    base: type[ReadSchema] | type[WriteSchema] = ReadSchema if mode == "read" else WriteSchema
    name = _name(model, mode, include, exclude)
    schema = typing.cast(
        "type[ReadSchema] | type[WriteSchema]",
        create_model(
            name,
            __base__=base,
            __module__=model.__module__,
            __doc__=f"The {mode} schema of {model.__name__} (built by orm_kit's schema_for).",
            **fields,
        ),
    )
    facts: dict[str, Any] = {"__orm_kit_model__": model}
    if mode == "read":
        facts["__orm_kit_columns__"] = tuple(k for k in columns if k not in exclude)
        facts["__orm_kit_relationships__"] = tuple(relationships)
    for attr, value in facts.items():  # ClassVars of the base: not pydantic fields
        setattr(schema, attr, value)
    return schema


def _nested(model: type[Any], include: frozenset[str]) -> dict[str, Any]:
    """Read-mode fields for the relationship paths in ``include``."""
    info = model_info(model)
    children: dict[str, set[str]] = {}
    for path in sorted(include):
        head, _, rest = path.partition("__")
        if head not in info.relationship_keys:
            listed = ", ".join(sorted(info.relationship_keys)) or "none"
            raise ValidationError(
                f"schema_for({model.__name__}) cannot include {path!r}: {head!r} is not a "
                f"relationship of {model.__name__} (columns are always in a read schema). "
                f"Relationships: {listed}."
            )
        children.setdefault(head, set())
        if rest:
            children[head].add(rest)
    fields: dict[str, Any] = {}
    for key, deeper in children.items():
        rel: RelationshipProperty[Any] = info.mapper.relationships[key]
        if rel.lazy in ("dynamic", "write_only"):
            raise ValidationError(
                f"schema_for({model.__name__}) cannot include {key!r}: a {rel.lazy} "
                "relationship holds a query, not loaded objects."
            )
        nested = schema_for(rel.mapper.class_, "read", include=frozenset(deeper))
        # A to-one target may be None even under a NOT NULL key: select_related gives None
        # for a soft-deleted row.
        annotation: Any = list[nested] if rel.uselist else nested | None  # type: ignore[valid-type]
        fields[key] = (annotation, ...)
    return fields


def _managed_columns(model: type[Any]) -> set[str]:
    """The columns of the mixins that orm_kit fills (timestamps, soft delete, audit)."""
    names: set[str] = set()
    for mixin in _MANAGING_MIXINS:
        if issubclass(model, mixin):
            names.update(k for k, v in vars(mixin).items() if isinstance(v, MappedColumn))
    return names


def _left_out(column: Column[Any], mode: SchemaMode, managed: bool) -> bool:
    """Whether a write schema leaves ``column`` out unless it is named in ``include``."""
    if managed or column.onupdate is not None or column.server_onupdate is not None:
        return True  # orm_kit or the database maintains it
    if column.computed is not None or column.identity is not None:
        return True
    if column.server_default is not None and not isinstance(column.server_default, DefaultClause):
        return True  # FetchedValue: a trigger or another server-side generator
    if column.primary_key:
        # Never changed by an update; on create, only a key nothing generates is given.
        return mode == "update" or _generated_key(column)
    return False


def _generated_key(column: Column[Any]) -> bool:
    table = column.table
    return (
        column is table.autoincrement_column
        or column.default is not None
        or column.server_default is not None
    )


def _read_field(model: type[Any], key: str, column: Column[Any]) -> Any:
    annotation = _python_type(model, key, column.type, constrained=False)
    if column.nullable:
        annotation = annotation | None
    return (annotation, ...)


def _write_field(model: type[Any], key: str, column: Column[Any], mode: SchemaMode) -> Any:
    annotation = _python_type(model, key, column.type, constrained=True)
    if column.nullable:
        annotation = annotation | None
    if mode == "create":
        default = column.default
        if default is not None and default.is_scalar:
            return (annotation, Field(default=default.arg))  # type: ignore[attr-defined]
        if default is None and column.server_default is None and not column.nullable:
            return (annotation, ...)
        if column.nullable and default is None and column.server_default is None:
            return (annotation, Field(default=None))
    # Optional without a value pydantic can show: the model (or the database) decides, and
    # model_dump() leaves the field out; None here is only what an unset attribute reads.
    return (annotation, Field(default=None, json_schema_extra=_no_default))


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def _python_type(model: type[Any], key: str, type_: TypeEngine[Any], *, constrained: bool) -> Any:
    """The pydantic annotation for values of ``type_`` (constraints only for writes)."""
    if isinstance(type_, UTCDateTime):
        return AwareDatetime
    if isinstance(type_, TypeDecorator):
        return _declared_type(type_)
    if isinstance(type_, Boolean):
        return bool
    if isinstance(type_, Integer):
        bits = integer_bits(type_)
        if not constrained:
            return int
        return Annotated[int, Field(ge=-(1 << (bits - 1)), le=(1 << (bits - 1)) - 1)]
    if isinstance(type_, Float):
        return float
    if isinstance(type_, Numeric):
        if not type_.asdecimal:
            return float
        if not constrained or type_.precision is None:
            return Decimal
        return Annotated[
            Decimal, Field(max_digits=type_.precision, decimal_places=type_.scale or 0)
        ]
    if isinstance(type_, Enum):
        if type_.enum_class is not None and issubclass(type_.enum_class, enum.Enum):
            return type_.enum_class
        return Literal[tuple(type_.enums)]
    if isinstance(type_, String):
        if constrained and type_.length is not None:
            return Annotated[str, Field(max_length=type_.length)]
        return str
    if isinstance(type_, DateTime):
        # Read and written values alike: DateTime(timezone=True) reads back aware on every
        # backend (in UTC where the column type has no time zone, orm_kit.types), and a
        # column without one reads back naive.
        return AwareDatetime if type_.timezone else NaiveDatetime
    if isinstance(type_, Date):
        return date
    if isinstance(type_, Time):
        return time
    if isinstance(type_, Interval):
        return timedelta
    if isinstance(type_, LargeBinary):
        if constrained and type_.length is not None:
            return Annotated[bytes, Field(max_length=type_.length)]
        return bytes
    if isinstance(type_, Uuid):
        return uuid.UUID
    if isinstance(type_, JSON):
        return _json_annotation(model, key)
    return _declared_type(type_)


def _declared_type(type_: TypeEngine[Any]) -> Any:
    try:
        return type_.python_type
    except NotImplementedError:
        return Any


def _json_annotation(model: type[Any], key: str) -> Any:
    """The value type a JSON column's ``Mapped[...]`` annotation declares, else ``Any``.

    ``Mapped[dict[str, Any] | None]`` gives ``dict[str, Any]``; an annotation that cannot
    be resolved at run time (names imported under ``TYPE_CHECKING``) gives ``Any``.
    """
    for klass in model.__mro__:
        if key in vars(klass).get("__annotations__", {}):
            try:
                hint = typing.get_type_hints(klass)[key]
            except Exception:  # an unresolvable name anywhere in the class's annotations
                return Any
            break
    else:
        return Any
    if typing.get_origin(hint) is Mapped:
        hint = typing.get_args(hint)[0]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, _UnionType) and len(args) == 1:
        hint = args[0]
    return hint


_UnionType = type(int | None)


def _name(
    model: type[Any], mode: SchemaMode, include: frozenset[str], exclude: frozenset[str]
) -> str:
    """``UserRead``, ``PostReadWithAuthor``, ``UserCreateWithoutEmail`` ...

    Distinct selections could spell the same suffix only through contrived field names
    (``a_and_b`` against ``a`` and ``b``); then a short hash of the selection is added.
    """
    name = f"{model.__name__}{mode.capitalize()}"
    if include:
        name += "With" + "And".join(_camel(n) for n in sorted(include))
    if exclude:
        name += "Without" + "And".join(_camel(n) for n in sorted(exclude))
    taken = [k for k, v in _CACHE.items() if k[0] is model and v.__name__ == name]
    if taken:
        digest = hashlib.sha1(
            repr((sorted(include), sorted(exclude))).encode(), usedforsecurity=False
        ).hexdigest()[:8]
        name += f"_{digest}"
    return name


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.replace("__", "_").split("_"))


def _names(given: Any, argument: str) -> frozenset[str]:
    """``include`` / ``exclude`` as a set of names; one name alone is taken as itself (a
    bare string would otherwise be read letter by letter)."""
    if given is None:
        return frozenset()
    if isinstance(given, str):
        return frozenset({given})
    if not isinstance(given, set | frozenset | list | tuple) or not all(
        isinstance(name, str) for name in given
    ):
        raise ValidationError(
            f"schema_for() {argument}= takes a set of field names, not {given!r}."
        )
    return frozenset(given)
