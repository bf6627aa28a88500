"""orm_kit: Django-style declarative models, managers and lazy QuerySets on async SQLAlchemy."""

from orm_kit.context import acting_as, current_actor
from orm_kit.contrib.pydantic import schema_for
from orm_kit.database import (
    Database,
    HealthStatus,
    close_database,
    get_database,
    get_session,
    init_database,
)
from orm_kit.exceptions import (
    ConflictError,
    DatabaseError,
    DatabaseUnavailableError,
    InvalidLookupError,
    MultipleObjectsReturned,
    NotFoundError,
    ORMKitError,
    ReadOnlyError,
    RelationNotLoadedError,
    SyncUsageError,
    ValidationError,
)
from orm_kit.mixins.read_only import allow_writes
from orm_kit.model import Model, ModelMeta
from orm_kit.query.expressions import Avg, Count, F, Max, Min, Q, Sum
from orm_kit.query.lookups import register_lookup, register_transform
from orm_kit.query.manager import Manager
from orm_kit.query.pagination import Page
from orm_kit.query.queryset import QuerySet
from orm_kit.repository import Repository
from orm_kit.settings import DatabaseSettings
from orm_kit.transaction import on_commit, transaction

__version__ = "0.1.0"

__all__ = [
    "Avg",
    "ConflictError",
    "Count",
    "Database",
    "DatabaseError",
    "DatabaseSettings",
    "DatabaseUnavailableError",
    "F",
    "HealthStatus",
    "InvalidLookupError",
    "Manager",
    "Max",
    "Min",
    "Model",
    "ModelMeta",
    "MultipleObjectsReturned",
    "NotFoundError",
    "ORMKitError",
    "Page",
    "Q",
    "QuerySet",
    "ReadOnlyError",
    "RelationNotLoadedError",
    "Repository",
    "Sum",
    "SyncUsageError",
    "ValidationError",
    "acting_as",
    "allow_writes",
    "close_database",
    "current_actor",
    "get_database",
    "get_session",
    "init_database",
    "on_commit",
    "register_lookup",
    "register_transform",
    "schema_for",
    "transaction",
]
