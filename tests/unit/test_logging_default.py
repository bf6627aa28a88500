"""With no logging configured (a plain `uvicorn app:app`), orm_kit's records reach stderr."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import asyncio
    from sqlalchemy import String
    from sqlalchemy.orm import Mapped, mapped_column
    from orm_kit import ConflictError, Database, Model

    class Member(Model):
        id: Mapped[int] = mapped_column(primary_key=True)
        email: Mapped[str] = mapped_column(String(50), unique=True)

    async def main():
        async with Database("sqlite+aiosqlite:///:memory:") as db:
            await db.create_all()
            await Member.objects.create(email="a@x.io")
            try:
                await Member.objects.create(email="a@x.io")
            except ConflictError:
                print("conflict")

    asyncio.run(main())
    """
)


def test_warnings_reach_stderr_without_any_logging_configuration() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "conflict"
    # The record vanished behind a NullHandler before.
    assert "orm_kit create on Member failed: ConflictError (uq_member_email)" in proc.stderr
