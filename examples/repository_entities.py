"""Repositories over a session factory that return pydantic entities (a service layer that
never touches ORM objects), and sessions orm_kit did not make."""

# --8<-- [start:model]
import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import String, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import ConflictError, Database, Model, ReadOnlyError, Repository
from orm_kit.mixins import ReadOnlyMixin, SoftDeleteMixin


class Patron(Model, SoftDeleteMixin):
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    plan: Mapped[str] = mapped_column(String(20), default="free")


class PatronPlan(Model, ReadOnlyMixin):
    code: Mapped[str] = mapped_column(String(20), primary_key=True)


# --8<-- [end:model]


# --8<-- [start:entities]
class PatronEntity(BaseModel):
    """The domain's view of a patron: what the service layer sees."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: int
    email: str
    name: str
    plan: str


class PatronCreate(BaseModel):
    email: str
    name: str
    plan: str = "free"


class PatronUpdate(BaseModel):
    name: str | None = None
    plan: str | None = None


# --8<-- [end:entities]


# --8<-- [start:repository]
class PatronRepository(Repository[Patron, PatronEntity]):
    """Takes a session factory, as a dependency-injection container provides it."""

    def __init__(self, session_factory: Callable[[], Any]) -> None:
        super().__init__(Patron, session_factory, schema=PatronEntity)

    async def on_plan(self, plan: str) -> list[PatronEntity]:
        return await self.filter(plan=plan)


class PatronService:
    """Business rules on entities only: no session, no ORM object in sight."""

    def __init__(self, patrons: PatronRepository) -> None:
        self.patrons = patrons

    async def sign_up(self, payload: PatronCreate) -> PatronEntity:
        return await self.patrons.create(payload)

    async def upgrade(self, patron_id: int) -> PatronEntity | None:
        return await self.patrons.update(patron_id, PatronUpdate(plan="pro"))


# --8<-- [end:repository]


async def main() -> None:
    async with Database() as db:
        await db.reset()

        # --8<-- [start:service]
        service = PatronService(PatronRepository(db.sessionmaker))
        ann = await service.sign_up(PatronCreate(email="ann@example.com", name="Ann"))
        print(f"sign_up:         {ann!r}")
        await service.sign_up(PatronCreate(email="bob@example.com", name="Bob"))
        upgraded = await service.upgrade(ann.id)
        print(f"upgrade:         {upgraded!r}")
        print(f"on_plan('free'): {[p.name for p in await service.patrons.on_plan('free')]}")
        # --8<-- [end:service]

        # --8<-- [start:factories]
        # The user's own sessionmaker, even with expire_on_commit=True: each call commits
        # and closes its session, and hands back loaded, detached instances.
        expiring = async_sessionmaker(db.engine, expire_on_commit=True)
        patrons = Repository(Patron, expiring)
        cleo = await patrons.create(email="cleo@example.com", name="Cleo")
        print(f"own factory:     {type(cleo).__name__} {cleo.name}, plan {cleo.plan}")

        @asynccontextmanager
        async def get_db_session() -> AsyncIterator[AsyncSession]:
            async with expiring() as session:
                yield session

        entities = Repository(Patron, get_db_session, schema=PatronEntity)
        print(f"context manager: {[p.email for p in await entities.get_all(limit=2)]}")
        try:
            await entities.create(PatronCreate(email="ann@example.com", name="Ann again"))
        except ConflictError as exc:
            print(f"conflict:        rolled back ({exc.constraint})")
        print(f"still there:     {await entities.count()} patrons")
        # --8<-- [end:factories]

        # --8<-- [start:foreign]
        await Patron.objects.filter(email="bob@example.com").delete()  # a soft delete
        async with async_sessionmaker(db.engine)() as session:  # not made by orm_kit
            names = (await session.scalars(select(Patron.name).order_by(Patron.id))).all()
            print(f"plain session:   {list(names)} (soft-deleted rows hidden)")
            session.add(PatronPlan(code="gold"))
            try:
                await session.flush()
            except ReadOnlyError:
                print("plain session:   PatronPlan is read-only, flush refused")
        # --8<-- [end:foreign]


if __name__ == "__main__":
    asyncio.run(main())
