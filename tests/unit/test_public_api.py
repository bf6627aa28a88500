"""The curated public surface of ``orm_kit`` (pinned)."""

from __future__ import annotations

import orm_kit

EXPECTED = [
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


def test_public_api_is_pinned_and_sorted() -> None:
    assert orm_kit.__all__ == EXPECTED
    assert sorted(orm_kit.__all__) == orm_kit.__all__
    for name in orm_kit.__all__:
        assert getattr(orm_kit, name) is not None


def test_exception_tree() -> None:
    for name in (
        "NotFoundError",
        "MultipleObjectsReturned",
        "ConflictError",
        "InvalidLookupError",
        "RelationNotLoadedError",
        "ReadOnlyError",
        "ValidationError",
        "DatabaseUnavailableError",
        "DatabaseError",
        "SyncUsageError",
    ):
        assert issubclass(getattr(orm_kit, name), orm_kit.ORMKitError)
