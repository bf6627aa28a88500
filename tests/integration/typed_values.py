"""``typed()``: a value with the type of each part spelled out, for differential tests.

Two results that compare equal in Python can still differ in what a user gets back: ``1 ==
True``, ``1 == 1.0``, a naive and an aware datetime of the same wall time in a dict. The
differential tests compare ``typed(a) == typed(b)`` so such a difference fails them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from orm_kit import Model


def typed(value: Any) -> Any:
    """``value`` with the type of every part, so ``1 == True`` or a naive/aware mix differ.

    A model instance is compared by its column values (``__dict__``, so nothing loads).
    """
    if isinstance(value, Model):
        return typed(
            {k: value.__dict__.get(k) for k in [c.key for c in type(value).__table__.columns]}
        )
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return (type(value).__name__, [typed(v) for v in value])
    if isinstance(value, datetime):
        return ("datetime", value, value.utcoffset())
    return (type(value).__name__, value)
