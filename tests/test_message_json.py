"""Encoding of mapped messages: orjson when installed, the standard library else."""

from __future__ import annotations

import json

import pytest

from otel_mixpanel import _message_json

MESSAGES = [
    {"event": "Signed up", "properties": {"token": "t", "time": 1, "n": 2.5}},
    {"event": "Ünïcode ✓", "properties": {"tags": ["a", "b"], "ok": True}},
    {"$token": "t", "$distinct_id": "u", "$add": {"logins": 1}},
    {"event": "big", "properties": {"count": 2**63 - 1, "none": None}},
]


@pytest.mark.parametrize("message", MESSAGES)
def test_both_encoders_give_the_same_document(
    message: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With and without orjson a message encodes to the same JSON document."""
    fast = _message_json.encode_message(message)
    monkeypatch.setattr(_message_json, "_orjson_dumps", None)
    plain = _message_json.encode_message(message)
    assert json.loads(fast) == json.loads(plain) == message
    assert ", " not in plain and ": " not in plain


def test_what_orjson_refuses_falls_back_to_the_standard_library() -> None:
    """A lone surrogate or a huge integer is encoded as the stdlib would."""
    message = {"event": "E", "properties": {"s": "\ud800", "n": 2**70}}
    encoded = _message_json.encode_message(message)
    assert json.loads(encoded)["properties"]["n"] == 2**70
    assert "\\ud800" in encoded


def test_the_encoder_in_use_is_named() -> None:
    """ENCODER says which encoder is tried first."""
    try:
        import orjson  # noqa: F401
    except ImportError:
        assert _message_json.ENCODER == "json"
    else:
        assert _message_json.ENCODER == "orjson"
