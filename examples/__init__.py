"""Short, runnable programs showing otel-mixpanel in use.

Each one reads ``MIXPANEL_TOKEN`` (and ``MIXPANEL_API_HOST``) from the
environment; ``tests/test_examples.py`` runs them all against the local server.
"""
