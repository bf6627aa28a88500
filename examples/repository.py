"""Repository: explicit-session CRUD with the method names of existing codebases."""

# --8<-- [start:model]
import asyncio

from sqlalchemy import String, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import Database, Model, Repository


class Member(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    plan: Mapped[str] = mapped_column(String(20), default="free")
    is_active: Mapped[bool] = mapped_column(default=True)


# --8<-- [end:model]


# --8<-- [start:subclass]
class MemberRepository(Repository[Member]):
    """Domain queries live next to the generic CRUD methods."""

    def __init__(self, session: AsyncSession | None = None) -> None:
        super().__init__(Member, session)

    async def paying(self) -> list[Member]:
        return await self.query.exclude(plan="free").order_by("email")

    async def deactivate(self, email: str) -> bool:
        return await self.update_many(filters={"email": email}, is_active=False) > 0


# --8<-- [end:subclass]


async def main() -> None:
    async with Database() as db:
        await db.reset()

        # --8<-- [start:crud]
        async with db.session() as session:  # the repository flushes; the session commits
            members = Repository(Member, session)
            ann = await members.create(email="ann@example.com", name="Ann")
            await members.create_many(
                [
                    {"email": "bob@example.com", "name": "Bob", "plan": "pro"},
                    {"email": "cleo@example.com", "name": "Cleo", "plan": "team"},
                    {"email": "dan@example.com", "name": "Dan"},
                ]
            )
            print(f"create / create_many: {await members.count()} members")

            print(f"get:                  {await members.get(ann.id)}")
            print(f"get (missing):        {await members.get(999)}")
            print(f"get_or_raise:         {(await members.get_or_raise(ann.id)).name}")
            print(f"get_by:               {(await members.get_by(email='bob@example.com')).name}")
            bob = await members.get_by_or_raise(name="Bob")
            print(f"get_by_or_raise:      {bob.email}")
            print(
                f"get_all(skip, limit): {[m.name for m in await members.get_all(skip=1, limit=2)]}"
            )
            free = await members.filter(plan="free", skip=0, limit=10)
            print(f"filter(**lookups):    {[m.name for m in free]}")
            print(
                f"count / exists:       {await members.count(plan='free')} / "
                f"{await members.exists(plan='enterprise')}"
            )

            updated = await members.update(ann.id, plan="pro", name="Ann Lee")
            print(f"update(id, ...):      {updated.name} is on {updated.plan}")
            print(f"update (missing):     {await members.update(999, plan='pro')}")
            n = await members.update_many(filters={"plan": "free"}, plan="trial")
            print(f"update_many:          {n} row(s)")
            print(
                f"delete(id):           {await members.delete(bob.id)}, "
                f"again: {await members.delete(bob.id)}"
            )
            print(f"delete_many:          {await members.delete_many(plan='trial')} row(s)")

            result = await members.execute(select(Member.plan, func.count()).group_by(Member.plan))
            print(f"execute(stmt):        {sorted(result.all())}")
        # --8<-- [end:crud]

        # --8<-- [start:no_session]
        members = Repository(Member)  # no session: each call commits on its own
        await members.create(email="eve@example.com", name="Eve", plan="pro")
        print(f"autocommit repo:      {[m.name for m in await members.get_all()]}")
        # --8<-- [end:no_session]

        # --8<-- [start:use_subclass]
        async with db.session() as session:
            repo = MemberRepository(session)
            print(f"paying():             {[m.name for m in await repo.paying()]}")
            print(f"deactivate():         {await repo.deactivate('eve@example.com')}")
        print(f"active members:       {await Member.objects.filter(is_active=True).count()}")
        # --8<-- [end:use_subclass]


if __name__ == "__main__":
    asyncio.run(main())
