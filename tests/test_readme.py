"""Every ```python block of README.md runs against the local server and delivers.

A block runs as a script in a subprocess with MIXPANEL_TOKEN and
MIXPANEL_API_HOST pointing at a MixpanelServer. An HTML comment on the line
before a block tells how (it does not show on the rendered page):

- ``<!-- test: events=2 people=1 groups=0 -->``: after the run the server holds
  exactly these counts (the names left out are not checked);
- ``<!-- test: pytest -->``: the block is a pytest file; it must pass;
- ``<!-- test: opentelemetry-instrument events=1 -->``: run it under
  ``opentelemetry-instrument`` with ``OTEL_TRACES_EXPORTER=mixpanel``;
- ``<!-- not-tested: why -->``: skipped (keep this rare).

A block without a comment only has to exit 0.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest

from otel_mixpanel.testing import MixpanelServer

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
#: Seconds one block may run.
TIMEOUT = 60

_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_MARKER = re.compile(r"<!--\s*(test|not-tested)\s*:?(.*?)-->\s*$")
_COUNT = re.compile(r"\b(events|people|groups)=(\d+)\b")
_INSTRUMENT = (
    "import sys; from opentelemetry.instrumentation.auto_instrumentation "
    "import run; sys.argv[0] = 'opentelemetry-instrument'; sys.exit(run())"
)


@dataclass
class Block:
    """One python block of the README and what its marker asks."""

    line: int
    code: str
    heading: str
    skip: Optional[str] = None
    pytest_file: bool = False
    instrument: bool = False
    counts: Optional[dict[str, int]] = None

    def __str__(self) -> str:
        words = re.sub(r"[^a-z0-9]+", "-", self.heading.lower()).strip("-")
        return f"line{self.line}-{words[:40]}"


def readme_blocks(text: str) -> list[Block]:
    """The README's python blocks, with their markers and nearest heading."""
    blocks = []
    for match in _FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").splitlines()
        headings = [line for line in before if line.startswith("#")]
        block = Block(
            line=len(before) + 2,
            code=match.group(1),
            heading=headings[-1].lstrip("# ") if headings else "top",
        )
        marker = _MARKER.search(before[-1]) if before else None
        if marker and marker.group(1) == "not-tested":
            block.skip = marker.group(2).strip() or "marked not-tested"
        elif marker:
            words = marker.group(2)
            block.pytest_file = "pytest" in words.split()
            block.instrument = "opentelemetry-instrument" in words.split()
            counts = {name: int(count) for name, count in _COUNT.findall(words)}
            block.counts = counts or None
        blocks.append(block)
    return blocks


BLOCKS = readme_blocks(README.read_text(encoding="utf-8"))


def test_readme_has_tested_blocks() -> None:
    """The README has python blocks, and nearly all of them are run."""
    assert len(BLOCKS) >= 5
    assert sum(block.skip is not None for block in BLOCKS) <= 2


@pytest.mark.parametrize("block", BLOCKS, ids=str)
def test_readme_block(block: Block, tmp_path: Path) -> None:
    """The block runs, exits 0 and the server receives what its marker says."""
    if block.skip is not None:
        pytest.skip(block.skip)
    if block.instrument:
        pytest.importorskip("opentelemetry.distro")
    with MixpanelServer() as server:
        _run_block(block, server, tmp_path)
        for name, expected in (block.counts or {}).items():
            received = _wait_for(server, name, expected)
            assert received == expected, f"{name}: {received} != {expected}"


def _run_block(block: Block, server: MixpanelServer, tmp_path: Path) -> None:
    script = tmp_path / ("test_block.py" if block.pytest_file else "block.py")
    script.write_text(block.code, encoding="utf-8")
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("MIXPANEL_", "OTEL_"))
    }
    env.update(MIXPANEL_TOKEN=str(server.token), MIXPANEL_API_HOST=server.url)
    if block.pytest_file:
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        command.append(str(script))
    elif block.instrument:
        env.update(
            OTEL_TRACES_EXPORTER="mixpanel",
            OTEL_METRICS_EXPORTER="none",
            OTEL_LOGS_EXPORTER="none",
        )
        command = [sys.executable, "-c", _INSTRUMENT, sys.executable, str(script)]
    else:
        command = [sys.executable, str(script)]
    process = subprocess.run(
        command,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert process.returncode == 0, (
        f"README block at line {block.line} failed:\n{process.stdout}{process.stderr}"
    )


def _wait_for(server: MixpanelServer, name: str, expected: int) -> int:
    """How many messages of kind ``name`` arrived, waiting for ``expected``."""
    count = {
        "events": lambda: len(server.events()),
        "people": lambda: len(server.people()),
        "groups": lambda: len(server.groups()),
    }[name]
    if expected:
        try:
            server.wait_for(lambda _: count() >= expected, timeout=5)
        except AssertionError:
            pass
    return count()
