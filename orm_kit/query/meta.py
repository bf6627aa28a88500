"""Per-model facts computed once (columns, keys, loaders) so the hot path does no reflection."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Column, Table, inspect
from sqlalchemy.orm import Mapper, make_transient_to_detached
from sqlalchemy.sql.elements import ColumnElement

__all__ = ["ModelInfo", "get_model_info"]

_INFO_KEY = "orm_kit_model_info"


@dataclass(eq=False)
class ModelInfo:
    """What orm_kit needs to know about a model, computed once per mapper."""

    model: type[Any]
    mapper: Mapper[Any]
    table: Table
    column_keys: tuple[str, ...]
    columns: dict[str, ColumnElement[Any]]  # attribute key -> ORM column expression
    table_columns: dict[str, Column[Any]]  # attribute key -> table Column
    pk_keys: tuple[str, ...]
    relationship_keys: frozenset[str]
    attribute_keys: frozenset[str]
    select_columns: tuple[ColumnElement[Any], ...] = field(default=())

    @property
    def pk_key(self) -> str:
        """The single primary-key attribute (the first one of a composite key)."""
        return self.pk_keys[0]

    def build(self, keys: tuple[str, ...], row: Any) -> Any:
        """Make a detached, loaded instance from ``row`` (values in ``keys`` order)."""
        obj = self.mapper.class_manager.new_instance()
        obj.__dict__.update(zip(keys, row, strict=False))
        make_transient_to_detached(obj)
        return obj

    def build_all(self, keys: tuple[str, ...], rows: Any) -> list[Any]:
        """Make instances from many rows (see :meth:`build`)."""
        new = self.mapper.class_manager.new_instance
        to_detached = make_transient_to_detached
        out = []
        for row in rows:
            obj = new()
            obj.__dict__.update(zip(keys, row, strict=False))
            to_detached(obj)
            out.append(obj)
        return out


def get_model_info(model: type[Any]) -> ModelInfo:
    """Return (computing once) the :class:`ModelInfo` of ``model``."""
    cached = model.__dict__.get("__orm_kit_info__")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    mapper: Mapper[Any] = inspect(model)
    columns: dict[str, ColumnElement[Any]] = {}
    table_columns: dict[str, Column[Any]] = {}
    for prop in mapper.column_attrs:
        col = prop.columns[0]
        if isinstance(col, Column) and len(prop.columns) == 1:
            # Plain table columns compare and compile faster than ORM attributes.
            table_columns[prop.key] = col
            columns[prop.key] = col
        else:
            columns[prop.key] = getattr(model, prop.key)
    pk_keys = tuple(mapper.get_property_by_column(c).key for c in mapper.primary_key)
    rel_keys = frozenset(r.key for r in mapper.relationships)
    info = ModelInfo(
        model=model,
        mapper=mapper,
        table=cast(Table, mapper.local_table),
        column_keys=tuple(columns),
        columns=columns,
        table_columns=table_columns,
        pk_keys=pk_keys,
        relationship_keys=rel_keys,
        attribute_keys=frozenset(columns) | rel_keys | frozenset(mapper.synonyms.keys()),
        select_columns=tuple(columns.values()),
    )
    type.__setattr__(model, "__orm_kit_info__", info)
    return info
