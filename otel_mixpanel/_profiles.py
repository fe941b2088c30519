"""Profile updates (``/engage``) gathered from ``mixpanel.people.*`` attributes.

One message per operation (``$set``, ``$set_once``, ``$add``, ``$append``,
``$union``, ``$remove``, ``$unset``) for the record's ``distinct_id``.
"""

from __future__ import annotations

from typing import Any, Callable

from ._property_values import INVALID, MAX_ITEMS

Clean = Callable[[Any], "tuple[Any, int]"]


class ProfileChanges:
    """The profile operations of one record, built attribute by attribute."""

    __slots__ = ("_clean", "operations")

    def __init__(self, clean: Clean) -> None:
        self._clean = clean
        self.operations: dict[str, Any] = {}

    def add(self, kind: tuple[Any, ...], value: Any) -> int:
        """Add one attribute of kind ``("people", op, name)`` or ``("unset",)``.

        Returns how many values were dropped: a ``$add`` of something that is
        not a finite number, an invalid value, or a property past the limit.
        """
        if kind[0] == "unset":
            return self._unset(value)
        _, operation, property_name = kind
        if operation == "$union" and not isinstance(value, (list, tuple)):
            value = [value]
        cleaned, lost = self._clean(value)
        if cleaned is INVALID:
            return lost
        if operation == "$add" and (
            isinstance(cleaned, bool) or not isinstance(cleaned, (int, float))
        ):
            return lost + 1
        changes = self.operations.setdefault(operation, {})
        if property_name not in changes and len(changes) >= MAX_ITEMS:
            return lost + 1
        changes[property_name] = cleaned
        return lost

    def messages(
        self, token: str, distinct_id: str, millis: int
    ) -> list[dict[str, Any]]:
        """One ``/engage`` message per operation."""
        return [
            {
                "$token": token,
                "$time": millis,
                "$distinct_id": distinct_id,
                operation: value,
            }
            for operation, value in self.operations.items()
        ]

    def _unset(self, value: Any) -> int:
        names, lost = self._clean([value] if isinstance(value, str) else value)
        if not isinstance(names, (list, tuple)):
            return lost + (0 if names is INVALID else 1)
        unset = self.operations.setdefault("$unset", [])
        for name in names:
            if not isinstance(name, str) or not name:
                lost += 1
            elif name not in unset:
                unset.append(name)
        if not unset:
            del self.operations["$unset"]
        return lost
