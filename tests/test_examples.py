"""Run every script in examples/ as its own process, on SQLite and on PostgreSQL.

Each example reads ``DATABASE_URL``, creates its own tables (none of them shares a name
with a table of the suite's models: the example resets its tables in the suite's database)
and must exit 0 and print what it did, which EXPECTED_LINES pins.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from orm_kit import Model
from tests.backends import BACKENDS, dialect_of

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.py"))
TIMEOUT = 60

# The lines each example must print, in this order, each a whole line of its output: the
# ones that carry results (counts, names, values), as its docs page shows them. The same on
# every backend ("{backend}" is the dialect name of the backend under test, db.dialect;
# "{system}" the backend's name, OpenTelemetry's db.system).
# Every example needs an entry.
EXPECTED_LINES: dict[str, list[str]] = {
    "audit": [
        "post_save:     ann created",
        "post_save:     ann updated",
        "audit:         ('1', 'insert', {'id': [None, 1], 'owner': [None, 'ann'], "
        "'balance': [None, 10]}, 'teller-7')",
        "audit:         ('1', 'update', {'balance': [10, 25]}, 'teller-7')",
        "audit:         (None, 'bulk_update', {'filter': ['owner'], 'values': {'balance': "
        "\"F('balance') + 5\"}}, 'teller-7')",
        "rolled back:   0 new audit rows",
        "pre_delete:    refused: cleo's wallet still holds money",
        "still there:   True",
    ],
    "errors": [
        "DoesNotExist:            Shipment matching query does not exist (filters: id).",
        "MultipleObjectsReturned: Supplier get() returned more than one row (filters: country).",
        "NotFoundError:           Supplier.DoesNotExist",
        "get_by -> None:          None",
        "unique:      kind=unique constraint=uq_supplier_email",
        "check:       kind=check constraint=ck_shipment_quantity_positive",
        "foreign key: kind=foreign_key",
        "not null:    kind=not_null",
        "message:     A NOT NULL constraint was violated: ...",
        "__cause__:   a DBAPIError: True",
        "InvalidLookupError: Supplier has no field 'emial'. Did you mean 'email'? Valid fields: "
        "country, email, id.",
        "InvalidLookupError: Unsupported lookup 'like' on Supplier.email (String) in "
        "'email__like'....",
        "ValidationError: Supplier has no field(s) rating. Valid fields: country, email, id.",
        "ValidationError: None is not a valid value for Supplier lookup 'country__gt'; use "
        "country__isnull=True.",
        "ValidationError: Supplier has no field(s) name. Valid fields: country, email, id.",
        "ValidationError: values_list(flat=True) needs exactly one field.",
        "ValidationError: Supplier.email expects a str, not int; pass a value of the column's "
        "type.",
        "ValidationError: '_sa_instance_state' is not a field of Supplier; valid fields: "
        "country, email, id.",
        "ValueError:      Negative slice bounds are not supported; use order_by('-field').",
        "DatabaseError:            cause is a DBAPIError: True",
        "ORMKitError catches:      Shipment.DoesNotExist",
    ],
    "fastapi_minimal": [
        "POST /contacts                     201 {'email': 'ann@x.io', 'created_by': 'u1'}",
        "POST /contacts                     201 {'email': 'bob@x.io', 'created_by': None}",
        "POST /contacts (same email)        409 {'detail': 'A unique constraint "
        "(uq_contact_email) was violated; nothing was saved. Change the conflicting values.', "
        "'error': 'ConflictError', 'constraint': 'uq_contact_email', 'kind': 'unique'}",
        "GET /contacts/99                   404 {'detail': 'Contact matching query does not "
        "exist (filters: id).', 'error': 'NotFoundError'}",
        "PATCH /contacts/2 (taken email)    409 {'error': 'ConflictError', 'constraint': "
        "'uq_contact_email'}",
        "POST /contacts/import              409 {'error': 'ConflictError'}",
        "contacts after the failed import   2",
        "PATCH /contacts/2                  200 {'email': 'bob@x.io', 'name': 'Bob', "
        "'updated_by': 'u2'}",
        "GET /contacts?email__icontains=ANN 200 ['ann@x.io', 'anna@y.io']",
        "GET /contacts?email__regex=.*      422 Filtering Contact by 'email__regex' is not "
        "allowed; allowed filters: email, email__icontains, name.",
        "GET /contacts?page=2&size=2        200 {'total': 3, 'page': 2, 'size': 2, 'pages': 2}",
        "GET /feed                          200 ['anna@y.io', 'bob@x.io'] next_cursor=<str>",
        "GET /feed?after=<next_cursor>      200 ['ann@x.io'] next_cursor=None",
        "GET /health/database               200 {'healthy': True, 'error': None}",
    ],
    "fixtures": [
        "dumped:   2 rows, child first: True",
        "loaded:   2 rows",
        "same:     True",
        "cycle:    2 rows, [('A', 2), ('B', 1)]",
        "refused:  field 'title' holds 7, which does not fit the column (expected a string, "
        "not int).",
    ],
    "lookups": [
        "contains 'Blue':     ['Blue Monday']",
        "icontains 'blue':    ['Blue Monday', 'blue in green']",
        "iexact 'so what':    ['So What']",
        "startswith 'So':     ['So What']",
        "iendswith 'GREEN':   ['blue in green']",
        "regex '^[A-Z]o':     ['So What']",
        "seconds__gt=400:     ['Blue Monday', 'So What']",
        "range(300, 450):     ['Blue Monday', 'blue in green']",
        "artist__in:          ['Blue Monday', 'Untitled']",
        "genre=None:          ['Untitled']",
        "genre__isnull=False: ['Blue Monday', 'blue in green', 'So What']",
        "released__year=1959: ['blue in green', 'So What']",
        "year__gte + month:   ['Blue Monday']",
        "JSON key path:       ['Blue Monday']",
        "JSON number key:     ['Blue Monday']",
        "JSON string key:     ['Untitled']",
        "in a QuerySet:       ['blue in green', 'So What']",
        "exclude(genre=jazz): ['Blue Monday', 'Untitled']",
        "filter(genre=F):     ['Blue Monday', 'blue in green', 'So What']",
        "exclude(genre=F):    ['Untitled']",
        "Q | Q:               ['Blue Monday', 'So What']",
        "Q & ~Q:              ['blue in green']",
        "Q and kwargs:        ['Blue Monday', 'blue in green']",
        "skips > plays:       ['So What', 'Untitled']",
        "F arithmetic:        ['Blue Monday', 'blue in green']",
        "after update(F+1):   [90, 41, 31, 2]",
        "custom ne:           ['Blue Monday', 'Untitled']",
        "transform length:    ['So What']",
        "InvalidLookupError:  Unsupported lookup 'containz' on Track.title (String) in "
        "'title__containz'. Did you mean 'contains'? Valid lookups: contains, endswith, exact, "
        "gt, gte, icontains, iendswith, iexact, in, iregex, isnull, istartswith, length, lt, "
        "lte, ne, range, regex, startswith.",
        "ValidationError:     Track.seconds expects an integer, not str; pass a value of the "
        "column's type.",
        "ValidationError:     Track.seconds expects an integer from -2147483648 to 2147483647 "
        "(Integer), not an int outside that range; pass a value of the column's type.",
        "ValidationError:     The 'in' lookup on Track.genre needs a list, tuple or set of "
        "values or a QuerySet, not str.",
        "ValidationError:     Track.released expects a date (not a datetime), not str; pass a "
        "value of the column's type.",
    ],
    "managers": [
        "objects.count():          4",
        "live.count():             2",
        "live, ordered:            ['Deep dive', 'Hello']",
        "live.get(title=...):      250 views",
        "live.filter(views<100):   1",
        "objects.published():      2",
        "objects.popular():        2",
        "published().popular(200): ['Hello']",
        "filter(...).published():  ['Deep dive']",
        "popular()...[:1]:         ['Old news']",
        "featured.published():     ['Hello']",
        "manager class:            ManagerFromArticleQuerySet",
        "from_queryset() is it:    True",
        "after filter():           ArticleQuerySet",
        "values_list(flat=True):   ['Deep dive', 'Hello']",
        "get_by:                   Hello",
        "get_all(skip=1, limit=2): ['Draft ideas', 'Deep dive']",
        "update_many:              1",
        "delete_many:              1",
        "instance access:          Manager objects isn't accessible via Article instances; use "
        "Article.objects.",
    ],
    "rules": [
        "visible:      ['plan']",
        "with_deleted: ['plan', 'draft']",
        "only_deleted: ['draft']",
        "restored:     1",
        "visible:      ['plan', 'draft']",
    ],
    "mixins": [
        "id:            a UUID version 7, made in Python",
        "created:       by user-42, in UTC: True",
        "updated:       by user-7, later than before: True",
        "seeded:        2 regions",
        "read-only:     Region is read-only: update() was refused before any SQL was sent. Wrap "
        "seeding code in `with allow_writes(Region):` if this is intended.",
        "soft delete:   is_deleted=True, deleted_at in UTC: True",
        "default:       1 visible",
        "with_deleted:  2 in the table",
        "only_deleted:  ['2026-001']",
        "all_objects:   2 in the table",
        "restored:      2 visible",
        "hard delete:   1 row gone, 1 in the table",
        "select_related: 1 purchase, its store is None",
        "lookup:        0 purchases at a live store named 'corner'",
        "unique:        conflict on uq_memo_subject",
        "reused:        new id True, 2 rows",
    ],
    "migrations": [
        "created:   'add releases' (head: True)",
        "unchanged: None",
        "current:   True",
        "history:   [X] add releases",
        "check:     pending=0 differences=[]",
        "rolled back to base: True",
    ],
    "models": [
        "Author        -> table 'author'",
        "Book          -> table 'book'",
        "ISBNRecord    -> table 'isbn_record'",
        "ShelfLocation -> table 'shelf_locations'",
        "constraint names: ['ck_book_pages_positive', 'fk_book_author_id_author', 'pk_book', "
        "'uq_book_title_edition', 'ix_isbn_record_isbn']",
        "repr:         Author(id=1, name='Ann', email='ann@example.com', born=None, "
        "is_active=True)",
        "pk:           1",
        "to_dict:      {'id': 1, 'name': 'Ann', 'email': 'ann@example.com'}",
        "after save:   ['Ann Smith']",
        "refreshed:    is_active=False",
        "book:         Book(id=1, author_id=2, edition=1, pages=320, title='Async Tales')",
        "update():     Author has no field(s) nickname. Valid fields: born, email, id, "
        "is_active, name.",
        "DoesNotExist: Author matching query does not exist (filters: email). "
        "(NotFoundError: True)",
        "deleted rows: 1",
        "books left:   0",
    ],
    "notebook": [
        "readings:  2",
        "average:   {'avg': 21.0}",
    ],
    "pagination": [
        "offset: page 2 of 3, 5 per page, 15 in all, has_next=True",
        "        items ['event 09', 'event 11', 'event 12', 'event 14', 'event 15']",
        "        last page 3: 5 items, has_next=False",
        "keyset: page 1: 8 items from (error, 23) to (error, 2), next_cursor=<str>",
        "keyset: page 2: 8 items from (info, 21) to (warning, 22), next_cursor=<str>",
        "keyset: page 3: 7 items from (warning, 19) to (warning, 1), next_cursor=None",
    ],
    "pydantic_schemas": [
        "names:     CourseCreate, CourseUpdate, CourseRead, CourseReadWithTrainer",
        "cached:    True",
        "create:    ['trainer_id', 'title', 'level', 'fee', 'notes']",
        "required:  ['trainer_id', 'title', 'fee']",
        "dump:      {'trainer_id': 1, 'title': 'SQL basics', 'fee': Decimal('120.50')}",
        "created:   'SQL basics' level=beginner fee=120.50",
        "rejected:  title: string_too_long",
        "rejected:  fee: decimal_max_digits",
        "rejected:  level: enum",
        "rejected:  created_at: extra_forbidden",
        "set:       ['level', 'notes']",
        "updated:   'SQL basics' level=expert fee=120.50",
        "response:  {'title': 'SQL basics', 'level': 'expert', 'fee': '120.50', "
        "'trainer': {'id': 1, 'name': 'Ada'}}",
        "not loaded: Course.trainer was not loaded",
        'to_dict:   {"id": 1, "trainer_id": 1, "title": "SQL basics", "level": "expert", '
        '"fee": "120.50", "notes": null}',
    ],
    "querying": [
        "bulk_create:   ids [1, 2, 3, 4, 5]",
        "SQL:           SELECT movie.id, movie.title, movie.genre, movie.year, movie.rating, "
        "movie.votes FROM movie WHERE movie.genre = ? AND movie.year >= ? ORDER BY movie.year "
        "DESC",
        "await:         ['Arrival', 'Alien']",
        "scifi count:   3",
        "exclude:       ['Alien', 'Arrival', 'Solaris', 'Up']",
        "slice [1:3]:   ['Arrival', 'Solaris']",
        "index [0]:     Alien",
        "distinct:      ['animation', 'crime', 'sci-fi']",
        "SQLAlchemy:    ['Alien', 'Up']",
        "get:           Movie(id=3, title='Heat', genre='crime', year=1995, rating=8.3, votes=650)",
        "first/last:    Alien / Solaris",
        "latest year:   Arrival",
        "earliest year: Solaris",
        "exists:        False",
        "in_bulk:       [1, 2]",
        "values:        [{'title': 'Solaris', 'year': 1972}, {'title': 'Alien', 'year': 1979}, "
        "{'title': 'Arrival', 'year': 2016}]",
        "values_list:   [('Alien', 1979), ('Arrival', 2016)]",
        "named:         Up has 1100 votes",
        "only:          Movie(id=1, title='Alien')",
        "aggregate:     {'id__count': 3, 'total': 1600, 'avg': 533.3333333333334, 'low': 1972, "
        "'high': 2016}",
        "annotate:      Up score=2200",
        "get_or_create: Heat created=False",
        "update_or_create: Dune created=True",
        "bulk_update:   5 rows",
        "update:        4 rows",
        "delete:        1 rows",
        "  1979 Alien    votes=911",
        "  1995 Heat     votes=651",
        "  2009 Up       votes=1101",
        "  2016 Arrival  votes=711",
        "  2021 Dune     votes=10",
        "none():        [] / 0",
    ],
    # What `make demo` shows a newcomer.
    "quickstart": [
        "Connected to {backend}",
        "Created 4 customers; Ann has id 1",
        "get:      Customer(id=2, name='Bob', email='bob@example.com', city='Berlin', orders=3)",
        "filter:   in Oslo ['Ann', 'Dan'], busy C* ['Cleo']",
        "top two:  [('Cleo', 7), ('Bob', 3)]",
        "update:   2 customers in Oslo got one more order",
        "Q:        ['Bob', 'Cleo']",
        "  Ann   city=Bergen  orders=1",
        "  Bob   city=Berlin  orders=3",
        "  Cleo  city=-       orders=7",
        "  Dan   city=Oslo    orders=1",
        "delete:   removed 1 customer without a city; 3 remain",
    ],
    "relationships": [
        "written:       3 stories, 3 remarks",
        "writer name:   ['Night Train', 'The Glass Road']",
        "icontains:     ['Salt and Ash']",
        "writer=obj:    ['Salt and Ash']",
        "writer=id:     ['Salt and Ash']",
        "writer__in:    ['Salt and Ash']",
        "one-to-many:   ['Ann', 'Bob'], count=2",
        "many-to-many:  ['Salt and Ash', 'The Glass Road']",
        "nested:        ['Ann']",
        "nested to-one: 2 remarks on Ann's stories",
        "isnull:        ['Cleo']",
        "one call:      []",
        "two calls:     ['Night Train']",
        "exclude:       ['Bob', 'Cleo']",
        "filter:        Story has no field 'author'. Valid fields: id, title, words, "
        "writer_id. Relationships: labels, remarks, writer.",
        "select_related: select_related() follows to-one relationships only; Story.labels is "
        "to-many. Use prefetch_related('labels').",
        "  Bob on 'The Glass Road' by Ann: Lovely ending",
        "  Ann on 'The Glass Road' by Ann: Thanks!",
        "  Ann on 'Salt and Ash' by Bob: Too short",
        "  The Glass Road  labels: fantasy, short  remarks by: Ann, Bob",
        "  Night Train     labels: mystery, short  remarks by: -",
        "  Salt and Ash    labels: fantasy         remarks by: Ann",
        "fetch_related: Ann: ['Night Train', 'The Glass Road']",
        "fetch_related: Cleo: []",
        "not loaded:    Story.writer was not loaded, and async code cannot load it on access. "
        "Load it with the query: .select_related('writer') (a JOIN) or "
        ".prefetch_related('writer'), or on the instance: await obj.fetch_related('writer').",
        "related:       The Glass Road is now labelled ['fantasy', 'mystery']",
        "order/values:  [('Ann', 'Night Train'), ('Ann', 'The Glass Road'), ('Bob', 'Salt and "
        "Ash')]",
        "annotate:      [('Ann', 2, 13000), ('Bob', 1, 2500), ('Cleo', 0, None)]",
        "filtered:      ['Ann']",
        "filter=:       [('Ann', 1), ('Bob', 0), ('Cleo', 0)]",
        "aggregate:     {'labels': 3}",
        "group by:      [('fantasy', 2), ('mystery', 1), ('short', 2)]",
        "fetch_related per story:  20 stories, 41 queries",
        "prefetch_related:         20 stories, 2 queries",
        "select_related:           20 stories, 1 query",
    ],
    "repository": [
        "create / create_many: 4 members",
        "get:                  Member(id=1, email='ann@example.com', name='Ann', plan='free', "
        "is_active=True)",
        "get (missing):        None",
        "get_or_raise:         Ann",
        "get_by:               Bob",
        "get_by_or_raise:      bob@example.com",
        "get_all(skip, limit): ['Bob', 'Cleo']",
        "filter(**lookups):    ['Ann', 'Dan']",
        "count / exists:       2 / False",
        "update(id, ...):      Ann Lee is on pro",
        "update (missing):     None",
        "update_many:          1 row(s)",
        "delete(id):           True, again: False",
        "delete_many:          1 row(s)",
        "execute(stmt):        [('pro', 1), ('team', 1)]",
        "autocommit repo:      ['Ann Lee', 'Cleo', 'Eve']",
        "paying():             ['Ann Lee', 'Cleo', 'Eve']",
        "deactivate():         True",
        "active members:       2",
    ],
    "repository_entities": [
        "sign_up:         PatronEntity(id=1, email='ann@example.com', name='Ann', plan='free')",
        "upgrade:         PatronEntity(id=1, email='ann@example.com', name='Ann', plan='pro')",
        "on_plan('free'): ['Bob']",
        "own factory:     Patron Cleo, plan free",
        "context manager: ['ann@example.com', 'bob@example.com']",
        "conflict:        rolled back (uq_patron_email)",
        "still there:     3 patrons",
        "plain session:   ['Ann', 'Cleo'] (soft-deleted rows hidden)",
        "plain session:   PatronPlan is read-only, flush refused",
    ],
    "scripts": [
        "items:        [('P1', 10), ('P2', 3)]",
        "count:        1",
        "committed:    [('P1', 6), ('P2', 3), ('P3', 7)]",
        "rolled back:  paper quantity=3",
        "savepoint:    unique on uq_stock_item_code; the ruler is kept",
        "codes:        ['P1', 'P2', 'P3', 'P4']",
        "not found:    DoesNotExist",
    ],
    "settings_env": [
        "app pool_size:       4",
        "reports pool_size:   2",
        "reports timeout:     600.0 s",
        "same url:            True",
        "keyword pool_size:   3",
        "info keys:           ['checked_out', 'connections', 'dialect', 'overflow', "
        "'pool_size', 'version']",
        "info pool_size:      3",
        "wrong value:         DATABASE_POOL_SIZE='abc' (pool_size=)",
    ],
    "observability": [
        "slow query log: WARNING orm_kit slow query",
        "called from:    this line: True",
        "values logged:  False",
        "span:           SELECT sprocket",
        "  db.system:    {system}",
        "  model:        Sprocket",
        "  values in it: False",
        "N+1 loop:       4 statements",
        "prefetch:       2 statements",
    ],
    "retries": [
        "booked seats:   [1, 2, 3]",
        "tickets sent:   3",
        "one per holder: ['ann', 'bob', 'cy']",
        "attempt loop:   committed on attempt 1",
        "async with:     `async with transaction(retries=3):` cannot retry",
    ],
    "time_zones": [
        "PK-1: 2026-03-01T07:00:00+00:00",
        "NY-1: 2026-03-01T08:00:00+00:00",
        "before 07:30 UTC: ['PK-1']",
        "naive value: ValidationError",
        "backend: {backend}",
    ],
    "sessions": [
        "autocommit:      ann detached=True, balance=100",
        "after save():    {'ann': 120}",
        "in session:      bob persistent=True, same session=True",
        "nested session:  reused=True",
        "committed:       {'ann': 120, 'bob': 50}",
        "rolled back:     {'ann': 120, 'bob': 50}",
        "transfer 20:     {'ann': 100, 'bob': 70}",
        "transfer 1000:   refused (check, ck_account_balance_not_negative); {'ann': 100, "
        "'bob': 70}",
        "savepoint:       rolled back to the savepoint; dan is kept, eve is not",
        "after savepoint: {'ann': 100, 'bob': 70, 'dan': 6}",
        "failed write:    conflict caught inside the session ...",
        "                 next statement raised DatabaseError; the unit of work was rolled back",
        "on_commit order:",
        "  - end of block (not yet committed)",
        "  - sync callback after commit",
        "  - async callback after commit",
        "  - outside a transaction: runs at once",
        "using(session):  fay exists=False",
        "transaction(s):  gus exists=True",
        "using(db):       4 accounts",
        "using('default'): 4 accounts",
        "get_session():   an AsyncSession: True, 5 accounts inside",
    ],
}


def run_example(path: Path, url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(EXAMPLES_DIR.parent)}
    env.pop("PYTHONSAFEPATH", None)
    return subprocess.run(
        [sys.executable, str(path)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def test_examples_are_found() -> None:
    assert EXAMPLES_DIR / "quickstart.py" in EXAMPLES


def test_every_example_has_expected_lines() -> None:
    """A new example says what it must print, so the suite checks it did what its page says."""
    assert sorted(EXPECTED_LINES) == [p.stem for p in EXAMPLES]


def missing_lines(expected: list[str], output: str) -> list[str]:
    """The ``expected`` lines that ``output`` lacks, as whole lines and in this order."""
    lines = [line.rstrip() for line in output.splitlines()]
    missing, at = [], 0
    for want in expected:
        try:
            at = lines.index(want, at) + 1
        except ValueError:
            missing.append(want)
    return missing


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs(example: Path, backend: str, backend_url: str, tmp_path: Path) -> None:
    dialect = dialect_of(backend)  # what the examples print (db.dialect): mysql on MariaDB
    expected = [
        line.replace("{backend}", dialect).replace("{system}", backend)
        for line in EXPECTED_LINES.get(example.stem, [])
    ]
    assert expected, f"give {example.name} its lines in EXPECTED_LINES"
    # Twice: every example resets its own tables, so a rerun must work as well.
    for attempt in (1, 2):
        proc = run_example(example, backend_url, tmp_path)
        assert proc.returncode == 0, (
            f"{example.name} on {backend} (run {attempt}) exited with {proc.returncode}\n"
            f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
        )
        missing = missing_lines(expected, proc.stdout)
        assert not missing, (
            f"{example.name} on {backend} (run {attempt}) did not print, in this order:\n"
            + "\n".join(missing)
            + f"\n--- stdout ---\n{proc.stdout}"
        )


def example_tables(example: Path) -> set[str]:
    """The tables ``example`` declares (imported in its own process, not run)."""
    script = (
        "import runpy, sys; from orm_kit import Model; before = set(Model.metadata.tables); "
        "runpy.run_path(sys.argv[1], run_name='example'); "
        "print(*sorted(set(Model.metadata.tables) - before))"
    )
    env = {**os.environ, "PYTHONPATH": str(EXAMPLES_DIR.parent)}
    proc = subprocess.run(
        [sys.executable, "-c", script, str(example)],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=True,
    )
    return set(proc.stdout.split())


def test_examples_have_tables_of_their_own() -> None:
    for path in sorted((EXAMPLES_DIR.parent / "tests").rglob("*.py")):
        # Every module that may declare models, as a full run imports them.
        if "typing" not in path.parts and path.name not in ("__init__.py", "conftest.py"):
            importlib.import_module(
                ".".join(path.relative_to(EXAMPLES_DIR.parent).with_suffix("").parts)
            )
    suite = set(Model.metadata.tables) - {"audit_log"}  # orm_kit's own AuditLog table
    declared = {example.stem: example_tables(example) for example in EXAMPLES}
    assert declared["quickstart"] == {"customer"}  # the probe sees an example's tables
    clashes = {name: sorted(tables & suite) for name, tables in declared.items() if tables & suite}
    assert not clashes, f"example tables that the suite's models also use: {clashes}"


DOCS_DIR = EXAMPLES_DIR.parent / "docs"
# A ```python block that includes an example, then (after blank lines) a ```text block.
SHOWN_OUTPUT = re.compile(
    r'```python\n--8<-- "(?P<example>\w+)\.py[^"]*"\n```\n\s*```text\n(?P<text>.*?)```', re.S
)


def test_output_shown_in_the_docs_is_checked() -> None:
    """What a page shows an example printing is among the lines the example must print."""
    shown = 0
    for page in sorted(DOCS_DIR.rglob("*.md")):
        for block in SHOWN_OUTPUT.finditer(page.read_text()):
            expected = EXPECTED_LINES[block["example"]]
            # A page shows one backend's output: "{backend}" stands for any of them.
            accepted = {
                line.replace("{backend}", dialect_of(b)).replace("{system}", b)
                for line in expected
                for b in BACKENDS
            }
            for line in block["text"].splitlines():
                assert line in accepted, f"{page.name} shows {line!r}, which no test checks"
                shown += 1
    assert shown > 20  # the pattern still finds the pages' output blocks


def test_quickstart_default_database(tmp_path: Path) -> None:
    """With no DATABASE_URL the quickstart uses ./orm_kit.db in the working directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    env["PYTHONPATH"] = str(EXAMPLES_DIR.parent)
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES_DIR / "quickstart.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Connected to sqlite" in proc.stdout
    assert (tmp_path / "orm_kit.db").exists()


def test_the_readme_snippet_runs(tmp_path: Path) -> None:
    """The README's code block, pasted into a file as a new user would, runs as shown."""
    readme = (EXAMPLES_DIR.parent / "README.md").read_text()
    snippet = readme.split("```python\n", 1)[1].split("```", 1)[0]
    script = tmp_path / "readme.py"
    script.write_text(snippet)
    proc = run_example(script, "sqlite+aiosqlite:///:memory:", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["Ann [] 1 2"]
