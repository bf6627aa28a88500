"""``Manager``: the QuerySet entry point on a model class (``User.objects``).

A manager *is* a QuerySet whose operations all start from :meth:`Manager.get_queryset`,
so there is one override point and no forwarding code to drift. It is a descriptor:
``User.objects`` binds the manager to ``User`` (typed ``Manager[User]``); instances
cannot reach it.
"""

from __future__ import annotations

from typing import Any, overload

from typing_extensions import TypeVar

from orm_kit.exceptions import ValidationError
from orm_kit.query.prepared import register_plain_base
from orm_kit.query.queryset import ModelT, QuerySet

__all__ = ["Manager"]

OwnerT = TypeVar("OwnerT")


class Manager(QuerySet[ModelT, ModelT]):
    """The default manager; subclass it and override :meth:`get_queryset` to customise.

    Example:
        ```python
        class ActiveManager(Manager[Any]):
            def get_queryset(self) -> QuerySet[Any]:
                return super().get_queryset().filter(is_active=True)

        class User(Model):
            ...
            active: ClassVar[Manager[Any]] = ActiveManager()
        ```
    """

    queryset_class: type[QuerySet[Any, Any]] = QuerySet

    def __init__(self, model: type[ModelT] | None = None) -> None:
        self.model = model  # type: ignore[assignment]
        self.name: str | None = None
        self._bound: dict[type[Any], Manager[Any]] = {}

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type[OwnerT]) -> Manager[OwnerT]: ...
    @overload
    def __get__(self, instance: object, owner: type[OwnerT]) -> Manager[OwnerT]: ...
    def __get__(self, instance: object | None, owner: type[OwnerT]) -> Manager[OwnerT]:
        if instance is not None:
            raise AttributeError(
                f"Manager {self.name or ''!s} isn't accessible via {owner.__name__} instances; "
                f"use {owner.__name__}.{self.name or 'objects'}."
            )
        bound = self._bound.get(owner)
        if bound is None:
            bound = type(self).__new__(type(self))
            bound.__dict__.update(self.__dict__)
            bound.__dict__.pop("_base_qs", None)
            bound.model = owner  # type: ignore[assignment]
            bound._bound = {}
            self._bound[owner] = bound
        return bound  # type: ignore[return-value]

    def __repr__(self) -> str:
        name = self.model.__name__ if self.model is not None else "unbound"
        return f"<{type(self).__name__} {name}.{self.name or 'objects'}>"

    def get_queryset(self) -> QuerySet[ModelT, ModelT]:
        """Return the QuerySet every operation of this manager starts from."""
        model = self.model
        if model is None or (
            getattr(model, "__abstract__", False) and "__table__" not in vars(model)
        ):
            raise ValidationError(
                f"{getattr(model, '__name__', 'This manager')} is abstract; query a concrete model."
            )
        return self.queryset_class(model)

    def _base(self) -> QuerySet[ModelT, ModelT]:
        if type(self).get_queryset is Manager.get_queryset:
            # QuerySets are immutable, so the plain manager can hand out one base QuerySet.
            base = self.__dict__.get("_base_qs")
            if base is None:
                base = self.__dict__["_base_qs"] = self.get_queryset()
                register_plain_base(base.query_state)
            return base
        return self.get_queryset()
