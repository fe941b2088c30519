"""Benchmarks of otel-mixpanel against the official client and the OTLP exporter.

Run them with ``hatch run bench:run`` (or ``python -m bench.run``); see
``bench/run.py`` for the options and ``bench/RESULTS.md`` for the last results.
"""
