"""The application under test: users with timestamps and audit fields, and secret tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import BackgroundTasks, Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel, ConfigDict
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import Model, Page
from orm_kit.context import current_actor, current_session
from orm_kit.contrib.fastapi import (
    KeysetPage,
    OffsetPage,
    SessionDep,
    actor_dependency,
    filter_params,
    health_router,
    install_exception_handlers,
    lifespan,
)
from orm_kit.contrib.fastapi.sessions import Lifespan
from orm_kit.mixins import AuditMixin, TimestampMixin


class ApiUser(Model, TimestampMixin, AuditMixin):
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(20), default="")
    karma: Mapped[int] = mapped_column(default=0)


class ApiToken(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    secret: Mapped[str] = mapped_column(String(100), unique=True)


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    name: str
    karma: int
    created_at: datetime
    created_by: str | None
    updated_by: str | None


class UserCreate(BaseModel):
    email: str
    name: str = ""
    karma: int = 0


class UserUpdate(BaseModel):
    email: str | None = None
    name: str | None = None


user_filters = filter_params(
    ApiUser,
    {
        "email": ["exact", "icontains"],
        "karma": ["gte", "lte", "in", "range"],
        "created_at": ["gte", "lte"],
        "name": ["isnull", "startswith"],
    },
)
Filters = Annotated[dict[str, Any], Depends(user_filters)]
current_user = actor_dependency(lambda request: request.headers.get("x-user"))
Actor = Annotated[str | None, Depends(current_user)]

# What background tasks saw, for the tests to read.
seen: dict[str, Any] = {}


def build_app(app_lifespan: Lifespan = lifespan) -> FastAPI:
    app = FastAPI(lifespan=app_lifespan, dependencies=[Depends(current_user)])
    install_exception_handlers(app)
    app.include_router(health_router)

    @app.post("/users", status_code=201, response_model=UserRead)
    async def create_user(payload: UserCreate, session: SessionDep) -> ApiUser:
        return await ApiUser.objects.create(**payload.model_dump())

    @app.post("/users/deferred", status_code=201)
    async def create_user_at_commit(payload: UserCreate, session: SessionDep) -> dict[str, str]:
        # Nothing is sent until the commit: a duplicate email is found only then.
        session.add(ApiUser(**payload.model_dump()))
        return {"email": payload.email}

    @app.post("/users/then-fail")
    async def create_then_fail(payload: UserCreate, session: SessionDep) -> None:
        await ApiUser.objects.create(**payload.model_dump())  # flushed, then rolled back
        raise HTTPException(400, "refused after writing")

    @app.get("/users/{user_id}", response_model=UserRead)
    async def read_user(user_id: int, session: SessionDep) -> ApiUser:
        return await ApiUser.objects.get(id=user_id)

    @app.patch("/users/{user_id}", response_model=UserRead)
    async def update_user(user_id: int, payload: UserUpdate, session: SessionDep) -> ApiUser:
        user = await ApiUser.objects.get(id=user_id)
        user.update(**payload.model_dump(exclude_unset=True))  # flushed by the commit
        return user

    @app.patch("/as/{user_id}", response_model=UserRead)
    async def update_user_actor_last(
        user_id: int, payload: UserUpdate, session: SessionDep, actor: Actor
    ) -> ApiUser:
        user = await ApiUser.objects.get(id=user_id)
        user.update(**payload.model_dump(exclude_unset=True))
        return user

    @app.get("/users", response_model=OffsetPage[UserRead])
    async def list_users(filters: Filters, page: int = 1, size: int = 2) -> Page[ApiUser]:
        return await ApiUser.objects.filter(**filters).order_by("id").paginate(page=page, size=size)

    @app.get("/feed", response_model=KeysetPage[UserRead])
    async def feed(after: str | None = None, size: int = 2) -> KeysetPage[UserRead]:
        page = await ApiUser.objects.order_by("-karma").paginate(after=after, size=size)
        return KeysetPage[UserRead].from_page(page)

    @app.get("/lookup/{field}")
    async def lookup(field: str, value: str) -> list[int]:
        return [u.id for u in await ApiUser.objects.filter(**{field: value})]

    @app.get("/any-user")
    async def any_user(session: SessionDep) -> int:
        return (await ApiUser.objects.get()).id  # MultipleObjectsReturned with two users

    @app.post("/tokens", status_code=201)
    async def create_token(request: Request, session: SessionDep) -> dict[str, int]:
        token = ApiToken(secret=(await request.json())["secret"])
        session.add(token)
        return {"ok": 1}

    @app.post("/users/with-task", status_code=201, response_model=UserRead)
    async def create_with_task(
        payload: UserCreate, session: SessionDep, tasks: BackgroundTasks
    ) -> ApiUser:
        seen["request_session"] = session

        async def follow_up() -> None:
            seen["task_session"] = current_session()
            seen["task_actor"] = current_actor()
            seen["request_session_active"] = session.in_transaction()
            seen["visible"] = await ApiUser.objects.filter(email=payload.email).exists()
            await ApiUser.objects.create(email=f"task-{payload.email}")
            if "done" in seen:
                seen["done"].set()

        tasks.add_task(follow_up)
        return await ApiUser.objects.create(**payload.model_dump())

    @app.get("/ambient")
    async def ambient(session: SessionDep) -> dict[str, bool]:
        return {"ambient": current_session() is session}

    @app.get("/no-session")
    async def no_session() -> dict[str, bool]:
        return {"ambient": current_session() is not None}

    return app
