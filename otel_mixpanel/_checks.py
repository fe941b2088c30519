"""Checks of the direct client's arguments, each raising a clear error.

The reference client sends whatever it is given; these refuse, at the call,
what Mixpanel would reject or what would make a message that cannot be sent.
"""

from __future__ import annotations

import decimal
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

from ._errors import MixpanelException


def check_id(name: str, value: object) -> None:
    if type(value) is not str and (
        isinstance(value, bool) or not isinstance(value, int)
    ):
        raise MixpanelException(
            f"{name} must be a str or an int, not {type(value).__name__}"
        )


def check_event_name(event_name: object) -> None:
    if not isinstance(event_name, str) or not event_name or event_name.isspace():
        raise MixpanelException("event_name must be a non-empty str")


def check_mapping(name: str, value: object) -> None:
    """Refuse a value that should be a mapping (or None) but is not."""
    if value is not None and not isinstance(value, (dict, Mapping)):
        raise MixpanelException(f"{name} must be a mapping, not {type(value).__name__}")


def profile_properties(properties: Mapping[str, Any]) -> Mapping[str, Any]:
    """Return profile properties, refusing anything but a mapping."""
    if not isinstance(properties, (dict, Mapping)):
        raise MixpanelException(
            f"properties must be a mapping, not {type(properties).__name__}"
        )
    return properties


def property_names(names: Sequence[str]) -> Sequence[str]:
    """Return property names to unset, refusing anything but a list or tuple."""
    if not isinstance(names, (list, tuple)):
        raise MixpanelException(
            f"properties must be a list of property names, not {type(names).__name__}"
        )
    return names


def check_number(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(
        value, (numbers.Real, decimal.Decimal)
    ):
        raise MixpanelException(f"{name} must be a number, not {type(value).__name__}")
