"""Running a script under opentelemetry-instrument against the local server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from otel_mixpanel.testing import MixpanelServer

SCRIPTS = Path(__file__).parent / "scripts"
INSTRUMENT = Path(sys.executable).parent / "opentelemetry-instrument"


def run_instrumented(
    server: MixpanelServer, script: str, *arguments: str, **variables: str
) -> None:
    """Run ``scripts/<script>`` under opentelemetry-instrument; fail on an error.

    The environment keeps none of the caller's ``MIXPANEL_*`` and ``OTEL_*``
    variables: only ``variables`` and the server's token and URL are set.
    """
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("MIXPANEL_", "OTEL_"))
    }
    environment.update(
        {
            "OTEL_METRICS_EXPORTER": "none",
            "MIXPANEL_TOKEN": server.token or "",
            "MIXPANEL_API_HOST": server.url,
            **variables,
        }
    )
    completed = subprocess.run(
        [str(INSTRUMENT), sys.executable, str(SCRIPTS / script), *arguments],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
