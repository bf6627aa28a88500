"""The same script's calls made from inside a running event loop, as a Jupyter cell makes
them (where ``asyncio.run`` would be refused): run as its own process by
tests/integration/test_sync_scripts.py."""

from __future__ import annotations

import asyncio

from orm_kit import sync
from tests.integration.sync_scripts.sync_script import main


async def cell() -> None:
    asyncio.get_running_loop()  # a loop is running here, as in a notebook
    main()
    sync.close()


if __name__ == "__main__":
    asyncio.run(cell())
