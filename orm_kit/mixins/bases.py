"""Ready-made abstract bases combining the mixins (the seeds' ``tables.py`` idea)."""

from __future__ import annotations

from orm_kit.mixins.audit import AuditMixin
from orm_kit.mixins.soft_delete import SoftDeleteMixin
from orm_kit.mixins.timestamps import TimestampMixin
from orm_kit.mixins.uuid import UUIDPrimaryKeyMixin
from orm_kit.model import Model

__all__ = ["AuditedModel", "SoftDeleteModel", "TimestampedModel", "UUIDModel"]


class TimestampedModel(Model, TimestampMixin):
    """``created_at`` / ``updated_at``."""

    __abstract__ = True


class UUIDModel(Model, UUIDPrimaryKeyMixin, TimestampMixin):
    """A UUIDv7 ``id`` plus timestamps."""

    __abstract__ = True


class SoftDeleteModel(Model, TimestampMixin, SoftDeleteMixin):
    """Timestamps plus soft delete."""

    __abstract__ = True


class AuditedModel(Model, UUIDPrimaryKeyMixin, TimestampMixin, SoftDeleteMixin, AuditMixin):
    """UUIDv7 ``id``, timestamps, soft delete and ``created_by`` / ``updated_by``."""

    __abstract__ = True
