"""The drop-in client: code for the official ``mixpanel`` package, one import changed.

``BackgroundConsumer`` makes every call return at once; delivery happens on a
worker thread, and what is still queued is delivered by ``close()`` (or at exit).
Run: ``MIXPANEL_TOKEN=... python -m examples.dropin_client``.
"""

from __future__ import annotations

import os

import otel_mixpanel as mixpanel  # was: import mixpanel


def main() -> None:
    """Track a sign-up, update the profile and the company's group profile."""
    # BackgroundConsumer reads MIXPANEL_API_HOST (and the other MIXPANEL_*
    # variables) from the environment; the token goes into each message.
    consumer = mixpanel.BackgroundConsumer()
    mp = mixpanel.Mixpanel(os.environ["MIXPANEL_TOKEN"], consumer=consumer)

    mp.track("user-42", "Signed up", {"plan": "team", "company": "acme"})
    mp.people_set("user-42", {"$email": "ada@example.com", "plan": "team"})
    mp.people_increment("user-42", {"logins": 1})
    mp.group_set("company", "acme", {"name": "Acme Corp", "seats": 12})
    mp.track("user-42", "Invited teammate", {"company": "acme", "invitees": 2})

    # Returns once everything queued is delivered, or after 10 seconds.
    consumer.close(timeout=10)
    print(f"sent; lost: {consumer.losses.snapshot() or 'nothing'}")


if __name__ == "__main__":
    main()
