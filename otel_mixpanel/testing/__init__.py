"""Testing support: a local Mixpanel-compatible ingestion server.

``MixpanelServer`` listens on 127.0.0.1, validates like Mixpanel's API and
records what it accepts. pytest users get the ``mixpanel_server`` and
``mixpanel_env`` fixtures automatically (see ``pytest_plugin``).
"""

from __future__ import annotations

from ._server import MixpanelServer
from ._store import RecordedRequest

__all__ = ["MixpanelServer", "RecordedRequest"]
