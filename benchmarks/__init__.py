"""orm_kit benchmarks: workloads W1-W10 of PERFORMANCE.md against hand-written SQLAlchemy,
the peer ORMs (Tortoise, Piccolo, Django) and the raw driver (asyncpg, aiosqlite, asyncmy).

Run from the repository root (PostgreSQL from ``--url`` or ``ORM_KIT_BENCH_POSTGRES_URL``,
default ``postgresql+asyncpg://postgres@127.0.0.1:5432/test``)::

    python -m benchmarks.run                       # W1-W10, 3 interleaved rounds
    python -m benchmarks.run --scale 0.1 --rounds 1  # a quick smoke run
    python -m benchmarks.run --only W3,W5 --sqlite   # some workloads, SQLite leg too
    python -m benchmarks.run --mysql                 # MariaDB leg too (ORM_KIT_BENCH_MYSQL_URL)
    python -m benchmarks.profile W3 --impl orm_kit   # cProfile of 1,000 ops of one workload
    python -m benchmarks.check                       # make bench-check: orm_kit vs Core floors

Only the table ``bench_row`` is created and dropped; the test suite's tables are never
touched. Benchmarks are not part of the test suite.
"""
