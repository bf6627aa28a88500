"""Alembic environment of this project, written by `orm-kit init`.

orm_kit runs the migrations: on an async engine, in SQLite batch mode, comparing column
types and server defaults, with the models' naming convention. Add Alembic
`context.configure()` options as keyword arguments, e.g. `include_object=...`.
"""

from alembic import context
from orm_kit.migrations.environment import run_environment

run_environment(context)
