"""``obj.related("tags")``: write and read one instance's to-many relationship.

``add / remove / set / clear`` write the link rows (many-to-many) or the foreign keys
(one-to-many) with set-based statements — no collection is loaded — and keep an already
loaded collection on the instance in step. ``all()`` is a QuerySet of the related rows.
A write is refused (``ReadOnlyError``, before any SQL) when either side's model is
read-only (``ReadOnlyMixin``), unless ``allow_writes()`` covers it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Generic

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm import RelationshipProperty
from sqlalchemy.orm.attributes import set_committed_value
from typing_extensions import TypeVar

from orm_kit import rules
from orm_kit.exceptions import InvalidLookupError, ValidationError
from orm_kit.query.bulk import insert_for
from orm_kit.query.executor import flush, resolve_target, run, unit_of_work
from orm_kit.query.meta import get_model_info
from orm_kit.query.relations import relationship_of

if TYPE_CHECKING:
    from orm_kit.query.queryset import QuerySet

__all__ = ["RelatedManager"]

# The related model (``Tag`` for ``post.related("tags")``). A relationship named by a
# string cannot tell a type checker which model it leads to: ``Model.related()`` returns
# ``RelatedManager[Any]``; ``RelatedManager[Tag](post, "tags")`` states it.
TargetT = TypeVar("TargetT", default=Any)


def _rowcount(result: Any) -> int:
    return int(result.rowcount)


class RelatedManager(Generic[TargetT]):
    """The to-many relationship ``name`` of one saved instance.

    Args:
        instance: A saved model instance (it has a primary key).
        name: The name of a one-to-many or many-to-many relationship.
        using: A ``Database``, a database name or an ``AsyncSession`` (default: the
            ambient session, else the default database in autocommit).
    """

    def __init__(self, instance: Any, name: str, using: Any = None) -> None:
        model = type(instance)
        rel = relationship_of(model, name)
        if rel is None or not rel.uselist:
            kinds = sorted(r.key for r in get_model_info(model).mapper.relationships if r.uselist)
            raise InvalidLookupError(
                f"{model.__name__}.{name} is not a to-many relationship. "
                f"To-many relationships: {', '.join(kinds) or 'none'}."
            )
        self.instance, self.rel, self.using = instance, rel, using
        self.target: type[TargetT] = rel.mapper.class_
        pairs: Any = rel.synchronize_pairs
        # (link column: the foreign key in the child or the link table, the instance's value)
        self._links: list[tuple[Any, Any]] = [
            (link_col, self._value(instance, parent_col, "the instance"))
            for parent_col, link_col in pairs
        ]
        self._target_pairs: list[tuple[Any, Any]] = list(rel.secondary_synchronize_pairs or ())

    def __repr__(self) -> str:
        return f"<RelatedManager {type(self.instance).__name__}.{self.rel.key}>"

    @staticmethod
    def _value(obj: Any, column: Any, what: str) -> Any:
        mapper = get_model_info(type(obj)).mapper
        value = obj.__dict__.get(mapper.get_property_by_column(column).key)
        if value is None:
            raise ValidationError(
                f"{type(obj).__name__} has no value for {column.name}; save {what} first."
            )
        return value

    def _check(self, objs: Iterable[TargetT]) -> list[TargetT]:
        items = list(objs)
        for obj in items:
            if not isinstance(obj, self.target):
                raise ValidationError(
                    f"{type(self.instance).__name__}.{self.rel.key} holds "
                    f"{self.target.__name__} objects, not {type(obj).__name__}."
                )
        return items

    # --- statements -------------------------------------------------------------------

    def _secondary_where(self) -> Any:
        secondary: Any = self.rel.secondary
        return and_(*(secondary.c[col.name] == value for col, value in self._links))

    def _target_keys(self, objs: list[Any]) -> list[tuple[Any, ...]]:
        return [
            tuple(self._value(obj, t_col, "it") for t_col, _ in self._target_pairs) for obj in objs
        ]

    async def _write_links(self, objs: list[Any], *, adding: bool) -> int:
        if self.rel.secondary is None:
            # One-to-many: point (or un-point) the children's foreign keys at the instance.
            info = get_model_info(self.target)
            pks = [obj.__dict__.get(info.pk_key) for obj in objs]
            if None in pks:
                raise ValidationError(f"Save the {self.target.__name__} objects first.")
            values = {col.key: (value if adding else None) for col, value in self._links}
            pk_col = info.table_columns[info.pk_key]
            change = update(info.table).where(pk_col.in_(pks)).values(values)
            return await self._run(change, "related.add" if adding else "related.remove")
        secondary: Any = self.rel.secondary
        keys = self._target_keys(objs)
        if not adding:
            cols = [secondary.c[s.name] for _, s in self._target_pairs]
            match = [and_(*(c == v for c, v in zip(cols, key, strict=True))) for key in keys]
            unlink = delete(secondary).where(self._secondary_where(), or_(*match))
            return await self._run(unlink, "related.remove")
        rows = []
        for key in keys:
            row = {col.name: value for col, value in self._links}
            row.update({s.name: v for (_, s), v in zip(self._target_pairs, key, strict=True)})
            rows.append(row)
        target = resolve_target(self.using)
        dialect = (
            target.session.get_bind().dialect.name
            if target.session is not None
            else target.database.dialect  # type: ignore[union-attr]
        )
        link: Any = insert_for(dialect, secondary)
        # Links that exist already are skipped by the database.
        if dialect in ("mysql", "mariadb"):
            link = link.prefix_with("IGNORE")
        else:
            link = link.on_conflict_do_nothing()
        await run(target, link, _rowcount, rows, model=type(self.instance), operation="related.add")
        return len(rows)

    async def _run(self, stmt: Any, operation: str) -> int:
        count: int = await run(
            resolve_target(self.using),
            stmt,
            _rowcount,
            model=type(self.instance),
            operation=operation,
        )
        return count

    def _sync(self, new_items: list[Any] | None = None, *, drop: list[Any] | None = None) -> None:
        """Keep a loaded collection on the instance in step with what was written."""
        key = self.rel.key
        if key not in self.instance.__dict__:
            return
        current = list(self.instance.__dict__[key])
        if drop is not None:
            current = [o for o in current if all(o is not d for d in drop)]
        for obj in new_items or ():
            if all(o is not obj for o in current):
                current.append(obj)
        set_committed_value(self.instance, key, current)

    def _check_writable(self, method: str) -> None:
        """Refuse the write when the instance's model or the related model is read-only.

        Both sides count: the rows written belong to the related model (one-to-many) or
        to a link table that is part of both models' data (many-to-many), and either way
        the read-only instance's relationship changes.
        """
        operation = f"{type(self.instance).__name__}.related({self.rel.key!r}).{method}()"
        rules.check_write(type(self.instance), operation)
        rules.check_write(self.target, operation)

    # --- public API -------------------------------------------------------------------

    async def add(self, *objs: TargetT) -> None:
        """Link ``objs`` to the instance (already linked ones are left alone).

        Raises:
            ReadOnlyError: The instance's model or the related model is read-only.
        """
        self._check_writable("add")
        items = self._check(objs)
        if items:
            await self._write_links(items, adding=True)
            self._sync(items)

    async def remove(self, *objs: TargetT) -> None:
        """Unlink ``objs`` (one-to-many: their foreign key becomes NULL).

        Raises:
            ReadOnlyError: The instance's model or the related model is read-only.
        """
        self._check_writable("remove")
        items = self._check(objs)
        if items:
            await self._write_links(items, adding=False)
            self._sync(drop=items)

    async def clear(self) -> None:
        """Unlink every related row.

        Raises:
            ReadOnlyError: The instance's model or the related model is read-only.
        """
        self._check_writable("clear")
        rel = self.rel
        if rel.secondary is None:
            table = get_model_info(self.target).table
            where = and_(*(table.c[col.name] == value for col, value in self._links))
            values = {col.key: None for col, _ in self._links}
            await self._run(update(table).where(where).values(values), "related.clear")
        else:
            secondary: Any = rel.secondary
            await self._run(delete(secondary).where(self._secondary_where()), "related.clear")
        if rel.key in self.instance.__dict__:
            set_committed_value(self.instance, rel.key, [])

    async def set(self, objs: Iterable[TargetT]) -> None:
        """Make ``objs`` exactly the related rows (one unit of work).

        Raises:
            ReadOnlyError: The instance's model or the related model is read-only.
        """
        self._check_writable("set")
        items = self._check(objs)
        async with unit_of_work(self.using) as session:
            inner: RelatedManager[TargetT] = RelatedManager(
                self.instance, self.rel.key, using=session
            )
            await inner.clear()
            if items:
                await inner._write_links(items, adding=True)
            await flush(session, type(self.instance), "related.set")
        if self.rel.key in self.instance.__dict__:
            set_committed_value(self.instance, self.rel.key, items)

    def all(self) -> QuerySet[TargetT]:
        """A QuerySet of the related rows."""
        from orm_kit.query.queryset import QuerySet

        qs: QuerySet[TargetT] = QuerySet(self.target)
        rel: RelationshipProperty[Any] = self.rel
        if rel.secondary is None:
            mapper = get_model_info(self.target).mapper
            lookups = {mapper.get_property_by_column(col).key: value for col, value in self._links}
            qs = qs.filter(**lookups)
        else:
            secondary: Any = rel.secondary
            t_col, s_col = self._target_pairs[0]
            linked = select(secondary.c[s_col.name]).where(self._secondary_where())
            qs = qs.filter(t_col.in_(linked))
        return qs.using(self.using) if self.using is not None else qs
