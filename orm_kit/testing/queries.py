"""Counting the statements a block of code runs: ``count_queries`` and
``assert_num_queries``, for N+1 checks in tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from orm_kit.exceptions import ValidationError
from orm_kit.observability import QueryCount, count_statements

__all__ = ["QueryCount", "assert_num_queries", "count_queries"]


@contextmanager
def count_queries() -> Iterator[QueryCount]:
    """Collect the statements orm_kit's engines run inside the block.

    Counts what this task runs, and the tasks it starts inside the block, on every engine a
    ``Database`` built; BEGIN, COMMIT, ROLLBACK and SAVEPOINT statements are left out (they
    differ between backends and under ``orm_session``). The statements are the SQL with its
    placeholders, without the bound values.

    Yields:
        A ``QueryCount``: ``len(counted)`` / ``counted.count`` and ``counted.statements``,
        filled in as statements run.

    Example:
        ```python
        with count_queries() as counted:
            posts = await Post.objects.prefetch_related("tags")
        assert counted.count == 2
        ```
    """
    with count_statements() as counter:
        yield counter


@contextmanager
def assert_num_queries(expected: int) -> Iterator[QueryCount]:
    """Fail unless the block runs exactly ``expected`` statements (see ``count_queries``).

    Raises:
        AssertionError: Another number of statements ran; the message lists them.
        ValidationError: ``expected`` is not an int >= 0.

    Example:
        ```python
        with assert_num_queries(2):     # one for the posts, one for all their tags
            for post in await Post.objects.prefetch_related("tags"):
                print(post.title, [tag.name for tag in post.tags])
        ```
    """
    if isinstance(expected, bool) or not isinstance(expected, int) or expected < 0:
        raise ValidationError(
            f"assert_num_queries({expected!r}): pass the number of statements the block "
            "must run, an int >= 0."
        )
    with count_statements() as counter:
        yield counter
    if counter.count != expected:
        listed = "\n".join(f"  {i}. {sql}" for i, sql in enumerate(counter.statements, 1))
        raise AssertionError(
            f"Expected {expected} {'query' if expected == 1 else 'queries'}, "
            f"{counter.count} ran:\n{listed or '  (none)'}"
        )
