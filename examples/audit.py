"""The audit log and model signals: AuditLogMixin rows in the same transaction, and
pre_save / post_save / pre_delete / post_delete receivers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sqlalchemy import String, text
from sqlalchemy.orm import Mapped, mapped_column

from orm_kit import Database, F, Model, transaction
from orm_kit.mixins import AuditLogMixin, acting_as
from orm_kit.signals import post_save, pre_delete, receiver


# --8<-- [start:model]
class Wallet(Model, AuditLogMixin):  # every change lands in the audit_log table
    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(50))
    balance: Mapped[int] = mapped_column(default=0)


# --8<-- [end:model]


# --8<-- [start:signals]
@receiver(post_save, sender=Wallet)
async def announce(sender: type[Wallet], instance: Wallet, created: bool) -> None:
    print(f"post_save:     {instance.owner} {'created' if created else 'updated'}")


@receiver(pre_delete, sender=Wallet)
def refuse_rich(sender: type[Wallet], instance: Wallet, soft: bool) -> None:
    if instance.balance > 1000:
        raise PermissionError(f"{instance.owner}'s wallet still holds money")


# --8<-- [end:signals]


async def audit_rows(db: Database) -> list[tuple[Any, ...]]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT object_id, action, changes, actor FROM audit_log ORDER BY id")
        )
        return [
            (oid, action, json.loads(c) if isinstance(c, str) else c, actor)
            for oid, action, c, actor in rows
        ]


async def main() -> None:
    async with Database() as db:
        await db.reset()

        # --8<-- [start:committed]
        with acting_as("teller-7"):
            async with transaction():
                wallet = await Wallet.objects.create(owner="ann", balance=10)
                wallet.balance = 25
                await wallet.save()
            await Wallet.objects.filter(owner="ann").update(balance=F("balance") + 5)
        for row in await audit_rows(db):
            print(f"audit:         {row}")
        # --8<-- [end:committed]

        # --8<-- [start:rolled_back]
        before = len(await audit_rows(db))
        try:
            async with transaction():
                await Wallet.objects.create(owner="bob", balance=1)
                raise RuntimeError("the request failed")
        except RuntimeError:
            pass
        print(f"rolled back:   {len(await audit_rows(db)) - before} new audit rows")
        # --8<-- [end:rolled_back]

        # --8<-- [start:refused]
        rich = await Wallet.objects.create(owner="cleo", balance=5000)
        try:
            await rich.delete()
        except PermissionError as exc:
            print(f"pre_delete:    refused: {exc}")
        print(f"still there:   {await Wallet.objects.filter(owner='cleo').exists()}")
        # --8<-- [end:refused]


if __name__ == "__main__":
    asyncio.run(main())
