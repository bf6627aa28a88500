"""Model signals: ``pre_save``, ``post_save``, ``pre_delete``, ``post_delete``.

Receivers are called as ``receiver(sender, instance=..., **extra)``; they may be plain or
``async`` functions and run in the order they were connected, in the task (and the
session or transaction) of the operation. An exception in a receiver propagates: in a
unit of work it rolls the work back.

When they fire:

* ``pre_save`` / ``post_save`` (``created=`` tells an insert from an update): around
  ``obj.save()`` and ``Model.objects.create()`` (also ``get_or_create`` /
  ``update_or_create`` when they create). ``pre_save`` receivers may still change the
  instance.
* ``pre_delete`` / ``post_delete``: around ``obj.delete()`` (a soft delete on
  ``SoftDeleteMixin`` models, with ``soft=True``) and ``obj.hard_delete()``.
* Set-based operations — ``QuerySet.update()``, ``QuerySet.delete()``, ``bulk_create``,
  ``bulk_update`` — do **not** fire them: they never load the instances (Django's
  ``QuerySet.delete()`` does fire per object; orm_kit's does not).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

__all__ = ["Signal", "post_delete", "post_save", "pre_delete", "pre_save", "receiver"]

Receiver = Callable[..., Any]


class Signal:
    """A named hook that model operations send to connected receivers."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._receivers: list[tuple[Receiver, type[Any] | None]] = []

    def __repr__(self) -> str:
        return f"<Signal {self.name}: {len(self._receivers)} receiver(s)>"

    def connect(self, receiver: Receiver, sender: type[Any] | None = None) -> Receiver:
        """Call ``receiver`` for ``sender`` (a model class and its subclasses), or for all."""
        if not callable(receiver):
            raise TypeError(f"{self.name}.connect() needs a callable, not {receiver!r}.")
        if (receiver, sender) not in self._receivers:
            self._receivers.append((receiver, sender))
        return receiver

    def disconnect(self, receiver: Receiver, sender: type[Any] | None = None) -> bool:
        """Stop calling ``receiver``; return whether it was connected."""
        try:
            self._receivers.remove((receiver, sender))
        except ValueError:
            return False
        return True

    def has_receivers(self, sender: type[Any]) -> bool:
        """Whether sending for ``sender`` would call anything (cheap; checked first)."""
        return any(s is None or issubclass(sender, s) for _, s in self._receivers)

    async def send(self, sender: type[Any], **kwargs: Any) -> None:
        """Call every receiver connected for ``sender``; await the async ones."""
        for receiver, wanted in list(self._receivers):
            if wanted is None or issubclass(sender, wanted):
                outcome = receiver(sender, **kwargs)
                if inspect.isawaitable(outcome):
                    await outcome


def receiver(signal: Signal, *, sender: type[Any] | None = None) -> Callable[[Receiver], Receiver]:
    """Decorator form of ``signal.connect(fn, sender=...)``."""

    def decorate(fn: Receiver) -> Receiver:
        return signal.connect(fn, sender)

    return decorate


pre_save = Signal("pre_save")
"""Before ``save()`` / ``create()`` writes; ``created=True`` for an insert."""
post_save = Signal("post_save")
"""After ``save()`` / ``create()`` wrote (flushed, in the same transaction)."""
pre_delete = Signal("pre_delete")
"""Before ``obj.delete()`` / ``obj.hard_delete()``; ``soft=True`` for a soft delete."""
post_delete = Signal("post_delete")
"""After ``obj.delete()`` / ``obj.hard_delete()`` ran."""
