"""``UUIDPrimaryKeyMixin``: a time-ordered UUIDv7 primary key generated client-side."""

from __future__ import annotations

import os
import time
import uuid

from sqlalchemy import Uuid
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit.types import PRIMARY_KEY_SORT_ORDER

__all__ = ["UUIDPrimaryKeyMixin", "uuid7"]


def uuid7() -> uuid.UUID:
    """Return a UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits.

    Keys made later sort after earlier ones (to the millisecond), which keeps B-tree
    inserts local, unlike random UUIDv4 keys.
    """
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & 0xFFFF_FFFF_FFFF) << 80  # unix_ts_ms
    value |= 0x7 << 76  # version 7
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a
    value |= 0b10 << 62  # RFC 9562 variant
    value |= rand & 0x3FFF_FFFF_FFFF_FFFF  # rand_b
    return uuid.UUID(int=value)


class UUIDPrimaryKeyMixin:
    """An ``id`` primary key holding a UUIDv7, set in Python before the INSERT.

    Native ``uuid`` on PostgreSQL, ``CHAR(32)`` on SQLite (SQLAlchemy's ``Uuid`` type).
    """

    id: Mapped[uuid.UUID] = mapped_column(
        Uuid, primary_key=True, default=uuid7, sort_order=PRIMARY_KEY_SORT_ORDER
    )
