"""The endpoints: users (offset pages), posts (keyset pages, filters, soft delete), tags."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Response
from orm_kit import Page
from orm_kit.contrib.fastapi import KeysetPage, OffsetPage, SessionDep

from app.models import Post, Tag, User
from app.schemas import (
    PostCreate,
    PostFilters,
    PostRead,
    PostUpdate,
    TagName,
    UserCreate,
    UserRead,
    UserUpdate,
)

router = APIRouter()
PageSize = Annotated[int, Query(ge=1, le=100)]


# --8<-- [start:users]
@router.post("/users", status_code=201, response_model=UserRead, tags=["users"])
async def create_user(payload: UserCreate, session: SessionDep) -> User:
    return await User.objects.create(**payload.model_dump())  # a taken email: 409


@router.post("/users/import", status_code=201, tags=["users"])
async def import_users(payload: list[UserCreate], session: SessionDep) -> dict[str, int]:
    session.add_all(User(**item.model_dump()) for item in payload)
    return {"imported": len(payload)}  # the INSERTs run at the commit: a taken email is a 409


@router.get("/users", response_model=OffsetPage[UserRead], tags=["users"])
async def list_users(
    session: SessionDep, page: Annotated[int, Query(ge=1)] = 1, size: PageSize = 20
) -> Page[User]:
    return await User.objects.order_by("id").paginate(page=page, size=size)


@router.get("/users/{user_id}", response_model=UserRead, tags=["users"])
async def read_user(user_id: int, session: SessionDep) -> User:
    return await User.objects.get(id=user_id)  # User.DoesNotExist: 404


@router.patch("/users/{user_id}", response_model=UserRead, tags=["users"])
async def update_user(user_id: int, payload: UserUpdate, session: SessionDep) -> User:
    user = await User.objects.get(id=user_id)
    user.update_from(payload)  # only the fields the client sent
    await user.save()  # flushed now, so the response shows updated_at and updated_by
    return user


@router.delete("/users/{user_id}", status_code=204, tags=["users"])
async def delete_user(user_id: int, session: SessionDep) -> Response:
    user = await User.objects.get(id=user_id)
    await user.delete()  # still the author of posts (deleted ones too): 409
    return Response(status_code=204)


# --8<-- [end:users]


# --8<-- [start:posts]
@router.post("/posts", status_code=201, response_model=PostRead, tags=["posts"])
async def create_post(payload: PostCreate, session: SessionDep) -> Post:
    return await Post.objects.create(**payload.model_dump(), tags=[])


@router.get("/posts", response_model=KeysetPage[PostRead], tags=["posts"])
async def list_posts(
    filters: PostFilters,
    session: SessionDep,
    tag: TagName | None = None,
    after: str | None = None,
    size: PageSize = 20,
) -> Page[Post]:
    posts = Post.objects.filter(**filters).prefetch_related("tags")
    if tag is not None:
        posts = posts.filter(tags__name=tag)
    return await posts.order_by("-created_at", "-id").paginate(after=after, size=size)


@router.get("/posts/{post_id}", response_model=PostRead, tags=["posts"])
async def read_post(post_id: int, session: SessionDep) -> Post:
    return await Post.objects.prefetch_related("tags").get(id=post_id)  # deleted ones: 404


@router.patch("/posts/{post_id}", response_model=PostRead, tags=["posts"])
async def update_post(post_id: int, payload: PostUpdate, session: SessionDep) -> Post:
    post = await Post.objects.prefetch_related("tags").get(id=post_id)
    post.update_from(payload)
    await post.save()
    return post


@router.put("/posts/{post_id}/tags", response_model=PostRead, tags=["posts"])
async def set_tags(
    post_id: int, names: Annotated[list[TagName], Body()], session: SessionDep
) -> Post:
    post = await Post.objects.prefetch_related("tags").get(id=post_id)
    post.tags = [(await Tag.objects.get_or_create(name=name))[0] for name in dict.fromkeys(names)]
    await post.save()
    return post


@router.delete("/posts/{post_id}", status_code=204, tags=["posts"])
async def delete_post(post_id: int, session: SessionDep) -> Response:
    post = await Post.objects.get(id=post_id)
    await post.delete()  # soft delete: sets deleted_at; the post is hidden from now on
    return Response(status_code=204)


# --8<-- [end:posts]
