"""``filter_params``: query parameters → validated lookups, from an allow-list only.

The client never chooses a lookup the application did not list: each allowed
``field__lookup`` becomes one typed query parameter (shown in the OpenAPI document), and a
query parameter naming any other field or lookup of the model is refused with 422.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import AwareDatetime, NaiveDatetime
from sqlalchemy import JSON, Date, DateTime, Integer, Uuid
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Mapper
from sqlalchemy.types import TypeEngine

from orm_kit.exceptions import InvalidLookupError
from orm_kit.query.lookups.registry import impl_type, lookups

__all__ = ["FilterDependency", "filter_params"]

FilterDependency = Callable[..., Awaitable[dict[str, Any]]]

_REQUEST = "orm_kit_filter_request"


@dataclass(frozen=True, slots=True)
class _Param:
    name: str  # the query parameter and the lookup key: "email__icontains"
    annotation: Any
    pair: bool  # range: a list of two values, passed on as a tuple


def _python_type(model: type[Any], field: str, type_: TypeEngine[Any]) -> Any:
    impl = impl_type(type_)
    if isinstance(impl, JSON):
        raise InvalidLookupError(
            f"filter_params() cannot filter {model.__name__}.{field}: it is a JSON column, "
            "and query parameters carry only scalar values. Filter it in the endpoint."
        )
    if isinstance(impl, DateTime):
        return AwareDatetime if impl.timezone else NaiveDatetime
    if isinstance(impl, Uuid):
        return uuid.UUID
    try:
        return type_.python_type
    except NotImplementedError:
        return str


def _param(model: type[Any], field: str, type_: TypeEngine[Any], spelled: str) -> _Param:
    parts = spelled.split("__")
    value_type = _python_type(model, field, type_)
    target: TypeEngine[Any] = type_
    if lookups.transform(parts[0], type_) is not None:
        transform = parts.pop(0)
        target = Date() if transform == "date" else Integer()
        value_type = date if transform == "date" else int
    name = parts[0] if parts else "exact"
    entry = lookups.entry(name, target) if len(parts) <= 1 else None
    if entry is None:
        valid = ", ".join(sorted(lookups.names(type_)))
        raise InvalidLookupError(
            f"filter_params() got lookup {spelled!r} for {model.__name__}.{field}, which "
            f"does not apply to it. Valid lookups: {valid}."
        )
    kind = entry.value
    key = field if spelled == "exact" else f"{field}__{spelled}"
    if kind in ("text", "pattern"):
        value_type = str
    elif kind == "flag":
        value_type = bool
    elif kind in ("many", "pair"):
        value_type = list[value_type]  # type: ignore[valid-type]
    return _Param(key, value_type, pair=kind == "pair")


def _params(model: type[Any], allowed: Mapping[str, Iterable[str]]) -> list[_Param]:
    mapper: Mapper[Any] = sa_inspect(model)
    columns = mapper.columns
    out: list[_Param] = []
    for field, spelled_lookups in allowed.items():
        if field not in columns:
            valid = ", ".join(sorted(columns.keys()))
            raise InvalidLookupError(
                f"filter_params() got field {field!r}, which is not a column of "
                f"{model.__name__}. Valid fields: {valid}."
            )
        names = [spelled_lookups] if isinstance(spelled_lookups, str) else list(spelled_lookups)
        out.extend(_param(model, field, columns[field].type, spelled) for spelled in names)
    return out


def filter_params(model: type[Any], allowed: Mapping[str, Iterable[str]]) -> FilterDependency:
    """Return a dependency that reads the allowed filters from the query string.

    Each field's listed lookups become optional query parameters: ``exact`` is the bare
    field name (``?email=a@x.io``), any other lookup is ``field__lookup``
    (``?email__icontains=x``, ``?created_at__gte=2026-01-01T00:00:00Z``). Values are
    converted to the column's type by FastAPI, so a bad value is a 422 naming the
    parameter; ``in`` takes the parameter repeated (``?id__in=1&id__in=2``), ``range``
    exactly two of them, ``isnull`` a boolean. A query parameter that names another
    field or lookup of the model (anything with ``__``, or a field not allowed for exact
    matching) is refused with 422 rather than ignored; other parameters (``page``,
    ``size`` ...) are left to the endpoint.

    Args:
        model: The model whose columns are filtered.
        allowed: Field name → the lookups clients may use on it, e.g.
            ``{"email": ["exact", "icontains"], "created_at": ["gte", "lte"]}``; a
            transform may lead (``"year"``, ``"date__gte"``).

    Returns:
        A dependency whose value is the dict of lookups the request gave, ready for
        ``Model.objects.filter(**filters)``.

    Raises:
        InvalidLookupError: When called, if ``allowed`` names a field that is not a column
            of ``model`` or a lookup that does not apply to the column.

    Example:
        ```python
        user_filters = filter_params(User, {"email": ["exact", "icontains"]})

        @app.get("/users")
        async def users(filters: Annotated[dict[str, Any], Depends(user_filters)]): ...
        ```
    """
    if not isinstance(allowed, Mapping):
        raise InvalidLookupError(
            "filter_params() takes a mapping of field name to the lookups clients may use "
            f'on it, e.g. {{"email": ["exact", "icontains"]}}, not {type(allowed).__name__}.'
        )
    specs = _params(model, allowed)
    by_name = {spec.name: spec for spec in specs}
    mapper: Mapper[Any] = sa_inspect(model)
    attributes = set(mapper.attrs.keys())
    listed = ", ".join(by_name) or "(none)"

    async def filters(**values: Any) -> dict[str, Any]:
        request: Request = values.pop(_REQUEST)
        refused = [
            key
            for key in request.query_params
            if key not in by_name and ("__" in key or key in attributes)
        ]
        if refused:
            raise RequestValidationError(
                [
                    {
                        "type": "filter_not_allowed",
                        "loc": ("query", key),
                        "msg": f"Filtering {model.__name__} by {key!r} is not allowed; "
                        f"allowed filters: {listed}.",
                    }
                    for key in refused
                ]
            )
        out: dict[str, Any] = {}
        for name, value in values.items():
            if value is None:
                continue
            out[name] = tuple(value) if by_name[name].pair else value
        return out

    parameters = [inspect.Parameter(_REQUEST, inspect.Parameter.KEYWORD_ONLY, annotation=Request)]
    for spec in specs:
        query = Query(min_length=2, max_length=2) if spec.pair else Query()
        parameters.append(
            inspect.Parameter(
                spec.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=None,
                annotation=Annotated[spec.annotation | None, query],
            )
        )
    filters.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    filters.__name__ = f"{model.__name__.lower()}_filters"
    return filters
