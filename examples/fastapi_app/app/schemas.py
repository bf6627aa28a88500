"""Request and response models, generated from the models by schema_for, and the filters
the post list accepts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends
from orm_kit import schema_for
from orm_kit.contrib.fastapi import filter_params
from pydantic import StringConstraints

from app.models import Post, User

# --8<-- [start:schemas]
if TYPE_CHECKING:  # the classes are built at run time: to mypy they are their base classes
    from orm_kit.contrib.pydantic import ReadSchema, WriteSchema

    UserCreate = WriteSchema
    UserUpdate = WriteSchema
    UserRead = ReadSchema
    PostCreate = WriteSchema
    PostUpdate = WriteSchema
    PostRead = ReadSchema
else:
    UserCreate = schema_for(User, "create")  # email, name: required, with max_length
    UserUpdate = schema_for(User, "update")  # the same fields, all optional
    UserRead = schema_for(User)  # every column, audit and timestamps included
    PostCreate = schema_for(Post, "create")
    PostUpdate = schema_for(Post, "update")
    PostRead = schema_for(Post, include={"tags"})  # "PostReadWithTags", nesting TagRead

TagName = Annotated[str, StringConstraints(min_length=1, max_length=50)]
# --8<-- [end:schemas]

# --8<-- [start:filters]
# The only filters a client may send to GET /posts (anything else of Post is a 422).
post_filters = filter_params(
    Post,
    {
        "author_id": ["exact"],
        "published": ["exact"],
        "title": ["icontains"],
        "created_at": ["gte", "lt"],
    },
)
PostFilters = Annotated[dict[str, Any], Depends(post_filters)]
# --8<-- [end:filters]
