"""Tests of otel_mixpanel.testing: the local Mixpanel server, over real HTTP."""

from __future__ import annotations

import base64
import gzip
import json
import os
import threading
import time
import uuid

import mixpanel
import pytest
import requests

from otel_mixpanel.testing import MixpanelServer, RecordedRequest

TOKEN = "test-token"
NOW = 1_750_000_000.0
SA = ("sa-user", "sa-secret")


def make_event(name="Signed up", **properties):
    """An event valid on /track and /import (time is NOW)."""
    props = {
        "token": TOKEN,
        "distinct_id": "user-1",
        "time": NOW,
        "$insert_id": uuid.uuid4().hex,
    }
    props.update(properties)
    return {"event": name, "properties": props}


@pytest.fixture
def server():
    """A server whose clock is frozen at NOW."""
    with MixpanelServer(now=lambda: NOW) as started:
        yield started


def post_import(server, records, strict=True, auth=SA, **kwargs):
    params = {"strict": "1" if strict else "0"}
    if auth == SA:
        params["project_id"] = "12345"
    return requests.post(
        server.url + "/import", json=records, params=params, auth=auth, **kwargs
    )


# -- replies and body formats -------------------------------------------------


def test_track_json_body_gets_verbose_reply(server):
    """A JSON array on /track?verbose=1 is accepted with {"status":1,"error":null}."""
    reply = requests.post(server.url + "/track?verbose=1&ip=0", json=[make_event()])
    assert reply.status_code == 200
    assert reply.json() == {"status": 1, "error": None}
    assert [e["event"] for e in server.events()] == ["Signed up"]


def test_track_form_without_verbose_replies_1(server):
    """A form body without verbose gets the bare body 1."""
    reply = requests.post(
        server.url + "/track", data={"data": json.dumps(make_event())}
    )
    assert (reply.status_code, reply.text) == (200, "1")
    assert len(server.events()) == 1


def test_verbose_can_come_from_the_form(server):
    """verbose=1 in the form body selects the JSON reply."""
    form = {"data": json.dumps([make_event()]), "verbose": "1", "ip": "0"}
    reply = requests.post(server.url + "/track/", data=form)
    assert reply.json() == {"status": 1, "error": None}


def test_base64_form_data_is_accepted(server):
    """Old clients' base64-encoded data field is decoded."""
    data = base64.b64encode(json.dumps(make_event()).encode()).decode()
    reply = requests.post(server.url + "/track", data={"data": data, "verbose": 1})
    assert reply.json()["status"] == 1


def test_gzip_bodies_are_decoded(server):
    """Content-Encoding: gzip works on /track and /import and is recorded."""
    body = gzip.compress(json.dumps([make_event()]).encode())
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    track = requests.post(server.url + "/track?verbose=1", data=body, headers=headers)
    imported = requests.post(
        server.url + "/import?strict=1",
        data=body,
        headers=headers,
        auth=("test-api-secret", ""),
    )
    assert track.json()["status"] == 1
    assert imported.json()["num_records_imported"] == 1
    recorded = server.requests()[0]
    assert recorded.content_encoding == "gzip"
    assert recorded.body == body
    assert json.loads(recorded.decoded_body)[0]["event"] == "Signed up"


def test_ndjson_import(server):
    """An application/x-ndjson body on /import is one record per line."""
    lines = "\n".join(json.dumps(make_event(f"e{i}")) for i in range(3)) + "\n"
    reply = requests.post(
        server.url + "/import",
        data=lines.encode(),
        headers={"Content-Type": "application/x-ndjson"},
        auth=(TOKEN, ""),
    )
    assert reply.json() == {"code": 200, "num_records_imported": 3, "status": "OK"}
    assert [e["event"] for e in server.events()] == ["e0", "e1", "e2"]


def test_chunked_body_is_read(server):
    """A chunked request body (no Content-Length) is reassembled."""
    payload = json.dumps([make_event()]).encode()
    chunks = iter([payload[:10], payload[10:]])
    reply = requests.post(
        server.url + "/track?verbose=1",
        data=chunks,
        headers={"Content-Type": "application/json"},
    )
    assert reply.json()["status"] == 1


def test_malformed_json_is_400(server):
    """Broken JSON is answered 400 on /track and /import, nothing accepted."""
    headers = {"Content-Type": "application/json"}
    track = requests.post(server.url + "/track?verbose=1", data=b"[{", headers=headers)
    imported = requests.post(
        server.url + "/import", data=b"[{", headers=headers, auth=(TOKEN, "")
    )
    assert track.status_code == 400
    assert track.json()["status"] == 0
    assert imported.status_code == 400
    assert imported.json()["status"] == "Bad Request"
    assert server.events() == []


def test_unknown_path_404_and_get_405(server):
    """Unknown paths answer 404; GET on an endpoint 405; both are recorded."""
    assert requests.post(server.url + "/nope").status_code == 404
    assert requests.get(server.url + "/track").status_code == 405
    assert [r.status for r in server.requests()] == [404, 405]


# -- validation ---------------------------------------------------------------


def test_track_rejects_wrong_token_with_status_0(server):
    """A wrong token on /track gets HTTP 200 with status 0 (or body 0)."""
    bad = make_event(token="other")
    verbose = requests.post(server.url + "/track?verbose=1", json=[bad])
    terse = requests.post(server.url + "/track", json=[bad])
    assert verbose.status_code == 200
    assert verbose.json()["status"] == 0
    assert "token" in verbose.json()["error"]
    assert (terse.status_code, terse.text) == (200, "0")
    assert server.events() == []


def test_track_batch_is_all_or_nothing(server):
    """One invalid event rejects the whole /track request."""
    batch = [make_event(), make_event(distinct_id="anon"), make_event()]
    reply = requests.post(server.url + "/track?verbose=1", json=batch)
    assert reply.json()["status"] == 0
    assert "record 1" in reply.json()["error"]
    assert server.events() == []
    assert server.requests()[0].records == 3


@pytest.mark.parametrize(
    "distinct_id",
    [
        "anon",
        "NULL",
        "undefined",
        "0",
        0,
        "-1",
        "nil",
        "None",
        "[]",
        "{}",
        "lmy47d",
        "00000000-0000-0000-0000-000000000000",
        "",
        None,
    ],
)
def test_placeholder_distinct_id_is_rejected(server, distinct_id):
    """Placeholder distinct_ids are rejected, case-insensitively."""
    reply = requests.post(
        server.url + "/track?verbose=1", json=[make_event(distinct_id=distinct_id)]
    )
    assert reply.json()["status"] == 0
    assert "distinct_id" in reply.json()["error"]


def test_track_time_window(server):
    """/track takes the last 5 days only, in seconds or milliseconds."""

    def status(when):
        reply = requests.post(
            server.url + "/track?verbose=1", json=[make_event(time=when)]
        )
        return reply.json()["status"]

    assert status(NOW - 4 * 86400) == 1
    assert status((NOW - 60) * 1000) == 1
    assert status(NOW - 6 * 86400) == 0
    assert status(NOW + 2 * 3600) == 0


def test_import_time_bounds(server):
    """/import takes old events after 1971 and rejects the far future."""
    records = [
        make_event(time=100_000_000),
        make_event(time=10_000),
        make_event(time=(NOW + 7200) * 1000),
        make_event(time="yesterday"),
    ]
    body = post_import(server, records).json()
    assert body["num_records_imported"] == 1
    assert [f["index"] for f in body["failed_records"]] == [1, 2, 3]
    assert {f["field"] for f in body["failed_records"]} == {"properties.time"}


def test_import_strict_partial_failure(server):
    """strict=1 lists failed records with 400 and still accepts the valid ones."""
    bad = make_event("bad", **{"$insert_id": "not_valid!"})
    no_time = make_event("late")
    del no_time["properties"]["time"]
    reply = post_import(server, [make_event("ok"), bad, no_time])
    assert reply.status_code == 400
    body = reply.json()
    assert body["code"] == 400
    assert body["status"] == "Bad Request"
    assert body["error"] == "some data points in the request failed validation"
    assert body["num_records_imported"] == 1
    assert body["failed_records"] == [
        {
            "index": 1,
            "$insert_id": "not_valid!",
            "field": "properties.$insert_id",
            "message": body["failed_records"][0]["message"],
        },
        {
            "index": 2,
            "$insert_id": no_time["properties"]["$insert_id"],
            "field": "properties.time",
            "message": "time is required",
        },
    ]
    assert [e["event"] for e in server.events()] == ["ok"]


def test_import_without_strict_skips_invalid_records(server):
    """Without strict, invalid records are skipped and the rest imported (200)."""
    nameless = {"event": "", "properties": make_event()["properties"]}
    reply = post_import(server, [make_event(), nameless], strict=False)
    assert reply.status_code == 200
    assert reply.json()["num_records_imported"] == 1


def test_insert_id_format(server):
    """$insert_id: at most 36 of [A-Za-z0-9-], and required with strict=1."""
    missing = make_event()
    del missing["properties"]["$insert_id"]
    records = [
        make_event(**{"$insert_id": "a" * 36}),
        make_event(**{"$insert_id": "a" * 37}),
        make_event(**{"$insert_id": "abc_def"}),
        missing,
    ]
    body = post_import(server, records).json()
    assert [f["index"] for f in body["failed_records"]] == [1, 2, 3]
    assert post_import(server, [missing], strict=False).status_code == 200


def test_property_limits(server):
    """255 properties, nesting deeper than 3 and 255-item arrays are rejected."""
    too_many = make_event(**{f"p{i}": i for i in range(251)})
    deep_ok = make_event(nested={"a": {"b": {"c": 1}}})
    too_deep = make_event(nested={"a": {"b": {"c": {"d": 1}}}})
    long_array = make_event(items=list(range(255)))
    body = post_import(server, [too_many, deep_ok, too_deep, long_array]).json()
    assert [f["index"] for f in body["failed_records"]] == [0, 2, 3]
    assert body["num_records_imported"] == 1


def test_batch_over_max_batch_is_413():
    """More records than max_batch in one request gets 413, nothing accepted."""
    with MixpanelServer(max_batch=3, now=lambda: NOW) as server:
        track = requests.post(
            server.url + "/track?verbose=1", json=[make_event() for _ in range(4)]
        )
        imported = post_import(server, [make_event() for _ in range(4)])
        assert track.status_code == 413
        assert track.json()["status"] == 0
        assert imported.status_code == 413
        assert imported.json()["code"] == 413
        assert server.events() == []


def test_body_over_max_body_bytes_is_413_even_gzipped():
    """The uncompressed size counts: a small gzip of a large body gets 413."""
    with MixpanelServer(max_body_bytes=2000, now=lambda: NOW) as server:
        big = json.dumps([make_event(pad="x" * 3000)]).encode()
        reply = requests.post(
            server.url + "/track?verbose=1",
            data=gzip.compress(big),
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        )
        assert reply.status_code == 413
        assert len(gzip.compress(big)) < 2000
        assert server.events() == []


def test_engage_and_groups_are_accepted(server):
    """Valid profile and group updates are recorded."""
    person = {"$token": TOKEN, "$distinct_id": "user-1", "$set": {"plan": "pro"}}
    group = {
        "$token": TOKEN,
        "$group_key": "company",
        "$group_id": "acme",
        "$union": {"tags": ["a"]},
    }
    engage = requests.post(
        server.url + "/engage", data={"data": json.dumps([person]), "verbose": 1}
    )
    groups = requests.post(
        server.url + "/groups", data={"data": json.dumps(group), "verbose": 1}
    )
    assert engage.json() == groups.json() == {"status": 1, "error": None}
    assert server.people() == [person]
    assert server.groups() == [group]


@pytest.mark.parametrize(
    "update",
    [
        {"$token": "nope", "$distinct_id": "u", "$set": {"a": 1}},
        {"$token": TOKEN, "$set": {"a": 1}},
        {"$token": TOKEN, "$distinct_id": "u", "$set": {"a": 1}, "$unset": ["b"]},
        {"$token": TOKEN, "$distinct_id": "u"},
        {"$token": TOKEN, "$distinct_id": "u", "$add": {"a": "x"}},
    ],
)
def test_invalid_engage_update_is_status_0_with_http_200(server, update):
    """Bad token, missing id, zero or two operations: HTTP 200, status 0."""
    reply = requests.post(
        server.url + "/engage", data={"data": json.dumps(update), "verbose": 1}
    )
    assert reply.status_code == 200
    assert reply.json()["status"] == 0
    assert server.people() == []


def test_group_update_needs_key_and_id(server):
    """A /groups update without $group_id is rejected with status 0."""
    update = {"$token": TOKEN, "$group_key": "company", "$set": {"a": 1}}
    reply = requests.post(server.url + "/groups?verbose=1", json=[update])
    assert reply.json()["status"] == 0
    assert "$group_id" in reply.json()["error"]


# -- /import authentication ---------------------------------------------------


def test_import_service_account_needs_matching_project_id(server):
    """Service-account auth needs ?project_id=: missing 400, wrong 401, right 200."""
    events = [make_event()]
    url = server.url + "/import"
    ok = requests.post(url, json=events, params={"project_id": "12345"}, auth=SA)
    missing = requests.post(url, json=events, auth=SA)
    wrong = requests.post(url, json=events, params={"project_id": "999"}, auth=SA)
    bad_secret = requests.post(
        url, json=events, params={"project_id": "12345"}, auth=("sa-user", "x")
    )
    assert ok.status_code == 200
    assert missing.status_code == 400
    assert wrong.status_code == 401
    assert bad_secret.json()["status"] == "Unauthorized"
    assert len(server.events()) == 1


@pytest.mark.parametrize("user", ["test-api-secret", TOKEN])
def test_import_accepts_api_secret_or_token_as_user_name(server, user):
    """The API secret or the project token as Basic user name is accepted."""
    reply = post_import(server, [make_event()], auth=(user, ""))
    assert reply.json()["code"] == 200


@pytest.mark.parametrize("auth", [None, ("someone", ""), ("test-api-secret", "pw")])
def test_import_rejects_missing_or_wrong_credentials(server, auth):
    """No or wrong credentials on /import get 401 in the import shape."""
    reply = post_import(server, [make_event()], auth=auth)
    assert reply.status_code == 401
    assert reply.json()["code"] == 401
    assert reply.json()["status"] == "Unauthorized"
    assert server.events() == []


def test_track_ignores_authorization_but_records_it(server):
    """/track accepts with or without Authorization; the header is recorded."""
    requests.post(server.url + "/track", json=[make_event()], auth=SA)
    requests.post(server.url + "/track", json=[make_event()])
    first, second = server.requests()
    assert "authorization" in first.headers
    assert "authorization" not in second.headers
    assert "sa-secret" not in repr(first)
    assert len(server.events()) == 2


# -- recording and waiting ----------------------------------------------------


def test_unique_events_deduplicate_like_mixpanel(server):
    """Same (event, time, distinct_id, $insert_id) counts once; first copy kept."""
    event = make_event(extra="first")
    resent = json.loads(json.dumps(event))
    resent["properties"]["extra"] = "second"
    no_insert_id = make_event()
    del no_insert_id["properties"]["$insert_id"]
    batch = [event, resent, make_event(), no_insert_id, no_insert_id]
    requests.post(server.url + "/track", json=batch)
    assert len(server.events()) == 5
    unique = server.unique_events()
    assert len(unique) == 4
    assert unique[0]["properties"]["extra"] == "first"
    assert len(server.wait_for_events(4, timeout=1, unique=True)) == 4


def test_recorded_request_fields(server):
    """RecordedRequest keeps method, path, query, lower-cased headers, endpoint."""
    requests.post(server.url + "/track/?verbose=1&ip=0", json=[make_event()])
    (recorded,) = server.requests()
    assert isinstance(recorded, RecordedRequest)
    assert recorded.method == "POST"
    assert recorded.path == "/track/"
    assert recorded.query == {"verbose": "1", "ip": "0"}
    assert recorded.headers["content-type"] == "application/json"
    assert (recorded.endpoint, recorded.status, recorded.records) == ("events", 200, 1)
    assert recorded.fault is None and recorded.content_encoding is None


def test_events_filter_by_name_and_return_copies(server):
    """events(name) filters; mutating the result does not change the server."""
    requests.post(server.url + "/track", json=[make_event("a"), make_event("b")])
    assert [e["event"] for e in server.events("b")] == ["b"]
    server.events()[0]["event"] = "changed"
    assert server.events()[0]["event"] == "a"


def test_wait_for_events_times_out_with_count(server):
    """wait_for_events raises AssertionError saying how many arrived."""
    requests.post(server.url + "/track", json=[make_event()])
    with pytest.raises(AssertionError, match="saw 1"):
        server.wait_for_events(2, timeout=0.2)


def test_wait_for_people_groups_and_predicate_time_out(server):
    """wait_for_people/groups/wait_for raise AssertionError on timeout."""
    with pytest.raises(AssertionError, match="people"):
        server.wait_for_people(1, timeout=0.05)
    with pytest.raises(AssertionError, match="group"):
        server.wait_for_groups(1, timeout=0.05)
    with pytest.raises(AssertionError, match="condition"):
        server.wait_for(lambda s: False, timeout=0.05)


def test_wait_for_wakes_on_request_from_another_thread(server):
    """wait_for_events returns once a concurrent request is accepted."""
    sender = threading.Thread(
        target=requests.post,
        args=(server.url + "/track",),
        kwargs={"json": [make_event()]},
    )
    sender.start()
    assert len(server.wait_for_events(1, timeout=5)) == 1
    server.wait_for(lambda s: len(s.requests()) == 1, timeout=5)
    sender.join()


def test_reset_forgets_data_and_faults(server):
    """reset() clears recorded data and pending faults."""
    requests.post(server.url + "/track", json=[make_event()])
    server.fail_next(5)
    server.reset()
    assert server.events() == server.requests() == []
    assert requests.post(server.url + "/track", json=[make_event()]).text == "1"


# -- faults -------------------------------------------------------------------


def test_fail_next_with_retry_after_and_endpoint(server):
    """fail_next answers the status with Retry-After, only on its endpoint."""
    server.fail_next(2, status=429, retry_after=1.5, endpoint="events")
    engage = {"$token": TOKEN, "$distinct_id": "u", "$set": {"a": 1}}
    assert requests.post(server.url + "/engage", json=engage).text == "1"
    first = requests.post(server.url + "/track?verbose=1", json=[make_event()])
    second = requests.post(server.url + "/track", json=[make_event()])
    third = requests.post(server.url + "/track", json=[make_event()])
    assert first.status_code == second.status_code == 429
    assert first.headers["Retry-After"] == "1.5"
    assert first.json()["status"] == 0
    assert third.status_code == 200
    assert len(server.events()) == 1
    assert [r.fault for r in server.requests()] == [None, "fail", "fail", None]


def test_fail_next_custom_body_on_import(server):
    """fail_next(body=...) replies with that body; nothing is imported."""
    server.fail_next(status=502, body="upstream broke", endpoint="imports")
    reply = post_import(server, [make_event()])
    assert (reply.status_code, reply.text) == (502, "upstream broke")
    assert server.events() == []


def test_fail_rate_is_deterministic_with_a_seed():
    """The same seed fails the same requests; rate 0 fails none."""

    def pattern(seed):
        with MixpanelServer(now=lambda: NOW) as server:
            server.fail_rate(0.5, status=500, seed=seed)
            with requests.Session() as session:
                return [
                    session.post(server.url + "/track", json=[make_event()]).status_code
                    for _ in range(12)
                ]

    first, again = pattern(7), pattern(7)
    assert first == again
    assert set(first) == {200, 500}


def test_drop_next_closes_without_reply(server):
    """drop_next makes the client see a ConnectionError; nothing is accepted."""
    server.drop_next()
    with pytest.raises(requests.ConnectionError):
        requests.post(server.url + "/track", json=[make_event()])
    assert server.events() == []
    (recorded,) = server.requests()
    assert (recorded.status, recorded.fault) == (0, "drop")
    assert requests.post(server.url + "/track", json=[make_event()]).text == "1"


def test_drop_rate_is_deterministic_with_a_seed():
    """drop_rate drops a seed-determined subset of connections."""

    def pattern():
        with MixpanelServer(now=lambda: NOW) as server:
            server.drop_rate(0.5, seed=3)
            outcomes = []
            for _ in range(8):
                try:
                    requests.post(server.url + "/track", json=[make_event()])
                    outcomes.append("ok")
                except requests.ConnectionError:
                    outcomes.append("dropped")
            return outcomes

    first = pattern()
    assert first == pattern()
    assert set(first) == {"ok", "dropped"}


def test_stall_next_records_data_but_client_times_out(server):
    """stall_next: the client hits ReadTimeout although the data was accepted."""
    server.stall_next(1, seconds=5)
    with pytest.raises(requests.ReadTimeout):
        requests.post(server.url + "/track", json=[make_event()], timeout=0.2)
    assert len(server.wait_for_events(1, timeout=5)) == 1
    assert server.requests()[0].fault == "stall"
    server.clear_faults()


def test_pause_holds_requests_until_resume(server):
    """While paused requests wait unprocessed; resume processes them."""
    server.pause()
    replies = []
    sender = threading.Thread(
        target=lambda: replies.append(
            requests.post(server.url + "/track", json=[make_event()], timeout=10)
        )
    )
    sender.start()
    server.wait_for(lambda s: s.held_requests() == 1, timeout=5)
    assert server.events() == [] and server.requests() == []
    server.resume()
    sender.join(timeout=10)
    assert replies[0].text == "1"
    assert len(server.events()) == 1
    assert server.requests()[0].fault == "paused"


def test_set_down_closes_every_connection(server):
    """While down every request fails at the connection; afterwards it works."""
    server.set_down(True)
    with pytest.raises(requests.ConnectionError):
        requests.post(server.url + "/track", json=[make_event()])
    server.set_down(False)
    assert requests.post(server.url + "/track", json=[make_event()]).text == "1"
    assert [r.fault for r in server.requests()] == ["down", None]


def test_stop_releases_paused_requests_and_is_idempotent():
    """stop() lets a held request finish, closes keep-alive connections, twice ok."""
    server = MixpanelServer(now=lambda: NOW).start()
    session = requests.Session()
    session.post(server.url + "/track", json=[make_event()])
    server.pause()
    replies = []
    sender = threading.Thread(
        target=lambda: replies.append(
            session.post(server.url + "/track", json=[make_event()], timeout=10)
        )
    )
    sender.start()
    server.wait_for(lambda s: s.held_requests() == 1, timeout=5)
    server.stop()
    server.stop()
    sender.join(timeout=10)
    session.close()
    assert not sender.is_alive()
    assert replies[0].status_code == 200
    with pytest.raises(RuntimeError):
        server.start()


def test_server_thread_is_a_daemon(server):
    """The serving thread never keeps the interpreter alive."""
    names = [t for t in threading.enumerate() if t.name.endswith(str(server.port))]
    assert names and all(t.daemon for t in names)


# -- the pytest plugin --------------------------------------------------------


def test_mixpanel_server_fixture(mixpanel_server):
    """The mixpanel_server fixture is a started server with default settings."""
    assert mixpanel_server.url == f"http://127.0.0.1:{mixpanel_server.port}"
    assert mixpanel_server.token == TOKEN
    event = make_event()
    event["properties"]["time"] = time.time()
    requests.post(mixpanel_server.url + "/track", json=[event])
    assert len(mixpanel_server.wait_for_events(1, timeout=5)) == 1


@pytest.fixture
def stray_mixpanel_variable(monkeypatch):
    """A MIXPANEL_* variable set before mixpanel_env runs."""
    monkeypatch.setenv("MIXPANEL_API_SECRET", "stray")


def test_mixpanel_env_fixture(stray_mixpanel_variable, mixpanel_env, mixpanel_server):
    """mixpanel_env points MIXPANEL_TOKEN/API_HOST at the same server, clears others."""
    assert mixpanel_env is mixpanel_server
    assert os.environ["MIXPANEL_TOKEN"] == TOKEN
    assert os.environ["MIXPANEL_API_HOST"] == mixpanel_server.url
    names = sorted(n for n in os.environ if n.startswith("MIXPANEL_"))
    assert names == ["MIXPANEL_API_HOST", "MIXPANEL_TOKEN"]


# -- the official client ------------------------------------------------------


def test_official_mixpanel_client_talks_to_the_server(mixpanel_server):
    """mixpanel.Consumer's form bodies work on every endpoint."""
    url = mixpanel_server.url
    consumer = mixpanel.Consumer(
        events_url=url + "/track",
        people_url=url + "/engage",
        groups_url=url + "/groups",
        import_url=url + "/import",
        request_timeout=5,
    )
    mp = mixpanel.Mixpanel(TOKEN, consumer=consumer)
    mp.track("user-1", "Signed up", {"plan": "pro"})
    mp.people_set("user-1", {"plan": "pro"})
    mp.people_increment("user-1", {"logins": 1})
    mp.group_set("company", "acme", {"size": 10})
    assert mixpanel_server.wait_for_events(1, timeout=5)[0]["event"] == "Signed up"
    assert [list(p)[-1] for p in mixpanel_server.people()] == ["$set", "$add"]
    assert mixpanel_server.groups()[0]["$group_id"] == "acme"


def test_official_client_import_with_service_account(mixpanel_server):
    """The reference import is accepted; the reference client trips on the reply."""
    credentials = mixpanel.ServiceAccountCredentials("sa-user", "sa-secret", "12345")
    consumer = mixpanel.Consumer(
        import_url=mixpanel_server.url + "/import",
        request_timeout=5,
        credentials=credentials,
    )
    mp = mixpanel.Mixpanel(TOKEN, consumer=consumer)
    with pytest.raises(KeyError):  # known defect: it reads "status" == 1
        mp.import_data(None, "user-1", "Old event", time.time() - 30 * 86400)
    (event,) = mixpanel_server.events("Old event")
    assert event["properties"]["distinct_id"] == "user-1"
    (recorded,) = mixpanel_server.requests()
    assert recorded.query == {"project_id": "12345"}
    assert recorded.status == 200
