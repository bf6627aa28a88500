"""``Model`` and ``ModelMeta``: the declarative base, table names, managers and instance API."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self, cast

from pydantic import BaseModel
from pydantic_core import to_jsonable_python
from sqlalchemy import JSON, BigInteger, Integer, MetaData, SmallInteger, Table, event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import DeclarativeBase, MappedColumn
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.decl_api import DeclarativeAttributeIntercept

from orm_kit import exceptions, rules
from orm_kit.database import set_default_metadata
from orm_kit.hooks import register_registry  # importing hooks installs the session events
from orm_kit.query.executor import delete_instance, save_instance
from orm_kit.query.manager import Manager
from orm_kit.query.meta import (
    _FAST_NEW,
    _INFOS,
    LAZY_STATE,
    LazyInstanceState,
    ModelInfo,
    get_model_info,
    settable_property,
)
from orm_kit.query.relations import default_lazy
from orm_kit.query.values import is_sql
from orm_kit.types import PRIMARY_KEY_SORT_ORDER, is_float_column

if TYPE_CHECKING:
    from orm_kit.database import Database
    from orm_kit.query.related import RelatedManager

__all__ = ["NAMING_CONVENTION", "Model", "ModelMeta", "snake_case"]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

_ACRONYM = re.compile(r"([A-Z]+)([A-Z][a-z])")
_CAMEL = re.compile(r"([a-z\d])([A-Z])")


def snake_case(name: str) -> str:
    """Return ``name`` in snake_case: ``HTTPLog`` → ``http_log``."""
    return _CAMEL.sub(r"\1_\2", _ACRONYM.sub(r"\1_\2", name)).lower()


def _is_mapped(cls: type) -> bool:
    return "__table__" in cls.__dict__ or "__mapper__" in cls.__dict__


def _primary_key_first(namespace: dict[str, Any]) -> None:
    """Give primary-key columns declared in a class body ``PRIMARY_KEY_SORT_ORDER``.

    The table — and so ``repr()``, ``to_dict()`` and ``values()`` — then lists the
    primary key first wherever the body declares it, then the model's own columns, then
    the mixins' (which declare ``MIXIN_SORT_ORDER``). A ``sort_order=`` given explicitly
    is kept.
    """
    for value in namespace.values():
        if (
            isinstance(value, MappedColumn)
            and value.column.primary_key
            # ``mapped_column()`` keeps sort_order here, or a no-argument marker.
            and not isinstance(getattr(value, "_sort_order", None), int)
        ):
            value._sort_order = PRIMARY_KEY_SORT_ORDER


def _sqlite_rowid_key(table: Table) -> None:
    """Let a ``BigInteger`` / ``SmallInteger`` autoincrement key autoincrement on SQLite.

    NOTE(sqlite): only a column declared exactly ``INTEGER PRIMARY KEY`` is an alias of
    the rowid and gets a value when the INSERT leaves it out; ``BIGINT PRIMARY KEY`` is a
    plain NOT NULL column. Django's BigAutoField / SmallAutoField autoincrement on every
    backend, so the table's autoincrement column (single-column integer primary key, not a
    foreign key) gets an ``INTEGER`` variant on SQLite, SQLAlchemy's documented recipe.
    SQLite integers are 64-bit whatever the declared type; other backends keep their DDL
    (``BIGSERIAL`` / ``BIGINT`` on PostgreSQL), and the Python type stays ``BigInteger``.
    """
    column = table.autoincrement_column
    if column is None or not isinstance(column.type, BigInteger | SmallInteger):
        return
    if "sqlite" in getattr(column.type, "_variant_mapping", {}):
        return  # the model chose its own SQLite type
    column.type = column.type.with_variant(Integer(), "sqlite")


def _json_none_is_null(table: Table) -> None:
    """Store ``None`` in JSON columns as SQL NULL, as Django does.

    SQLAlchemy's default writes JSON ``null``, which ``filter(data=None)`` /
    ``data__isnull=True`` (SQL ``IS NULL``) then do not find. ``sqlalchemy.JSON.NULL``
    still writes a JSON ``null`` on purpose.
    """
    for column in table.columns:
        if isinstance(column.type, JSON):
            column.type.none_as_null = True


class ModelMeta(DeclarativeAttributeIntercept):
    """Metaclass of ``Model``.

    When a concrete model class is created it:

    * derives ``__tablename__`` in snake_case from the class name, unless the class sets
      one, is ``__abstract__``, or inherits a mapped table (single-table inheritance);
    * attaches per-model ``DoesNotExist`` / ``MultipleObjectsReturned`` exceptions that
      subclass ``NotFoundError`` /
      ``MultipleObjectsReturned`` (and the parent model's).

    The default manager ``objects`` is declared on ``Model`` itself; a model may
    declare further managers, or replace ``objects`` with its own.
    """

    def __new__(
        mcs, name: str, bases: tuple[type, ...], namespace: dict[str, Any], **kwargs: Any
    ) -> ModelMeta:
        is_root = namespace.get("__orm_kit_root__", False)
        abstract = namespace.get("__abstract__", False)
        if not is_root:
            default_lazy(namespace)
            _primary_key_first(namespace)
        if not is_root and not abstract:
            inherits_table = any(_is_mapped(klass) for base in bases for klass in base.__mro__)
            has_name = (
                "__tablename__" in namespace
                or "__table__" in namespace
                or any(getattr(base, "__tablename__", None) is not None for base in bases)
            )
            if not inherits_table and not has_name:
                namespace["__tablename__"] = snake_case(name)
            parents_missing = [b for b in bases if isinstance(b, ModelMeta)]
            for exc_name, root in (
                ("DoesNotExist", exceptions.NotFoundError),
                ("MultipleObjectsReturned", exceptions.MultipleObjectsReturned),
            ):
                if exc_name in namespace:
                    continue
                parents = tuple(
                    getattr(b, exc_name)
                    for b in parents_missing
                    if isinstance(getattr(b, exc_name, None), type)
                    and getattr(b, exc_name) is not root
                ) or (root,)
                namespace[exc_name] = type(
                    exc_name,
                    parents,
                    {
                        "__module__": namespace.get("__module__", __name__),
                        "__qualname__": f"{name}.{exc_name}",
                    },
                )
        cls = super().__new__(mcs, name, bases, namespace, **kwargs)
        table = cls.__dict__.get("__table__")
        if isinstance(table, Table):
            _sqlite_rowid_key(table)
            _json_none_is_null(table)
        return cls

    def __call__(cls, *args: Any, **values: Any) -> Any:
        # Building many instances is common (bulk_create, tests, imports): when the
        # constructor would only set plain columns, store them and leave SQLAlchemy's
        # state to be made on first use (see LazyInstanceState) instead of running the
        # instrumented __init__ machinery.
        direct = _FAST_NEW.get(cls)
        if direct is None and cls not in _INFOS and getattr(cls, "__mapper__", None) is not None:
            # The model's first instance: its ModelInfo first (__init__ needs it anyway),
            # which also fixes the key order of its instances' dicts (meta.build_all).
            get_model_info(cls)
            direct = _FAST_NEW.get(cls)
        if direct is not None and not args and direct.issuperset(values):
            obj = cast(Any, cls).__new__(cls)
            data = obj.__dict__
            data.update(values)
            data[LAZY_STATE] = False
            return obj
        return super().__call__(*args, **values)


class Model(DeclarativeBase, metaclass=ModelMeta):
    """The declarative base of orm_kit models.

    Example:
        ```python
        class User(Model):                        # __tablename__ == "user"
            id: Mapped[int] = mapped_column(primary_key=True)
            email: Mapped[str] = mapped_column(String(255), unique=True)

        user = await User.objects.create(email="ann@example.com")
        ```
    """

    __orm_kit_root__ = True
    __abstract__ = True

    metadata = MetaData(naming_convention=NAMING_CONVENTION)

    objects: ClassVar[Manager[Self]] = Manager()
    # SQLAlchemy's per-instance state, made on first use for instances orm_kit builds.
    _sa_instance_state: ClassVar[Any] = LazyInstanceState()
    DoesNotExist: ClassVar[type[exceptions.NotFoundError]] = exceptions.NotFoundError
    MultipleObjectsReturned: ClassVar[type[exceptions.MultipleObjectsReturned]] = (
        exceptions.MultipleObjectsReturned
    )

    def __init__(self, **values: Any) -> None:
        """Set the given attributes, like SQLAlchemy's default constructor.

        Plain columns (no ``@validates``, no attribute events) are written straight into
        the instance, which makes building many objects several times faster; everything
        else goes through the normal instrumented ``setattr``.

        As in Django, the names are the model's fields (columns, relationships, synonyms)
        and its public properties that have a setter; anything else — an unknown name, a
        private or SQLAlchemy attribute such as ``_sa_instance_state`` — is refused, so a
        request body unpacked into ``Model(**body)`` cannot reach them.

        Raises:
            ValidationError: A name is not a field or settable property of the model.
        """
        cls = type(self)
        info = _INFOS.get(cls) or get_model_info(cls)
        direct = info.direct_keys
        data = self.__dict__
        values = info.with_pk_key(values)  # Django's alias of the primary key
        for key, value in values.items():
            if key in direct:
                data[key] = value
            elif key in info.relationship_keys:
                _check_related(info, key, value)
                if not _set_saved_parent(self, info, key, value):
                    setattr(self, key, value)
            elif key in info.attribute_keys or settable_property(cls, key):
                setattr(self, key, value)
            else:
                known = ", ".join(sorted(info.attribute_keys))
                shown = key if isinstance(key, str) and len(key) <= 60 else f"{str(key)[:60]}..."
                raise exceptions.ValidationError(
                    f"{shown!r} is not a field of {cls.__name__}; valid fields: {known}."
                )

    # --- introspection --------------------------------------------------------------

    @property
    def pk(self) -> Any:
        """The primary-key value (a tuple for a composite key)."""
        keys = _pk_keys(type(self))
        values = [self.__dict__.get(k) for k in keys]
        if None in values:
            # Expired after a rollback: the identity key still knows the primary key.
            identity = sa_inspect(self).identity
            if identity is not None:
                values = list(identity)
        return values[0] if len(values) == 1 else tuple(values)

    def to_dict(
        self,
        *,
        mode: Literal["python", "json"] = "python",
        exclude: set[str] | None = None,
        include: set[str] | None = None,
    ) -> dict[str, Any]:
        """Return the loaded column values as a dict (no I/O).

        Args:
            mode: ``"python"`` keeps the values as they are; ``"json"`` makes them
                JSON-safe, so ``json.dumps(obj.to_dict(mode="json"))`` always works:
                datetimes, dates and times as ISO 8601 strings (UTC as ``Z``), timedeltas
                as ISO 8601 durations (``PT1H30M``), UUIDs and Decimals as strings (a
                Decimal keeps its digits), bytes as URL-safe base64, enums as their
                values, and included instances as their own ``to_dict(mode="json")``.
                Floats stay floats (an infinity is written by ``json.dumps`` as
                ``Infinity``). These are the forms pydantic writes and reads back, so a
                ``schema_for(Model)`` read schema validates the result.
            exclude: Column names to leave out.
            include: Extra attribute names to add (properties, loaded relationships).
        """
        exclude = exclude or set()
        data = {
            key: self.__dict__[key]
            for key in _column_keys(type(self))
            if key in self.__dict__ and key not in exclude
        }
        for name in include or ():
            data[name] = getattr(self, name)
        if mode == "json":
            return cast(dict[str, Any], _jsonable(data))
        if mode != "python":
            raise exceptions.ValidationError(
                f"to_dict() mode must be 'python' or 'json', not {mode!r}."
            )
        return data

    def __repr__(self) -> str:
        shown = []
        for key in _column_keys(type(self))[:6]:
            if key in self.__dict__:
                shown.append(f"{key}={self.__dict__[key]!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    # --- instance API ---------------------------------------------------------------

    def update(self, **values: Any) -> Self:
        """Set attributes from ``values`` (no I/O; call ``save`` to persist).

        Values are checked against their columns' types first (see
        ``orm_kit.query.values``); nothing is set if one is refused.

        Raises:
            ValidationError: A name is not a column or relationship of the model, or a
                value does not fit its column.
        """
        known = _attribute_keys(type(self))
        unknown = sorted(set(values) - known)
        if unknown:
            raise exceptions.ValidationError(
                f"{type(self).__name__} has no field(s) {', '.join(unknown)}. "
                f"Valid fields: {', '.join(sorted(known))}."
            )
        info = model_info(type(self))
        checked = {}
        for key, value in values.items():  # all checked before any is set
            if key in info.relationship_keys:
                _check_related(info, key, value)
            elif not is_sql(value):
                value = info.checked(key, value)
            checked[key] = value
        for key, value in checked.items():
            setattr(self, key, value)
        return self

    def update_from(self, payload: BaseModel) -> Self:
        """Set the fields ``payload`` has set (``model_fields_set``); no I/O.

        The counterpart of a ``schema_for(Model, "update")`` payload: fields the client
        left out stay as they are, an explicit ``null`` sets ``None``. The values are
        checked as ``update()`` checks them; call ``save()`` to persist.

        Raises:
            ValidationError: ``payload`` is not a pydantic model, or a set field is not a
                field of this model, or its value does not fit its column.
        """
        if not isinstance(payload, BaseModel):
            raise exceptions.ValidationError(
                f"{type(self).__name__}.update_from() takes a pydantic model, not "
                f"{type(payload).__name__}; for a dict use update(**values)."
            )
        names = set(payload.model_fields_set)
        # Only the top level is filtered: a nested model given for a JSON column is
        # dumped whole, defaults included.
        values = payload.model_dump(include=names, exclude_unset=False)
        return self.update(**{name: values[name] for name in names if name in values})

    async def save(self, *, using: Database | str | None = None) -> Self:
        """Insert or update this instance (only the changed columns of a loaded one).

        Inside a session the instance joins it and is flushed; outside one a short unit
        of work commits it.
        """
        await save_instance(self, using)
        return self

    async def delete(self, *, using: Database | str | None = None) -> int:
        """Delete this instance's row and return the number of rows deleted (0 or 1)."""
        from orm_kit.query.queryset import QuerySet

        pk = self._require_pk("delete")
        # A rule may turn the delete into an update (soft delete sets deleted_at).
        values = rules.delete_values(type(self))

        async def operation(target: Any) -> int:
            qs: QuerySet[Any] = QuerySet(type(self)).filter(pk=pk)
            if target is not None:
                qs = qs.using(target)
            if values is None:
                return await qs.delete()
            count = await qs.update(**values)
            for key, value in values.items():
                set_committed_value(self, key, value)
            return count

        return await delete_instance(self, using, operation, soft=values is not None)

    async def refresh_from_db(
        self, *, fields: list[str] | None = None, using: Database | str | None = None
    ) -> Self:
        """Reload this instance's columns (or just ``fields``) from the database.

        Raises:
            NotFoundError: The row no longer exists (``Model.DoesNotExist``).
        """
        from orm_kit.query.queryset import QuerySet

        names = fields or list(_column_keys(type(self)))
        qs: QuerySet[Any] = QuerySet(type(self)).filter(pk=self._require_pk("refresh"))
        if using is not None:
            qs = qs.using(using)
        row = await qs.values(*names).get()
        for key, value in row.items():
            set_committed_value(self, key, value)
        return self

    async def fetch_related(self, *paths: str, using: Database | str | None = None) -> Self:
        """Load relationships of this instance (``"posts"``, ``"posts__comments"`` ...).

        The instance's row is read again with the relationships prefetched (one query per
        level, as ``prefetch_related`` does). Afterwards the relationships can be read
        without I/O, also once the instance is detached.

        Raises:
            InvalidLookupError: A name is not a relationship.
        """
        from orm_kit.query.queryset import QuerySet

        qs: QuerySet[Any] = QuerySet(type(self)).filter(pk=self._require_pk("fetch_related"))
        if using is not None:
            qs = qs.using(using)
        fresh = await qs.prefetch_related(*paths).get()
        if fresh is not self:
            for key in {path.split("__", 1)[0] for path in paths}:
                set_committed_value(self, key, fresh.__dict__[key])
        return self

    def related(self, name: str, *, using: Database | str | None = None) -> RelatedManager[Any]:
        """Return a manager for the to-many relationship ``name`` of this saved instance.

        A name cannot tell a type checker the related model; annotate the variable for
        precise types: ``tags: RelatedManager[Tag] = post.related("tags")``.

        Example:
            ```python
            await post.related("tags").add(python, sql)
            await post.related("tags").remove(sql)
            tags = await post.related("tags").all().order_by("name")
            ```
        """
        from orm_kit.query.related import RelatedManager

        return RelatedManager(self, name, using=using)

    def _require_pk(self, operation: str) -> Any:
        pk = self.pk
        if pk is None or (isinstance(pk, tuple) and None in pk):
            raise exceptions.ValidationError(
                f"Cannot {operation} a {type(self).__name__} without a primary key; "
                "save() it first."
            )
        return pk


set_default_metadata(Model.metadata)
register_registry(Model.registry)  # the session events apply to orm_kit models only


@event.listens_for(Model, "refresh_flush", propagate=True)
def _whole_floats_as_floats(target: Any, flush_context: Any, attrs: Any) -> None:
    # NOTE(sqlite): the unit of work reads server-filled columns back with RETURNING, which
    # gives a whole REAL as an int there (see orm_kit.types.returned): save() of a row
    # whose float column has a server default left 2 where a read gives 2.0.
    info = get_model_info(type(target))
    floats = info.statements.get(_FLOAT_KEYS)
    if floats is None:
        floats = info.statements[_FLOAT_KEYS] = frozenset(
            k for k, c in info.table_columns.items() if is_float_column(c)
        )
    if not floats:
        return
    data = target.__dict__
    for key in floats if attrs is None else floats.intersection(attrs):
        value = data.get(key)
        if type(value) is int:
            set_committed_value(target, key, float(value))


_FLOAT_KEYS = "float column keys"


def _set_saved_parent(obj: Any, info: ModelInfo, key: str, value: Any) -> bool:
    """``Item(owner=owner)`` with a saved ``owner``: set the foreign key, as Django does, and
    the relationship as loaded — without SQLAlchemy's backref event, which would put the
    new item into ``owner.items`` and make a session that holds ``owner`` warn at its next
    flush that the item "will not be added" (orm_kit saves it explicitly). Returns whether
    it did; otherwise (to-many, an unsaved owner, a custom join) the normal path runs."""
    rel = info.mapper.relationships[key]
    if value is None or rel.uselist or rel.secondary is not None:
        return False
    target = get_model_info(type(value))
    pairs = []
    for local, remote in rel.local_remote_pairs:
        local_key = info.mapper.get_property_by_column(local).key
        remote_value = value.__dict__.get(target.mapper.get_property_by_column(remote).key)
        if remote_value is None or local_key not in info.direct_keys:
            return False
        pairs.append((local_key, remote_value))
    for local_key, remote_value in pairs:
        obj.__dict__[local_key] = remote_value
    set_committed_value(obj, key, value)
    return True


def _check_related(info: ModelInfo, key: str, value: Any) -> None:
    """Refuse a value that is not an instance (or, to-many, a collection of instances) of
    the related model."""
    rel = info.mapper.relationships[key]
    target = rel.mapper.class_
    if rel.uselist:
        ok = isinstance(value, list | set | tuple) and all(isinstance(v, target) for v in value)
        expected = f"a list of {target.__name__} instances"
    else:
        ok = value is None or isinstance(value, target)
        expected = f"a {target.__name__} instance or None"
    if not ok:
        raise exceptions.ValidationError(
            f"{info.model.__name__}.{key} takes {expected}, not {type(value).__name__}; "
            f"to set the key alone, use the foreign-key column."
        )


def _jsonable(value: Any) -> Any:
    return to_jsonable_python(value, bytes_mode="base64", fallback=_jsonable_instance)


def _jsonable_instance(value: Any) -> Any:
    if isinstance(value, Model):
        return value.to_dict(mode="json")
    raise exceptions.ValidationError(
        f"to_dict(mode='json') cannot write a {type(value).__name__} value as JSON; "
        "leave it out of include= or convert it first."
    )


def _column_keys(model: type[Any]) -> tuple[str, ...]:
    return model_info(model).column_keys


def _attribute_keys(model: type[Any]) -> frozenset[str]:
    return model_info(model).attribute_keys


def _pk_keys(model: type[Any]) -> tuple[str, ...]:
    return model_info(model).pk_keys


def model_info(model: type[Any]) -> ModelInfo:
    """Return the cached ``ModelInfo`` of ``model``."""
    return get_model_info(model)
