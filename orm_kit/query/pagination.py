"""Offset and keyset pagination, and the ``Page`` they return."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Generic

from sqlalchemy import and_, or_
from typing_extensions import TypeVar

from orm_kit.exceptions import ValidationError
from orm_kit.query.meta import get_model_info

if TYPE_CHECKING:
    from orm_kit.query.queryset import QuerySet

__all__ = ["Page"]

ItemT = TypeVar("ItemT")


@dataclass(frozen=True, slots=True)
class Page(Generic[ItemT]):
    """One page of results.

    Offset pages (``paginate(page=, size=)``) fill ``total``, ``page`` and ``size``;
    keyset pages (``paginate(after=, size=)``) fill ``size`` and ``next_cursor``
    (``None`` on the last page) and leave ``total`` and ``page`` as ``None``.
    """

    items: list[ItemT]
    size: int
    total: int | None = None
    page: int | None = None
    next_cursor: str | None = None
    pages: int | None = field(default=None)

    @property
    def has_next(self) -> bool:
        """Whether another page follows."""
        if self.next_cursor is not None:
            return True
        if self.pages is not None and self.page is not None:
            return self.page < self.pages
        return False


async def offset_page(qs: QuerySet[Any, Any], page: int, size: int) -> Page[Any]:
    if page < 1:
        raise ValidationError("paginate() page numbers start at 1.")
    state = qs.query_state
    if not state.order_by:
        qs = qs._pk_ordered(False)
    total = await qs.count()
    start = (page - 1) * size
    items = await qs[start : start + size]
    pages = max(1, -(-total // size))
    return Page(items=items, size=size, total=total, page=page, pages=pages)


# --- keyset -------------------------------------------------------------------------------


def _encode_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        return {"dt": value.isoformat()}
    if isinstance(value, date):
        return {"d": value.isoformat()}
    if isinstance(value, time):
        return {"t": value.isoformat()}
    if isinstance(value, Decimal):
        return {"dec": str(value)}
    if isinstance(value, uuid.UUID):
        return {"uuid": str(value)}
    raise ValidationError(f"Keyset pagination cannot order by a {type(value).__name__} column.")


def _decode_value(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    ((tag, raw),) = value.items()
    decoders: dict[str, Callable[[str], Any]] = {
        "dt": datetime.fromisoformat,
        "d": date.fromisoformat,
        "t": time.fromisoformat,
        "dec": Decimal,
        "uuid": uuid.UUID,
    }
    return decoders[tag](raw)


def _encode_cursor(values: list[Any]) -> str:
    raw = json.dumps([_encode_value(v) for v in values], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, width: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != width:
            raise ValueError
        return [_decode_value(v) for v in values]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ValidationError(_CURSOR_REFUSED) from None


_CURSOR_REFUSED = (
    "The pagination cursor is not valid for this query; pass the next_cursor "
    "returned by the previous page, or None for the first page."
)


def _checked_cursor(info: Any, keys: list[str], values: list[Any]) -> list[Any]:
    """The cursor's values, each checked against its ordering column's type.

    A cursor is readable JSON a client can edit; a value of another type would otherwise
    reach the database (PostgreSQL refuses the comparison, SQLite compares across types and
    returns the wrong page). Plain ints stand for floats, as the encoder writes them.
    """
    try:
        return [
            info.checked(key, value)
            if not isinstance(value, bool) or _is_bool_column(info, key)
            else _refuse()
            for key, value in zip(keys, values, strict=True)
        ]
    except ValidationError:
        raise ValidationError(_CURSOR_REFUSED) from None


def _is_bool_column(info: Any, key: str) -> bool:
    column = info.columns.get(key)
    return column is not None and column.type.python_type is bool


def _refuse() -> Any:
    raise ValidationError(_CURSOR_REFUSED)


async def keyset_page(qs: QuerySet[Any, Any], after: str | None, size: int) -> Page[Any]:
    state = qs.query_state
    if state.is_sliced:
        # The cursor condition would be applied before the slice's OFFSET / LIMIT.
        raise ValidationError(
            f"Keyset pagination cannot continue a sliced {qs.model.__name__} QuerySet; "
            "paginate the QuerySet before slicing, or use paginate(page=...)."
        )
    info = get_model_info(qs.model)
    terms = list(state.order_by)
    if any(name is None for _, _, name in terms):
        raise ValidationError(
            "Keyset pagination needs order_by() with field names, not expressions."
        )
    names = [name for _, _, name in terms]
    if any("__" in str(name) for name in names):
        raise ValidationError(
            "Keyset pagination orders by the model's own columns, not across relationships."
        )
    for pk in info.pk_keys:  # the primary key breaks ties, so the order is total
        if pk not in names:
            terms.append((info.columns[pk], False, pk))
    qs = qs._clone(order_by=tuple(terms))
    if after is not None:
        values = _decode_cursor(after, len(terms))
        if any(v is None for v in values):
            raise ValidationError("Keyset pagination needs non-null ordering columns.")
        values = _checked_cursor(info, [str(name) for _, _, name in terms], values)
        # (a, b) after (va, vb) with per-column direction: a > va OR (a = va AND b > vb) ...
        alternatives = []
        for i, (expr, desc, _) in enumerate(terms):
            equal = [terms[j][0] == values[j] for j in range(i)]
            step = expr < values[i] if desc else expr > values[i]
            alternatives.append(and_(*equal, step))
        qs = qs._clone(where=(*qs.query_state.where, or_(*alternatives)))
    rows = await qs[: size + 1]
    items = rows[:size]
    next_cursor = None
    if len(rows) > size:
        last = items[-1]
        keys = [str(name) for _, _, name in terms]
        if isinstance(last, dict):
            next_cursor = _encode_cursor([last[k] for k in keys])
        else:
            next_cursor = _encode_cursor([getattr(last, k) for k in keys])
    return Page(items=items, size=size, next_cursor=next_cursor)
