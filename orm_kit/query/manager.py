"""``Manager``: the QuerySet entry point on a model class (``User.objects``).

A manager *is* a QuerySet whose operations all start from ``Manager.get_queryset``,
so there is one override point and no forwarding code to drift. ``Manager.from_queryset``
(and ``QuerySet.as_manager``) add a custom QuerySet's own methods the same way. It is a
descriptor: ``User.objects`` binds the manager to ``User``; instances cannot reach it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, Generic, Self, cast, get_origin

from typing_extensions import TypeVar

from orm_kit.exceptions import ValidationError
from orm_kit.query.prepared import register_plain_base
from orm_kit.query.queryset import ModelT, QuerySet, QuerySetT

__all__ = ["Manager"]

# The QuerySet type a manager's operations start from (its get_queryset()). Covariant,
# so a manager of an ArticleQuerySet fits where a Manager[Article] is declared.
QuerySetT_co = TypeVar(
    "QuerySetT_co",
    bound=QuerySet[Any, Any],
    covariant=True,
    default=QuerySet[ModelT, ModelT],
)
_QuerySetModelT = TypeVar("_QuerySetModelT")


def _is_queryset_mixin(klass: type) -> bool:
    """Whether ``klass`` is a custom QuerySet class (not a manager, not QuerySet itself)."""
    return issubclass(klass, QuerySet) and not issubclass(klass, Manager) and klass is not QuerySet


def _forward(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    """A manager method that runs the QuerySet method ``name`` on the manager's base."""

    @functools.wraps(method)
    def forward(self: Manager[Any, Any], /, *args: Any, **kwargs: Any) -> Any:
        return getattr(self._base(), name)(*args, **kwargs)

    return forward


# The classes from_queryset() made, by (manager class, QuerySet class, name): a loop of
# from_queryset() calls, or as_manager() on every model, makes one class, not many.
_MADE: dict[tuple[type[Any], type[Any], str], type[Manager[Any, Any]]] = {}


def _manager_class(
    manager_class: type[Manager[Any, Any]], queryset_class: type[QuerySet[Any, Any]], name: str
) -> type[Manager[Any, Any]]:
    key = (manager_class, queryset_class, name)
    made = _MADE.get(key)
    if made is None:
        namespace = {
            "__module__": queryset_class.__module__,
            "__qualname__": name,
            "__doc__": f"A {manager_class.__name__} with the methods of {queryset_class.__name__}.",
            "queryset_class": queryset_class,
        }
        made = _MADE[key] = type(name, (manager_class, queryset_class), namespace)
    return made


class Manager(QuerySet[ModelT, ModelT], Generic[ModelT, QuerySetT_co]):
    """The default manager; subclass it and override ``get_queryset`` to customise.

    ``Manager[Article, ArticleQuerySet]`` is a manager whose operations start from an
    ``ArticleQuerySet``: its chaining methods return one (type checkers see it too).
    ``Manager.from_queryset(ArticleQuerySet)`` builds the manager class that also has
    ``ArticleQuerySet``'s own methods; a class statement with both bases does the same,
    in a spelling type checkers can see.

    Example:
        ```python
        class ActiveManager(Manager[ModelT]):
            def get_queryset(self) -> QuerySet[ModelT]:
                return super().get_queryset().filter(is_active=True)

        class ArticleManager(Manager["Article", ArticleQuerySet], ArticleQuerySet):
            pass  # what Manager.from_queryset(ArticleQuerySet) makes

        class Article(Model):
            ...
            objects: ClassVar[ArticleManager] = ArticleManager()
            active: ClassVar[ActiveManager[Self]] = ActiveManager()
        ```
    """

    # The class of the QuerySets get_queryset() makes. A class attribute cannot hold the
    # type parameter's default, so mypy is told (cast) that QuerySet matches it: the
    # default of QuerySetT_co is QuerySet[ModelT, ModelT].
    queryset_class: type[QuerySetT_co] = cast("type[QuerySetT_co]", QuerySet)

    def __init__(self, model: type[ModelT] | None = None) -> None:
        self.model = model  # type: ignore[assignment]
        self.name: str | None = None
        self._bound: dict[type[Any], Self] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Give a manager class with a QuerySet class among its bases that class's methods.

        ``class M(Manager, ArticleQuerySet)`` (what ``from_queryset`` builds) gets
        ``queryset_class = ArticleQuerySet`` unless it sets one, and each public method
        that ``ArticleQuerySet`` (or a QuerySet class it derives from) defines runs on
        ``get_queryset()``, not on the manager, as Django's ``from_queryset`` does. A
        method the manager class defines itself is kept.
        """
        super().__init_subclass__(**kwargs)
        # The QuerySet side of the class: the custom QuerySet classes and their own bases.
        plain = set(QuerySet.__mro__)
        side = {c for k in cls.__mro__ if _is_queryset_mixin(k) for c in k.__mro__} - plain
        if not side:
            return
        if "queryset_class" not in vars(cls):
            own = next((base for base in cls.__bases__ if _is_queryset_mixin(base)), None)
            if own is not None:
                cls.queryset_class = own
        # What the manager side defines (this class, Manager, a base that forwards already)
        # stays; on the QuerySet side the first definition in the MRO wins.
        taken = {name for k in cls.__mro__ if k not in side | plain for name in vars(k)}
        for klass in cls.__mro__:
            if klass not in side:
                continue
            for name, value in vars(klass).items():
                if name in taken:
                    continue
                taken.add(name)
                if not name.startswith("_") and inspect.isfunction(value):
                    setattr(cls, name, _forward(name, value))

    @classmethod
    def from_queryset(
        cls,
        queryset_class: Callable[[type[_QuerySetModelT]], QuerySetT],
        class_name: str | None = None,
    ) -> type[Manager[_QuerySetModelT, QuerySetT]]:
        """Return a subclass of this manager with the methods of ``queryset_class``.

        Each public method ``queryset_class`` defines runs on ``get_queryset()``, which
        returns a ``queryset_class`` instance, so ``objects.published()`` and
        ``objects.filter(...).published()`` both work (Django's ``from_queryset``). The
        class is named ``ManagerFrom<QuerySet class>`` unless ``class_name`` is given, and
        is made once per manager class, QuerySet class and name. Subclass it to override
        ``get_queryset()``.

        Type checkers see a ``Manager[Model, queryset_class]``: the QuerySet type after
        any chaining method, but not the custom methods on the manager itself (a class
        made at run time has no static methods). Declare the same class with a class
        statement for that: ``class ArticleManager(Manager[Article, ArticleQuerySet],
        ArticleQuerySet): pass``.

        Raises:
            TypeError: ``queryset_class`` is not a QuerySet subclass, or is a manager.
        """
        queryset_class = get_origin(queryset_class) or queryset_class  # TitledQuerySet[Story]
        if not isinstance(queryset_class, type) or not issubclass(queryset_class, QuerySet):
            raise TypeError(f"from_queryset() takes a QuerySet subclass, not {queryset_class!r}.")
        if issubclass(queryset_class, Manager):
            raise TypeError(
                "from_queryset() takes a QuerySet class, not the manager "
                f"{queryset_class.__name__}."
            )
        name = class_name or f"{cls.__name__}From{queryset_class.__name__}"
        return _manager_class(cls, queryset_class, name)

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self.name = name

    def __get__(self, instance: object | None, owner: type[Any]) -> Self:
        # Typed Self: the declared type is kept (Article.objects is an ArticleManager). The
        # model comes from the declaration: Model declares `objects: ClassVar[Manager[Self]]`.
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
            bound.model = owner
            bound._bound = {}
            self._bound[owner] = bound
        return bound

    def __repr__(self) -> str:
        name = self.model.__name__ if self.model is not None else "unbound"
        return f"<{type(self).__name__} {name}.{self.name or 'objects'}>"

    def get_queryset(self) -> QuerySetT_co:
        """Return the QuerySet every operation of this manager starts from."""
        model = self.model
        if model is None or (
            getattr(model, "__abstract__", False) and "__table__" not in vars(model)
        ):
            raise ValidationError(
                f"{getattr(model, '__name__', 'This manager')} is abstract; query a concrete model."
            )
        return self.queryset_class(model)

    def _base(self) -> QuerySetT_co:
        if type(self).get_queryset is Manager.get_queryset:
            # QuerySets are immutable, so the plain manager can hand out one base QuerySet.
            base: QuerySetT_co | None = self.__dict__.get("_base_qs")
            if base is None:
                base = self.__dict__["_base_qs"] = self.get_queryset()
                register_plain_base(base.query_state)
            return base
        return self.get_queryset()


# The hook QuerySet.as_manager() builds on (queryset.py sits below this module).
QuerySet._manager_class = Manager
