"""Testing support: a local Mixpanel-compatible server."""
