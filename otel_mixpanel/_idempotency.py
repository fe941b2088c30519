"""Which messages may be sent again after a failure that left their fate unknown.

Events carry ``$insert_id``, so Mixpanel counts a resent event once. Profile
updates carry no such key: ``$add``, ``$append`` and ``$remove`` applied twice
change the profile twice, so they are never resent after a reply was lost.
"""

from __future__ import annotations

import json

#: Profile operations that change a profile again when applied twice.
NON_IDEMPOTENT_OPERATIONS = frozenset({"$add", "$append", "$remove"})

_PROFILE_ENDPOINTS = frozenset({"people", "groups"})


def safe_to_resend(endpoint: str, message: str) -> bool:
    """Tell whether ``message`` may be resent when a first send may have landed."""
    if endpoint not in _PROFILE_ENDPOINTS:
        return True
    try:
        update = json.loads(message)
    except ValueError:
        return True
    if not isinstance(update, dict):
        return True
    return NON_IDEMPOTENT_OPERATIONS.isdisjoint(update)
