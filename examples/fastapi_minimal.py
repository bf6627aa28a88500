"""FastAPI: the lifespan, the request's session (committed before the response), error
responses, the acting user, an allow-listed filter, page responses and the health route.

The app runs in-process: httpx sends it requests through ASGITransport and the responses are
printed. Serve the same `app` with `uvicorn fastapi_minimal:app`.
"""

import asyncio
from typing import Annotated, Any

import httpx
from asgi_lifespan import LifespanManager
from fastapi import Depends, FastAPI
from pydantic import BaseModel, ConfigDict
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import Model, Page, get_database
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
from orm_kit.mixins import AuditMixin, TimestampMixin


# --8<-- [start:model]
class Contact(Model, TimestampMixin, AuditMixin):
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(50), default="")


class ContactRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    name: str
    created_by: str | None
    updated_by: str | None


class ContactCreate(BaseModel):
    email: str
    name: str = ""


class ContactUpdate(BaseModel):
    email: str | None = None
    name: str | None = None


# --8<-- [end:model]


# --8<-- [start:app]
current_user = actor_dependency(lambda request: request.headers.get("x-user"))

app = FastAPI(lifespan=lifespan, dependencies=[Depends(current_user)])
install_exception_handlers(app)  # 404 / 409 / 422 / 503 as JSON
app.include_router(health_router)  # GET /health/database


@app.post("/contacts", status_code=201, response_model=ContactRead)
async def create_contact(payload: ContactCreate, session: SessionDep) -> Contact:
    return await Contact.objects.create(**payload.model_dump())


@app.get("/contacts/{contact_id}", response_model=ContactRead)
async def read_contact(contact_id: int, session: SessionDep) -> Contact:
    return await Contact.objects.get(id=contact_id)  # DoesNotExist -> 404


@app.patch("/contacts/{contact_id}", response_model=ContactRead)
async def update_contact(contact_id: int, payload: ContactUpdate, session: SessionDep) -> Contact:
    contact = await Contact.objects.get(id=contact_id)
    contact.update(**payload.model_dump(exclude_unset=True))
    await contact.save()  # flushed now, so the response shows updated_by
    return contact


@app.post("/contacts/import", status_code=201)
async def import_contacts(payload: list[ContactCreate], session: SessionDep) -> dict[str, int]:
    session.add_all(Contact(**item.model_dump()) for item in payload)
    return {"imported": len(payload)}  # the INSERTs run at the commit, after this returns


# --8<-- [end:app]


# --8<-- [start:lists]
contact_filters = filter_params(Contact, {"email": ["exact", "icontains"], "name": ["exact"]})
ContactFilters = Annotated[dict[str, Any], Depends(contact_filters)]


@app.get("/contacts", response_model=OffsetPage[ContactRead])
async def list_contacts(filters: ContactFilters, page: int = 1, size: int = 2) -> Page[Contact]:
    return await Contact.objects.filter(**filters).order_by("id").paginate(page=page, size=size)


@app.get("/feed", response_model=KeysetPage[ContactRead])
async def feed(after: str | None = None, size: int = 2) -> KeysetPage[ContactRead]:
    page = await Contact.objects.order_by("-id").paginate(after=after, size=size)
    return KeysetPage[ContactRead].from_page(page)


# --8<-- [end:lists]


def show(label: str, response: httpx.Response, *keys: str) -> None:
    body = response.json()
    shown = {k: body[k] for k in keys} if keys else body
    print(f"{label:<34} {response.status_code} {shown}")


async def main() -> None:
    async with (
        LifespanManager(app) as manager,  # runs the lifespan: connects DATABASE_URL
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://example"
        ) as client,
    ):
        await get_database().reset()
        # --8<-- [start:requests]
        ann = await client.post("/contacts", json={"email": "ann@x.io"}, headers={"x-user": "u1"})
        show("POST /contacts", ann, "email", "created_by")
        bob = await client.post("/contacts", json={"email": "bob@x.io"})
        show("POST /contacts", bob, "email", "created_by")
        again = await client.post("/contacts", json={"email": "ann@x.io"})
        show("POST /contacts (same email)", again)
        show("GET /contacts/99", await client.get("/contacts/99"))
        bob_id = bob.json()["id"]
        taken = await client.patch(f"/contacts/{bob_id}", json={"email": "ann@x.io"})
        show("PATCH /contacts/2 (taken email)", taken, "error", "constraint")
        # The duplicate is found by the commit, after the endpoint returned: 409, not 201.
        batch = [{"email": "cy@x.io"}, {"email": "bob@x.io"}]
        show("POST /contacts/import", await client.post("/contacts/import", json=batch), "error")
        count = await Contact.objects.count()
        print(f"{'contacts after the failed import':<34} {count}")
        renamed = await client.patch(
            f"/contacts/{bob_id}", json={"name": "Bob"}, headers={"x-user": "u2"}
        )
        show("PATCH /contacts/2", renamed, "email", "name", "updated_by")
        # --8<-- [end:requests]

        # --8<-- [start:list_requests]
        await client.post("/contacts", json={"email": "anna@y.io"})
        found = await client.get("/contacts", params={"email__icontains": "ANN"})
        print(f"{'GET /contacts?email__icontains=ANN':<34} {found.status_code}", end=" ")
        print([c["email"] for c in found.json()["items"]])
        refused = await client.get("/contacts", params={"email__regex": ".*"})
        print(f"{'GET /contacts?email__regex=.*':<34} {refused.status_code}", end=" ")
        print(refused.json()["detail"][0]["msg"])
        page = await client.get("/contacts", params={"page": 2, "size": 2})
        show("GET /contacts?page=2&size=2", page, "total", "page", "size", "pages")
        first = (await client.get("/feed")).json()
        second = (await client.get("/feed", params={"after": first["next_cursor"]})).json()
        print(f"{'GET /feed':<34} 200 {[c['email'] for c in first['items']]} next_cursor=<str>")
        print(
            f"{'GET /feed?after=<next_cursor>':<34} 200 {[c['email'] for c in second['items']]} "
            f"next_cursor={second['next_cursor']}"
        )
        health = await client.get("/health/database")
        show("GET /health/database", health, "healthy", "error")
        # --8<-- [end:list_requests]


if __name__ == "__main__":
    asyncio.run(main())
