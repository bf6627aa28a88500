"""Sessions and transactions: autocommit, db.session(), transaction(), savepoints, on_commit."""

import asyncio

from sqlalchemy import CheckConstraint, String, inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import (
    ConflictError,
    Database,
    DatabaseError,
    F,
    Model,
    get_session,
    on_commit,
    transaction,
)


# --8<-- [start:model]
class Account(Model):
    __table_args__ = (CheckConstraint("balance >= 0", name="balance_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(50), unique=True)
    balance: Mapped[int] = mapped_column(default=0)


# --8<-- [end:model]


async def balances() -> dict[str, int]:
    rows = await Account.objects.order_by("owner").values_list("owner", "balance")
    return dict(rows)


class SimulatedError(Exception):
    pass


async def main() -> None:
    async with Database() as db:
        await db.reset()

        # --8<-- [start:autocommit]
        # Outside a session every manager call commits on its own.
        ann = await Account.objects.create(owner="ann", balance=100)
        print(f"autocommit:      ann detached={inspect(ann).detached}, balance={ann.balance}")
        ann.balance = 120
        await ann.save()  # re-attaches the instance in a short unit of work and commits
        print(f"after save():    {await balances()}")
        # --8<-- [end:autocommit]

        # --8<-- [start:session]
        async with db.session() as session:  # one unit of work: commit at the end
            bob = await Account.objects.create(owner="bob", balance=50)
            print(
                f"in session:      bob persistent={inspect(bob).persistent}, "
                f"same session={inspect(bob).async_session is session}"
            )
            async with db.session() as inner:  # nested: the outer session is reused
                print(f"nested session:  reused={inner is session}")
        print(f"committed:       {await balances()}")

        try:
            async with db.session():
                await Account.objects.create(owner="cat", balance=10)
                raise SimulatedError  # any exception rolls the whole unit of work back
        except SimulatedError:
            print(f"rolled back:     {await balances()}")
        # --8<-- [end:session]

        # --8<-- [start:transaction]
        async def transfer(src: str, dst: str, amount: int) -> None:
            async with transaction():  # joins the ambient session, else opens one
                sender = await Account.objects.select_for_update().get(owner=src)
                sender.balance -= amount  # a CHECK constraint forbids negative balances
                await sender.save()
                await Account.objects.filter(owner=dst).update(balance=F("balance") + amount)

        await transfer("ann", "bob", 20)
        print(f"transfer 20:     {await balances()}")
        try:
            await transfer("bob", "ann", 1000)
        except ConflictError as exc:
            print(f"transfer 1000:   refused ({exc.kind}, {exc.constraint}); {await balances()}")
        # --8<-- [end:transaction]

        # --8<-- [start:savepoint]
        async with transaction():  # outer transaction
            await Account.objects.create(owner="dan", balance=5)
            try:
                async with transaction():  # nested: a SAVEPOINT
                    await Account.objects.create(owner="eve", balance=5)
                    await Account.objects.create(owner="ann")  # duplicate owner
            except ConflictError:
                print("savepoint:       rolled back to the savepoint; dan is kept, eve is not")
            await Account.objects.filter(owner="dan").update(balance=F("balance") + 1)
        print(f"after savepoint: {await balances()}")
        # --8<-- [end:savepoint]

        # --8<-- [start:failed_write]
        try:
            async with db.session():
                try:
                    await Account.objects.create(owner="ann")  # fails: duplicate owner
                except ConflictError:
                    print("failed write:    conflict caught inside the session ...")
                await Account.objects.count()  # ... but the session must roll back first
        except DatabaseError as exc:
            print(
                f"                 next statement raised {type(exc).__name__}; "
                "the unit of work was rolled back"
            )
        # --8<-- [end:failed_write]

        # --8<-- [start:on_commit]
        events: list[str] = []

        async def notify() -> None:
            events.append("async callback after commit")

        async with transaction():
            await Account.objects.filter(owner="ann").update(balance=F("balance") + 1)
            on_commit(lambda: events.append("sync callback after commit"))
            on_commit(notify)
            try:
                async with transaction():
                    on_commit(lambda: events.append("never: its savepoint rolled back"))
                    raise SimulatedError
            except SimulatedError:
                pass
            events.append("end of block (not yet committed)")
        on_commit(lambda: events.append("outside a transaction: runs at once"))
        print("on_commit order:")
        for event in events:
            print(f"  - {event}")
        # --8<-- [end:on_commit]

        # --8<-- [start:using]
        # An explicit session: writes are flushed, commit / rollback stay with you.
        async with db.new_session() as session:
            await Account.objects.using(session).create(owner="fay", balance=1)
            await session.rollback()
        print(f"using(session):  fay exists={await Account.objects.filter(owner='fay').exists()}")

        # transaction(session) runs a block on your own session (commit, or SAVEPOINT if nested).
        async with db.new_session() as session, transaction(session):
            await Account.objects.using(session).create(owner="gus", balance=2)
        print(f"transaction(s):  gus exists={await Account.objects.filter(owner='gus').exists()}")

        # A Database, or a database name ("default" always names the default database).
        print(f"using(db):       {await Account.objects.using(db).count()} accounts")
        print(f"using('default'): {await Account.objects.using('default').count()} accounts")
        # --8<-- [end:using]

        # --8<-- [start:get_session]
        async with get_session() as session:  # a unit of work on the default database
            await Account.objects.create(owner="hal", balance=3)
            print(
                f"get_session():   an AsyncSession: {isinstance(session, AsyncSession)}, "
                f"{await Account.objects.count()} accounts inside"
            )
        # --8<-- [end:get_session]


if __name__ == "__main__":
    asyncio.run(main())
