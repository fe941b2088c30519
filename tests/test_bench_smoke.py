"""Smoke test of the benchmark runner on a tiny workload, so that it does not rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_run_prints_the_table() -> None:
    """`python -m bench.run --quick --no-write` exits 0 and prints every section."""
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.run",
            "--quick",
            "--no-write",
            "--outage-seconds",
            "0.5",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr[-2000:]
    output = completed.stdout
    assert "| # | measurement | value | ratio | target | |" in output
    for measurement in (
        "span export, OTLP/HTTP exporter",
        "span export, MixpanelSpanExporter",
        "track, our BufferedConsumer(2000)",
        "our export time / floor",
        "logger.info, MixpanelHandler",
        "track, BackgroundConsumer",
        "our BufferedConsumer(2000), gzip",
        "outage memory, BackgroundConsumer",
    ):
        assert measurement in output
    assert "failed:" not in output
    assert "not comparable" not in output
