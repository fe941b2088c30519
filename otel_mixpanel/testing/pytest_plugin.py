"""The pytest plugin of otel-mixpanel: fixtures running a local Mixpanel server.

Installed with the package (entry point ``pytest11: mixpanel``), so any test
can ask for them::

    def test_signup_is_tracked(mixpanel_server):
        mp = Mixpanel(mixpanel_server.token,
                      consumer=Consumer(api_host=mixpanel_server.url))
        mp.track("user-1", "Signed up")
        (event,) = mixpanel_server.wait_for_events(1)

    def test_exporter_reads_the_environment(mixpanel_env):
        # MIXPANEL_TOKEN and MIXPANEL_API_HOST point at the server,
        # every other MIXPANEL_* variable is unset for this test.
        ...

Both fixtures are function scoped and share one server per test; it is
stopped at teardown, releasing any paused or stalled request.
"""

from __future__ import annotations

import os
from typing import Iterator

import pytest

from ._server import MixpanelServer


@pytest.fixture
def mixpanel_server() -> Iterator[MixpanelServer]:
    """A started :class:`MixpanelServer` with default settings."""
    with MixpanelServer() as server:
        yield server


@pytest.fixture
def mixpanel_env(
    mixpanel_server: MixpanelServer, monkeypatch: pytest.MonkeyPatch
) -> MixpanelServer:
    """The ``mixpanel_server``, with MIXPANEL_TOKEN and MIXPANEL_API_HOST set to it.

    All other ``MIXPANEL_*`` environment variables are removed for the test.
    """
    for name in list(os.environ):
        if name.startswith("MIXPANEL_"):
            monkeypatch.delenv(name)
    if mixpanel_server.token is not None:
        monkeypatch.setenv("MIXPANEL_TOKEN", mixpanel_server.token)
    monkeypatch.setenv("MIXPANEL_API_HOST", mixpanel_server.url)
    return mixpanel_server
