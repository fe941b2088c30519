"""The pytest plugin that provides the mixpanel_server fixture."""
