"""Service-account credentials: validation, masking, equality and Basic auth."""

from __future__ import annotations

import copy
import pickle

import mixpanel
import pytest
import requests
from requests.auth import HTTPBasicAuth

from otel_mixpanel import ServiceAccountCredentials

SECRET = "s3cr3t-value"


def make(**overrides: object) -> ServiceAccountCredentials:
    values: dict[str, object] = {
        "username": "sa-user",
        "secret": SECRET,
        "project_id": "12345",
    }
    values.update(overrides)
    return ServiceAccountCredentials(**values)  # type: ignore[arg-type]


def test_values_are_stripped_and_readable() -> None:
    """Surrounding whitespace is removed; the three attributes are readable."""
    credentials = make(username="  sa-user ", secret=f"\t{SECRET}\n", project_id=" 1 ")
    assert credentials.username == "sa-user"
    assert credentials.secret == SECRET
    assert credentials.project_id == "1"


@pytest.mark.parametrize("field", ["username", "secret", "project_id"])
@pytest.mark.parametrize("value", [None, 12345, b"bytes"])
def test_non_strings_raise_type_error(field: str, value: object) -> None:
    """Every field must be a str, as the reference requires."""
    with pytest.raises(TypeError, match=field):
        make(**{field: value})
    with pytest.raises(TypeError):
        mixpanel.ServiceAccountCredentials(**{**_reference_args(), field: value})


@pytest.mark.parametrize("field", ["username", "secret", "project_id"])
@pytest.mark.parametrize("value", ["", "   ", "\n\t"])
def test_empty_or_blank_raise_value_error(field: str, value: str) -> None:
    """Empty and whitespace-only values are refused, as the reference does."""
    with pytest.raises(ValueError, match=field):
        make(**{field: value})
    with pytest.raises(ValueError):
        mixpanel.ServiceAccountCredentials(**{**_reference_args(), field: value})


def test_validation_errors_never_show_the_secret() -> None:
    """A refused username does not echo the secret or its own value."""
    with pytest.raises(TypeError) as caught:
        make(username=["nope"])
    assert SECRET not in str(caught.value)


def test_repr_and_str_mask_the_secret() -> None:
    """repr and str show username and project id, never the secret."""
    credentials = make()
    for text in (repr(credentials), str(credentials), f"{credentials}"):
        assert SECRET not in text
        assert "sa-user" in text
        assert "12345" in text
        assert "***" in text
    assert repr(credentials) == repr(
        mixpanel.ServiceAccountCredentials("sa-user", SECRET, "12345")
    )


def test_containers_show_the_masked_repr() -> None:
    """Credentials inside a dict or list still print masked."""
    assert SECRET not in repr({"credentials": make()})
    assert SECRET not in str([make()])


def test_basic_auth_uses_username_and_secret() -> None:
    """to_http_basic_auth returns requests' HTTPBasicAuth of user and secret."""
    auth = make().to_http_basic_auth()
    assert isinstance(auth, HTTPBasicAuth)
    assert (auth.username, auth.password) == ("sa-user", SECRET)
    prepared = requests.Request("POST", "http://127.0.0.1/import", auth=auth).prepare()
    reference = mixpanel.ServiceAccountCredentials("sa-user", SECRET, "12345")
    expected = requests.Request(
        "POST", "http://127.0.0.1/import", auth=reference.to_http_basic_auth()
    ).prepare()
    assert prepared.headers["Authorization"] == expected.headers["Authorization"]


def test_equality_covers_all_three_values() -> None:
    """Equal when all values match; a different secret makes them unequal."""
    assert make() == make()
    assert make() != make(secret="other")
    assert make() != make(project_id="999")
    assert make() != make(username="other")
    assert make() != ("sa-user", SECRET, "12345")


def test_hash_is_consistent_and_ignores_the_secret() -> None:
    """Equal credentials hash alike; the hash does not depend on the secret."""
    assert hash(make()) == hash(make())
    assert hash(make()) == hash(make(secret="other"))
    assert len({make(), make()}) == 1


def test_attributes_are_read_only() -> None:
    """The values cannot be reassigned (hashable objects stay immutable)."""
    credentials = make()
    with pytest.raises(AttributeError):
        credentials.secret = "changed"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        credentials.other = 1  # type: ignore[attr-defined]


def test_copy_and_pickle_round_trip() -> None:
    """copy and pickle keep the values (pickles do carry the secret)."""
    credentials = make()
    assert copy.deepcopy(credentials) == credentials
    assert pickle.loads(pickle.dumps(credentials)) == credentials


def _reference_args() -> dict[str, str]:
    return {"username": "sa-user", "secret": SECRET, "project_id": "12345"}
