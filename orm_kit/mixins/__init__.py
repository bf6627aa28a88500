"""Reusable model behaviour: UUIDv7 keys, timestamps, soft delete, audit fields, read-only.

Each rule lives in one place — a column default, or a check the write paths and the
session events (``orm_kit.hooks``) both reach through the hook point
``orm_kit.rules`` — so it holds on every path.
"""

from orm_kit.context import acting_as, current_actor
from orm_kit.history import AuditLogMixin
from orm_kit.mixins.audit import AuditMixin
from orm_kit.mixins.bases import AuditedModel, SoftDeleteModel, TimestampedModel, UUIDModel
from orm_kit.mixins.read_only import ReadOnlyMixin, allow_writes
from orm_kit.mixins.soft_delete import SoftDeleteMixin, unique_among_live
from orm_kit.mixins.timestamps import TimestampMixin
from orm_kit.mixins.uuid import UUIDPrimaryKeyMixin, uuid7
from orm_kit.types import MIXIN_SORT_ORDER, PRIMARY_KEY_SORT_ORDER

__all__ = [
    "MIXIN_SORT_ORDER",
    "PRIMARY_KEY_SORT_ORDER",
    "AuditLogMixin",
    "AuditMixin",
    "AuditedModel",
    "ReadOnlyMixin",
    "SoftDeleteMixin",
    "SoftDeleteModel",
    "TimestampMixin",
    "TimestampedModel",
    "UUIDModel",
    "UUIDPrimaryKeyMixin",
    "acting_as",
    "allow_writes",
    "current_actor",
    "unique_among_live",
    "uuid7",
]
