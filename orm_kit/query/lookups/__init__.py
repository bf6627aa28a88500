"""Lookups: the registry with the built-in lookups and transforms
(:mod:`~orm_kit.query.lookups.registry`), the SQL constructs they compile to
(:mod:`~orm_kit.query.lookups.constructs`), and the resolver of
``field__transform__lookup=value`` on a model's columns
(:mod:`~orm_kit.query.lookups.resolver`).

Lookups through relationships are resolved one level up, in :mod:`orm_kit.query.clauses`.
"""

from orm_kit.query.lookups.registry import (
    UNBOUND,
    LookupFn,
    LookupRegistry,
    TransformFn,
    is_plain_exact,
    lookups,
    register_lookup,
    register_transform,
)
from orm_kit.query.lookups.resolver import (
    ResolvedLookup,
    empty_part_error,
    expression_lookup,
    field_column,
    resolve_field_lookup,
)

__all__ = [
    "UNBOUND",
    "LookupFn",
    "LookupRegistry",
    "ResolvedLookup",
    "TransformFn",
    "empty_part_error",
    "expression_lookup",
    "field_column",
    "is_plain_exact",
    "lookups",
    "register_lookup",
    "register_transform",
    "resolve_field_lookup",
]
