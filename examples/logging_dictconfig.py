"""The logging handler, configured from a ``dictConfig`` dictionary.

Every record reaching ``MixpanelHandler`` becomes an event named by its
unformatted message (or the ``mixpanel.event`` extra); ``extra`` keys become
properties and ``distinct_id`` sets the identity. Run:
``MIXPANEL_TOKEN=... python -m examples.logging_dictconfig``.
"""

from __future__ import annotations

import logging
import logging.config

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {
        # Settings come from MIXPANEL_TOKEN, MIXPANEL_API_HOST, ...; keywords
        # given here (e.g. "token": "...") win over the environment.
        "mixpanel": {"class": "otel_mixpanel.MixpanelHandler", "level": "INFO"},
        "console": {"class": "logging.StreamHandler", "level": "WARNING"},
    },
    "loggers": {
        "shop": {"handlers": ["mixpanel", "console"], "level": "INFO"},
    },
}


def main() -> None:
    """Configure logging, log three records, and shut logging down."""
    logging.config.dictConfig(LOGGING)
    log = logging.getLogger("shop")

    # One event name for every user: "User %s signed up".
    log.info("User %s signed up", "ada", extra={"distinct_id": "user-1", "plan": "pro"})
    log.info(
        "User %s signed up", "bob", extra={"distinct_id": "user-2", "plan": "free"}
    )
    # An explicit event name, a profile update and a group key.
    log.warning(
        "Card declined for order %s",
        "A-1002",
        extra={
            "mixpanel.event": "Payment failed",
            "distinct_id": "user-1",
            "reason": "expired card",
            "mixpanel.people.increment.failed_payments": 1,
            "mixpanel.group.company": "acme",
        },
    )

    logging.shutdown()  # closes the handler, which delivers what is queued


if __name__ == "__main__":
    main()
