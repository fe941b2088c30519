"""The benchmark's table and ``bench/RESULTS.md``: rows, targets, the machine.

A row holds a measured value, an optional ratio and its target, and whether
the target is met (None when the row has no target or was not measured).
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import List, Optional, Sequence

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
NOT_AVAILABLE = "n/a (not available)"
_PACKAGES = (
    "otel-mixpanel",
    "mixpanel",
    "opentelemetry-sdk",
    "opentelemetry-exporter-otlp-proto-http",
    "requests",
    "urllib3",
    "orjson",
)


_HOW_TO_READ = """\
How to read it: a rate is items per wall-clock second, then items per CPU
second of the benchmark process alone (all its threads): the second number
is what the component costs the service it runs in. Wall-clock time includes
waiting for the server's reply; the local Mixpanel server parses and
validates every event in Python, the OTLP sink only reads the body, so the
wall-clock ratio against OTLP carries the Mixpanel server's own cost (see the
server CPU note). `--server sink` swaps the Mixpanel server for a sink that
only answers. "met on CPU" means the target holds on the CPU ratio only.
Latency rows time each call on the application thread; "held" counts queued
and buffered events (the batch being sent at that moment is not counted).
"""


@dataclass
class Row:
    """One line of the table."""

    section: str
    measurement: str
    value: str
    ratio: str = ""
    target: str = ""
    met: Optional[bool] = None
    cpu_met: Optional[bool] = None


def median(values: Sequence[float]) -> float:
    """The median of ``values`` (the runner's statistic for every number)."""
    return float(statistics.median(values))


def verdict(met: Optional[bool], cpu_met: Optional[bool] = None) -> str:
    """ "met" or "missed" on wall-clock time, and the CPU verdict when it differs."""
    if met is None:
        return ""
    text = "met" if met else "**missed**"
    if cpu_met is not None and cpu_met != met:
        text += "; met on CPU" if cpu_met else "; missed on CPU"
    return text


def table(rows: List[Row]) -> str:
    """The markdown table of all rows."""
    lines = [
        "| # | measurement | value | ratio | target | |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        cells = [
            row.section,
            row.measurement,
            row.value,
            row.ratio,
            row.target,
            verdict(row.met, row.cpu_met),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def machine() -> str:
    """CPU model, cores, memory, OS, Python and package versions, as markdown."""
    cpu = platform.processor() or "unknown"
    memory = ""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as meminfo:
            total_kb = int(meminfo.readline().split()[1])
            memory = f", {total_kb / 1024 / 1024:.0f} GiB memory"
    except OSError:
        pass
    versions = []
    for package in _PACKAGES:
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{package} (not installed)")
    return (
        f"- CPU: {cpu}, {os.cpu_count()} cores{memory}\n"
        f"- OS: {platform.system()} {platform.release()}\n"
        f"- Python: {sys.version.split()[0]} ({platform.python_implementation()})\n"
        f"- Packages: {', '.join(versions)}\n"
    )


def write_results(
    rows: List[Row],
    command: str,
    settings: str,
    notes: List[str],
    profile: Optional[str],
) -> str:
    """Render RESULTS.md, write it, and return its text."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "# Benchmark results\n",
        f"Produced by `{command}` on {stamp}. {settings}\n",
        "## Machine\n",
        machine(),
        "## Results\n",
        table(rows),
        _HOW_TO_READ,
    ]
    if notes:
        parts += ["## Notes\n", "\n".join(f"- {note}" for note in notes) + "\n"]
    parts.append("## Where the time goes\n")
    parts.append(profile or _earlier_profile())
    text = "\n".join(parts)
    RESULTS.write_text(text)
    return text


def _earlier_profile() -> str:
    """Keep the profile of an earlier ``--profile`` run, marked as such."""
    marker = "## Where the time goes\n"
    earlier = RESULTS.read_text() if RESULTS.exists() else ""
    if marker in earlier:
        section = earlier.split(marker, 1)[1].strip()
        if section and not section.startswith("Run with"):
            if not section.startswith("(From an earlier"):
                section = "(From an earlier `--profile` run.)\n\n" + section
            return section + "\n"
    return "Run with `--profile` to record a profile here.\n"
