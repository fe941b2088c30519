"""Where the time goes: a cProfile of the span export hot path.

Exports the benchmark's spans once under cProfile and returns markdown: own
time per part of the path (mapping, JSON, gzip, batching, HTTP) and the top
functions by cumulative time.
"""

from __future__ import annotations

import cProfile
import io
import pstats
from typing import Any, Dict, List, Optional, Tuple

from .servers import ServerProcess
from .workloads import batches, span_exporter

_TOP = 25
_TOP_OWN = 15

_JSON = "JSON encoding"
_DELIVERY = "batching and delivery"
_OTHER = "other (builtins such as len, dict.get, isinstance; stdlib)"
_DELIVERY_MODULES = frozenset(
    {
        "_buffered",
        "_consumer",
        "_endpoints",
        "_exporting",
        "_idempotency",
        "_loss",
        "_replies",
        "_request",
        "_retry",
    }
)
# (part of the path, substrings of a profile entry's file or function name)
_PARTS: List[Tuple[str, Tuple[str, ...]]] = [
    ("gzip / zlib", ("gzip", "zlib")),
    (_JSON, ("json",)),
    (
        "HTTP (requests, urllib3, sockets; includes waiting for the server)",
        ("requests", "urllib3", "http/client", "socket", "ssl", "selectors"),
    ),
    ("OpenTelemetry SDK objects", ("opentelemetry",)),
]


def profile_export(
    spans: List[Any], batch: int, mixpanel: ServerProcess
) -> Optional[str]:
    """Markdown describing the profile, or None without the span exporter."""
    exporter = span_exporter(mixpanel.url)
    if exporter is None:
        return None
    exporter.export(spans[:5])
    profiler = cProfile.Profile()
    profiler.enable()
    for chunk in batches(spans, batch):
        exporter.export(chunk)
    profiler.disable()
    exporter.shutdown()
    mixpanel.take()
    stats = pstats.Stats(profiler)
    return (
        f"cProfile of {len(spans):,} spans exported in batches of {batch} to"
        f" {_kind(mixpanel)} (profiling slows Python code, not the"
        " wait for the server).\n\n"
        + _parts_table(stats)
        + "\n"
        + _top_functions(stats, "cumulative", _TOP)
        + "\n"
        + _top_functions(stats, "tottime", _TOP_OWN)
    )


def _kind(server: ServerProcess) -> str:
    if server.kind == "mixpanel-sink":
        return "a Mixpanel sink that validates nothing"
    return "the validating local Mixpanel server"


def _parts_table(stats: pstats.Stats) -> str:
    entries: Dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    own: Dict[str, float] = {}
    total = 0.0
    for (filename, _, function), (_, _, own_time, _, _) in entries.items():
        total += own_time
        part = _part_of(filename, function)
        own[part] = own.get(part, 0.0) + own_time
    lines = [
        "| part of the export path | own time (s) | share |",
        "|---|---:|---:|",
    ]
    for part, seconds in sorted(own.items(), key=lambda item: -item[1]):
        lines.append(f"| {part} | {seconds:.3f} | {seconds / total:.0%} |")
    lines.append(f"| total (profiled) | {total:.3f} | 100% |")
    return "\n".join(lines) + "\n"


def _part_of(filename: str, function: str) -> str:
    if "otel_mixpanel/" in filename:
        module = filename.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        if module == "_serialization":
            return _JSON
        if module in _DELIVERY_MODULES:
            return _DELIVERY
        return "mapping (spans to messages)"
    location = f"{filename} {function}"
    for part, needles in _PARTS:
        if any(needle in location for needle in needles):
            return part
    return _OTHER


def _top_functions(stats: pstats.Stats, order: str, count: int) -> str:
    buffer = io.StringIO()
    stats.stream = buffer  # type: ignore[attr-defined]
    stats.sort_stats(order).print_stats(count)
    listing = buffer.getvalue()
    start = listing.find("   ncalls")
    body = listing[start:] if start >= 0 else listing
    cleaned = "\n".join(_shorten(line) for line in body.rstrip().splitlines())
    title = "cumulative time" if order == "cumulative" else "own time"
    return f"Top {count} functions by {title}:\n\n```\n{cleaned}\n```\n"


def _shorten(line: str) -> str:
    """Drop site-packages and checkout prefixes from file paths."""
    for marker in ("site-packages/", "/work/main/", "lib/python3."):
        index = line.find(marker)
        if index >= 0:
            prefix_start = line.rfind(" ", 0, index) + 1
            cut = index + len(marker)
            if marker == "lib/python3.":
                cut = line.find("/", cut) + 1
            line = line[:prefix_start] + line[cut:]
    return line
