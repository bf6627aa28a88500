"""Response models of paginated endpoints: ``OffsetPage[ItemT]`` and ``KeysetPage[ItemT]``."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from orm_kit.query.pagination import Page

__all__ = ["KeysetPage", "OffsetPage"]

ItemT = TypeVar("ItemT")


class OffsetPage(BaseModel, Generic[ItemT]):
    """A numbered page, as ``paginate(page=, size=)`` returns it.

    Use it as the ``response_model`` and return the orm_kit ``Page`` itself: FastAPI reads
    its attributes, and each item through ``ItemT`` (a read schema):

    ```python
    @app.get("/users", response_model=OffsetPage[UserRead])
    async def users(page: int = 1, size: int = 20) -> Page[User]:
        return await User.objects.order_by("id").paginate(page=page, size=size)
    ```
    """

    model_config = ConfigDict(from_attributes=True)

    items: list[ItemT]
    total: int
    page: int
    size: int
    pages: int

    @classmethod
    def from_page(cls, page: Page[Any]) -> OffsetPage[ItemT]:
        """Build the response from an orm_kit offset ``Page`` (items read by attribute)."""
        return cls.model_validate(page, from_attributes=True)


class KeysetPage(BaseModel, Generic[ItemT]):
    """A keyset page, as ``paginate(after=, size=)`` returns it: pass ``next_cursor`` back
    as ``after`` for the next page; it is ``None`` on the last one."""

    model_config = ConfigDict(from_attributes=True)

    items: list[ItemT]
    size: int
    next_cursor: str | None

    @classmethod
    def from_page(cls, page: Page[Any]) -> KeysetPage[ItemT]:
        """Build the response from an orm_kit keyset ``Page`` (items read by attribute)."""
        return cls.model_validate(page, from_attributes=True)
