"""Migrations over Alembic: the async functions behind ``orm-kit`` and its env template.

```python
await create_migration("add users")        # orm-kit makemigrations -m "add users"
await run_migrations()                     # orm-kit migrate
await rollback_migration(steps=1)          # orm-kit downgrade -1
history = await get_migration_history()    # orm-kit showmigrations
```
"""

from orm_kit.migrations.commands import (
    CheckResult,
    MigrationInfo,
    check_migrations,
    create_migration,
    current_revision,
    get_migration_history,
    init_migrations,
    migration_sql,
    rollback_migration,
    run_migrations,
)
from orm_kit.migrations.config import MigrationError, ProjectConfig, load_project_config
from orm_kit.migrations.environment import migration_options, render_item, run_environment

__all__ = [
    "CheckResult",
    "MigrationError",
    "MigrationInfo",
    "ProjectConfig",
    "check_migrations",
    "create_migration",
    "current_revision",
    "get_migration_history",
    "init_migrations",
    "load_project_config",
    "migration_options",
    "migration_sql",
    "render_item",
    "rollback_migration",
    "run_environment",
    "run_migrations",
]
