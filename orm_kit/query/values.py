"""Values checked against their column's type before any SQL is built.

SQLite stores almost anything in any column and PostgreSQL rejects a wrong type only once
the statement reaches the server, so the two would disagree about ``is_active="yes"``.
orm_kit checks each value it binds — lookups, ``create``, ``update``, ``bulk_*`` and
flushes — against the column's SQLAlchemy type and raises
``ValidationError`` naming the model, the field and the type
expected, the same on every backend.

The rules (a value of the column's Python type passes; nothing is converted silently):

* integers: ``int`` (not ``bool``) within the declared type's range — SmallInteger 16,
  Integer 32, BigInteger 64 bits (PostgreSQL's ranges, applied on every backend);
* floats: ``int`` (within ±2**53, which a float holds exactly) or ``float``, not NaN
  (SQLite would store NULL); Numeric: ``Decimal``,
  ``int`` or ``float``, finite, and when written, within the declared precision;
* text: ``str`` without NUL characters or lone surrogates; when written, no longer than
  ``String(n)``; Enum columns take a member or one of its names;
* ``bool`` for Boolean; ``datetime`` for DateTime — timezone-aware when the column has
  a time zone (``DateTime(timezone=True)``, ``UTCDateTime``), naive when it has none;
  ``date`` (not a ``datetime``) for Date; ``time``; ``timedelta`` for Interval; bytes for
  LargeBinary;
* Uuid: a ``uuid.UUID`` or its string form (converted to what the column stores);
* JSON: data ``json.dumps`` can write (no NaN, no NUL characters, no lone surrogates).

Columns of other types (``TypeDecorator`` subclasses of your own, dialect types) are not
checked here; their bind processors decide, and what they raise becomes a
``ValidationError`` too.
"""

from __future__ import annotations

import functools
import json
import math
import operator
import uuid
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Enum,
    Float,
    Integer,
    Interval,
    LargeBinary,
    Numeric,
    SmallInteger,
    String,
    Time,
    Uuid,
)
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.types import NullType, TypeEngine

from orm_kit.exceptions import ValidationError

__all__ = [
    "Checker",
    "Rejected",
    "check_all",
    "check_arithmetic",
    "check_comparable",
    "checker_for",
    "comparison_type",
    "describe",
    "family",
    "integer_bits",
    "is_sql",
    "reject",
    "text_value",
    "value_family",
]


class Rejected(Exception):  # noqa: N818 - internal signal, never escapes this package
    """Raised by a checker: the value is not acceptable; ``expected`` says what is, and
    ``got`` what the value is when its type alone does not say (never the value itself:
    ``"a str of 12 characters"``)."""

    def __init__(self, expected: str, got: str | None = None) -> None:
        super().__init__(expected)
        self.expected = expected
        self.got = got


Checker = Callable[[Any], Any]
"""``check(value) -> value to bind``; raises ``Rejected``."""


_PLAIN_TYPES = frozenset(
    {int, str, float, bool, type(None), bytes, Decimal, datetime, date, time, timedelta}
    | {uuid.UUID, dict, list}
)
"""Types whose values are never SQL expressions (exact types: a subclass is looked at)."""


def is_sql(value: Any) -> bool:
    """Whether ``value`` is a SQL expression rather than a value to bind."""
    kind = type(value)
    if kind in _PLAIN_TYPES:
        return False
    return isinstance(value, ClauseElement) or hasattr(kind, "__clause_element__")


def first_sql(values: list[Any]) -> Any:
    """The first SQL expression among ``values`` (a bulk write's column), or None; one
    C-level pass over the types when they are all plain."""
    if set(map(type, values)) <= _PLAIN_TYPES:
        return None
    return next((v for v in values if is_sql(v)), None)


def describe(value: Any) -> str:
    """A short description of ``value`` for an error message (its type, never the value)."""
    return type(value).__name__


def reject(where: str, rejected: Rejected, value: Any) -> ValidationError:
    """The ``ValidationError`` for ``value`` given to ``where`` (``"User.age"``)."""
    got = rejected.got or describe(value)
    return ValidationError(
        f"{where} expects {rejected.expected}, not {got}; pass a value of the column's type."
    )


# Whole-column checks for bulk writes: checker -> fn(values) that says whether every value
# passes unchanged, with C-level passes over the list (map, min, max, join) instead of one
# Python call per value. When it says no, the values are checked one by one, which raises
# the precise error (or converts, for checkers that do).
_FAST: dict[Checker, Callable[[list[Any]], bool]] = {}
_NONE = type(None)


def _without_none(
    values: list[Any], kinds: set[type], allowed: frozenset[type]
) -> list[Any] | None:
    if kinds <= allowed:
        return values
    if kinds <= allowed | {_NONE}:
        return [v for v in values if v is not None]
    return None


def check_all(checker: Checker, values: list[Any]) -> list[Any]:
    """``values`` checked by ``checker`` (``None`` passes: NULL is the database's to judge)."""
    fast = _FAST.get(checker)
    if fast is not None and fast(values):
        return values
    return [None if v is None else checker(v) for v in values]


@functools.cache  # one checker per variant: _FAST stays bounded
def comparison_type(type_: TypeEngine[Any]) -> TypeEngine[Any]:
    """The type to bind a value compared with a column of ``type_`` (lookups, not writes).

    A ``Numeric(p, s)`` column compares with a plain ``Numeric``: bound as the column's
    own type, PostgreSQL casts the value to ``NUMERIC(p, s)``, which rounds it (``d=1.234``
    matched the row holding 1.23, ``d__gte=1.234`` too) or overflows for a value the column
    cannot hold, where SQLite compares the value as given. Every other type binds as its
    column's.
    """
    if (
        isinstance(type_, Numeric)
        and not isinstance(type_, Float)
        and (type_.precision is not None or type_.scale is not None)
    ):
        return _PLAIN_NUMERIC[bool(type_.asdecimal)]
    return type_


_PLAIN_NUMERIC: dict[bool, TypeEngine[Any]] = {
    True: Numeric(asdecimal=True),
    False: Numeric(asdecimal=False),
}


def integer_bits(type_: Integer) -> int:
    """The width orm_kit gives an integer column: SmallInteger 16, BigInteger 64, other
    Integer types 32 bits (PostgreSQL's ranges, applied on every backend)."""
    if isinstance(type_, SmallInteger):
        return 16
    return 64 if isinstance(type_, BigInteger) else 32


def _integer(bits: int, type_name: str) -> Checker:
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1

    def check(value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            if low <= value <= high:
                return value
            raise Rejected(
                f"an integer from {low} to {high} ({type_name})", "an int outside that range"
            )
        raise Rejected("an integer")

    def fast(values: list[Any]) -> bool:
        vals = _without_none(values, set(map(type, values)), frozenset({int}))
        return vals is not None and (not vals or (low <= min(vals) and max(vals) <= high))

    _FAST[check] = fast
    return check


def _float(value: Any) -> Any:
    if isinstance(value, float):
        if math.isnan(value):
            raise Rejected("a number (NaN cannot be stored on every backend)", "NaN")
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        if -_EXACT_FLOAT_INT <= value <= _EXACT_FLOAT_INT:
            return value
        # A float holds integers exactly only up to 2**53: a larger one would be stored as
        # another number.
        raise Rejected("a float, or an int from -2**53 to 2**53", "an int beyond 2**53")
    raise Rejected("a float or an int")


_EXACT_FLOAT_INT = 2**53


def _float_fast(values: list[Any]) -> bool:
    vals = _without_none(values, set(map(type, values)), frozenset({float, int}))
    return (
        vals is not None
        and not any(map(math.isnan, vals))
        and all(-_EXACT_FLOAT_INT <= v <= _EXACT_FLOAT_INT for v in vals if type(v) is int)
    )


_FAST[_float] = _float_fast


def _numeric(precision: int | None, scale: int | None, write: bool) -> Checker:
    whole = None if precision is None else precision - (scale or 0)

    def check(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            raise Rejected("a Decimal, an int or a float")
        number = value if isinstance(value, Decimal) else Decimal(str(value))
        if not number.is_finite():
            raise Rejected("a finite number", "an infinite number or NaN")
        if write and whole is not None and number and number.adjusted() + 1 > whole:
            raise Rejected(
                f"a number with at most {whole} digits before the decimal point",
                f"a number with {number.adjusted() + 1} digits before it",
            )
        exponent = number.as_tuple().exponent
        if write and scale is not None and isinstance(exponent, int) and -exponent > scale:
            # PostgreSQL would round it and SQLite keep it: refused alike instead.
            raise Rejected(
                f"a number with at most {scale} digits after the decimal point",
                f"a number with {-exponent} digits after it",
            )
        return value

    return check


@functools.cache  # one checker per variant: _FAST stays bounded
def _text(length: int | None) -> Checker:
    def check(value: Any) -> Any:
        if not isinstance(value, str):
            raise Rejected("a str")
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise Rejected(
                    "text without lone surrogates (valid Unicode)", "text with one"
                ) from None
        if "\x00" in value:
            raise Rejected("text without NUL characters", "text with one")
        if length is not None and len(value) > length:
            raise Rejected(
                f"a str of at most {length} characters", f"a str of {len(value)} characters"
            )
        return value

    def fast(values: list[Any]) -> bool:
        vals = _without_none(values, set(map(type, values)), frozenset({str}))
        if vals is None:
            return False
        joined = "".join(vals)
        if "\x00" in joined:
            return False
        if not joined.isascii():
            try:
                joined.encode("utf-8")
            except UnicodeEncodeError:
                return False
        return length is None or not vals or max(map(len, vals)) <= length

    _FAST[check] = fast
    return check


_TEXT = _text(None)


def text_value(value: Any) -> str:
    """``value`` if it is text that can be bound; else ``Rejected``."""
    checked: str = _TEXT(value)
    return checked


def _enum(type_: Enum) -> Checker:
    names = frozenset(type_.enums)
    enum_class = type_.enum_class

    def check(value: Any) -> Any:
        if enum_class is not None and isinstance(value, enum_class):
            return value
        if isinstance(value, str) and value in names:
            return value
        shown = ", ".join(sorted(names)[:10])
        raise Rejected(f"one of {shown}")

    return check


def _boolean(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    raise Rejected("True or False")


_FAST[_boolean] = lambda values: set(map(type, values)) <= {bool, _NONE}


@functools.cache  # one checker per variant: _FAST stays bounded
def _datetime(aware: bool) -> Checker:
    def check(value: Any) -> Any:
        if not isinstance(value, datetime):
            raise Rejected("a timezone-aware datetime" if aware else "a naive datetime")
        has_zone = value.tzinfo is not None and value.utcoffset() is not None
        if aware and not has_zone:
            raise Rejected(
                "a timezone-aware datetime (for example datetime.now(UTC))", "a naive datetime"
            )
        if not aware and has_zone:
            raise Rejected(
                "a naive datetime (the column has no time zone; declare it "
                "DateTime(timezone=True) or UTCDateTime to store aware values)",
                "an aware datetime",
            )
        return value

    def fast(values: list[Any]) -> bool:
        vals = _without_none(values, set(map(type, values)), frozenset({datetime}))
        if vals is None:
            return False
        zones = set(map(_tzinfo, vals))
        return None not in zones if aware else zones <= {None}

    _FAST[check] = fast
    return check


_tzinfo = operator.attrgetter("tzinfo")


def _of(
    kinds: type[Any] | tuple[type[Any], ...], expected: str, *, not_: type | None = None
) -> Checker:
    def check(value: Any) -> Any:
        if isinstance(value, kinds) and not (not_ is not None and isinstance(value, not_)):
            return value
        raise Rejected(expected)

    return check


def _uuid(as_uuid: bool) -> Checker:
    def check(value: Any) -> Any:
        if isinstance(value, uuid.UUID):
            return value if as_uuid else str(value)
        if isinstance(value, str):
            try:
                parsed = uuid.UUID(value)
            except ValueError:
                raise Rejected("a UUID (a uuid.UUID or its string form)") from None
            return parsed if as_uuid else str(parsed)
        raise Rejected("a UUID (a uuid.UUID or its string form)")

    return check


def _json(value: Any) -> Any:
    try:
        dumped = json.dumps(value, allow_nan=False, ensure_ascii=False)
        dumped.encode("utf-8")
    except (TypeError, ValueError, RecursionError):
        raise Rejected(
            "JSON data (dicts, lists, str, int, float, bool or None; no NaN, no lone surrogates)"
        ) from None
    if "\\u0000" in dumped:
        raise Rejected("JSON data without NUL characters")
    if _has_big_int(value):
        # NOTE(sqlite): its JSON functions and column affinity read them as floats.
        raise Rejected("JSON data whose integers fit in 64 bits")
    if _has_tuple(value):
        # json.dumps writes a tuple as a list, so it would come back as another value.
        raise Rejected("JSON data with lists, not tuples (a tuple reads back as a list)")
    return value


def _has_tuple(value: Any, depth: int = 0) -> bool:
    if isinstance(value, tuple):
        return True
    if depth > 100:
        return False
    if isinstance(value, dict):
        return any(_has_tuple(v, depth + 1) for v in value.values())
    if isinstance(value, list):
        return any(_has_tuple(v, depth + 1) for v in value)
    return False


def _has_big_int(value: Any, depth: int = 0) -> bool:
    if isinstance(value, bool) or depth > 100:
        return False
    if isinstance(value, int):
        return not -(1 << 63) <= value < (1 << 63)
    if isinstance(value, dict):
        return any(_has_big_int(v, depth + 1) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_big_int(v, depth + 1) for v in value)
    return False


def checker_for(type_: TypeEngine[Any], *, write: bool) -> Checker | None:
    """The checker for values bound to a column of ``type_``, or ``None`` if unchecked.

    ``write`` adds the checks that only matter when storing (text length, numeric
    precision); a lookup may compare with a longer string than the column holds.
    """
    from orm_kit.types import UTCDateTime

    if isinstance(type_, UTCDateTime):
        return _datetime(True)
    # Order matters: Boolean and Enum before their bases, Float before Numeric.
    if isinstance(type_, Boolean):
        return _boolean
    if isinstance(type_, Integer):
        bits = integer_bits(type_)
        return _integer(bits, {16: "SmallInteger", 64: "BigInteger"}.get(bits, "Integer"))
    if isinstance(type_, Float):
        return _float
    if isinstance(type_, Numeric):
        return _numeric(type_.precision, type_.scale, write)
    if isinstance(type_, Enum):
        return _enum(type_)
    if isinstance(type_, String):
        return _text(type_.length if write else None)
    if isinstance(type_, DateTime):
        return _datetime(bool(type_.timezone))
    if isinstance(type_, Date):
        return _of(date, "a date (not a datetime)", not_=datetime)
    if isinstance(type_, Time):
        return _of(time, "a time")
    if isinstance(type_, Interval):
        return _of(timedelta, "a timedelta")
    if isinstance(type_, LargeBinary):
        return _of((bytes, bytearray, memoryview), "bytes")
    if isinstance(type_, Uuid):
        return _uuid(bool(type_.as_uuid))
    if isinstance(type_, JSON):
        return _json
    return None


def family(type_: TypeEngine[Any]) -> str | None:
    """The kind of values a type holds (``"number"``, ``"text"`` ...), or ``None`` if unknown.

    Two expressions of different families cannot be compared on every backend (PostgreSQL
    refuses ``integer > text``; SQLite compares them by its own type order).
    """
    from sqlalchemy.types import TypeDecorator

    from orm_kit.types import UTCDateTime

    if isinstance(type_, UTCDateTime):
        return "datetime"
    if isinstance(type_, TypeDecorator):
        type_ = type_.impl_instance
    for kind, name in (
        (NullType, None),
        (Boolean, "bool"),
        (Enum, "text"),
        (Numeric, "number"),
        (Integer, "number"),
        (String, "text"),
        (DateTime, "datetime"),
        (Date, "date"),
        (Time, "time"),
        (Interval, "interval"),
        (LargeBinary, "bytes"),
        (Uuid, "uuid"),
        (JSON, "json"),
    ):
        if isinstance(type_, kind):
            return name
    return None


def check_comparable(left: Any, right: Any, where: str) -> None:
    """Raise ``ValidationError`` when two SQL expressions hold values of different kinds."""
    a = family(getattr(left, "type", _UNKNOWN))
    b = family(getattr(right, "type", _UNKNOWN))
    if a is not None and b is not None and a != b:
        raise ValidationError(
            f"{where} compares {a} with {b}; both sides must hold the same kind of value "
            "(cast one side with sqlalchemy.cast() if that is intended)."
        )


_UNKNOWN = NullType()

# (left family, right family) -> the operators SQL defines for them on every backend.
_ARITHMETIC = {
    ("number", "number"): "+-*/%",
    ("text", "text"): "+",
    ("datetime", "interval"): "+-",
    ("date", "interval"): "+-",
    ("interval", "datetime"): "+",
    ("interval", "interval"): "+-",
    ("datetime", "datetime"): "-",
}
_INT64 = _integer(64, "a 64-bit integer")


def value_family(value: Any) -> str | None:
    """The family of a plain Python value, or ``None`` if SQL arithmetic cannot take it."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, timedelta):
        return "interval"
    if isinstance(value, datetime):
        return "datetime"
    if isinstance(value, date):
        return "date"
    return None


def check_arithmetic(left: Any, symbol: str, right: Any, label: str) -> None:
    """Raise ``ValidationError`` unless ``left <symbol> right`` is arithmetic SQL defines
    alike on every backend (numbers, text concatenation, dates and intervals)."""
    families = []
    for side in (left, right):
        if hasattr(side, "type"):
            families.append(family(side.type))
            continue
        kind = value_family(side)
        try:
            if kind == "number" and isinstance(side, int):
                _INT64(side)
            elif kind == "number":
                _numeric(None, None, False)(side)
            elif kind == "text":
                _TEXT(side)
        except Rejected as exc:
            raise ValidationError(f"{label}: a value must be {exc.expected}.") from None
        if kind is None:
            raise ValidationError(
                f"{label}: arithmetic takes numbers, text, dates and intervals, "
                f"not {describe(side)}."
            )
        families.append(kind)
    a, b = families
    if a is None or b is None:
        return
    if symbol not in _ARITHMETIC.get((a, b), ""):
        raise ValidationError(
            f"{label}: {a} {symbol} {b} is not arithmetic every backend supports."
        )
