"""Lookups: the registry with the built-in lookups and transforms
(``registry``), the SQL constructs they compile to
(``constructs``), and the resolver of
``field__transform__lookup=value`` on a model's columns
(``resolver``).

Lookups through relationships are resolved one level up, in ``orm_kit.query.clauses``.
"""

from orm_kit.query.lookups.registry import (
    LookupFn,
    LookupRegistry,
    TransformFn,
    lookups,
    register_lookup,
    register_transform,
)

__all__ = [
    "LookupFn",
    "LookupRegistry",
    "TransformFn",
    "lookups",
    "register_lookup",
    "register_transform",
]
