"""The JSON API under /api, over treq's in-memory HTTP (mounted by web.make_root)."""

import json
from typing import Any

import pytest
from treq.testing import StubTreq

from chathub.commands import Join, Say
from chathub.hub import Hub
from chathub.store import MemoryStore
from chathub.web import make_root
from tests.recording import RecordingClient


@pytest.fixture
def hub() -> Hub:
    return Hub(MemoryStore(), clock=lambda: 1_700_000_000.5)


@pytest.fixture
def http(hub: Hub) -> StubTreq:
    return StubTreq(make_root(hub))


def fetch(http: StubTreq, path: str) -> tuple[int, dict[bytes, list[bytes]], Any]:
    """GET `path` and return (status, headers, parsed JSON body), all synchronously."""
    results = []
    deferred = http.get("http://localhost" + path)
    deferred.addCallback(lambda r: http.content(r).addCallback(lambda b: results.append((r, b))))
    http.flush()
    response, body = results[0]
    return response.code, dict(response.headers.getAllRawHeaders()), json.loads(body)


def talk(hub: Hub, room: str, *texts: str, nick: str = "alice") -> None:
    client = RecordingClient()
    session = hub.connect(client, nick=nick, rooms=[room])
    for text in texts:
        hub.handle(session, Say(text))


def test_rooms_lists_rooms_with_their_member_counts(hub: Hub, http: StubTreq) -> None:
    """GET /api/rooms names every room with members or history and counts members."""
    talk(hub, "dev", "hi")
    bob = hub.connect(RecordingClient(), nick="bob", rooms=["ops"])
    hub.handle(bob, Join("dev"))
    code, headers, body = fetch(http, "/api/rooms")
    assert code == 200
    assert headers[b"Content-Type"] == [b"application/json; charset=utf-8"]
    rooms = [{"name": "dev", "members": 2}, {"name": "ops", "members": 1}]
    assert body == {"rooms": rooms, "total": 2}


def test_messages_are_events_with_ids_oldest_first(hub: Hub, http: StubTreq) -> None:
    """GET /api/rooms/ROOM/messages returns the room's events in the WebSocket shape."""
    talk(hub, "dev", "one", "two")
    code, _, body = fetch(http, "/api/rooms/dev/messages")
    assert code == 200
    assert body == {
        "room": "dev",
        "events": [
            {"room": "dev", "kind": "message", "nick": "alice", "text": "one",
             "ts": 1_700_000_000.5, "id": 1},
            {"room": "dev", "kind": "message", "nick": "alice", "text": "two",
             "ts": 1_700_000_000.5, "id": 2},
        ],
    }  # fmt: skip


def test_since_returns_only_newer_messages(hub: Hub, http: StubTreq) -> None:
    """`since=ID` gives the events with id > ID."""
    talk(hub, "dev", "a", "b", "c", "d")
    _, _, body = fetch(http, "/api/rooms/dev/messages?since=2")
    assert [e["id"] for e in body["events"]] == [3, 4]


def test_limit_with_since_pages_forward_from_the_oldest(hub: Hub, http: StubTreq) -> None:
    """`since` with `limit` gives the oldest `limit` newer events, so paging loses none."""
    talk(hub, "dev", "a", "b", "c", "d", "e")
    _, _, body = fetch(http, "/api/rooms/dev/messages?since=1&limit=2")
    assert [e["id"] for e in body["events"]] == [2, 3]


def test_limit_without_since_gives_the_newest(hub: Hub, http: StubTreq) -> None:
    """Without `since`, `limit=N` gives the last N events, oldest first."""
    talk(hub, "dev", "a", "b", "c", "d", "e")
    _, _, body = fetch(http, "/api/rooms/dev/messages?limit=2")
    assert [e["id"] for e in body["events"]] == [4, 5]


def test_before_gives_the_newest_messages_below_the_id(hub: Hub, http: StubTreq) -> None:
    """`before=ID&limit=N` is the page of N just older than ID, oldest first."""
    talk(hub, "dev", "a", "b", "c", "d", "e")
    _, _, body = fetch(http, "/api/rooms/dev/messages?before=5&limit=2")
    assert [e["id"] for e in body["events"]] == [3, 4]


@pytest.mark.parametrize(
    "query", ["before=-1", "before=x", "before=3&since=1", "before=1&before=2"]
)
def test_a_malformed_before_is_400(http: StubTreq, query: str) -> None:
    """`before` must be a whole number, 0 or more, and is not combined with `since`."""
    code, _, body = fetch(http, f"/api/rooms/dev/messages?{query}")
    assert code == 400
    assert body["error"] == "bad-before"


def test_limit_is_capped_at_500(hub: Hub, http: StubTreq) -> None:
    """A limit above 500 returns at most 500 events."""
    talk(hub, "dev", *[f"m{n}" for n in range(600)])
    _, _, body = fetch(http, "/api/rooms/dev/messages?since=0&limit=100000")
    assert len(body["events"]) == 500
    assert body["events"][0]["id"] == 1


def test_room_names_are_normalized(hub: Hub, http: StubTreq) -> None:
    """`%23Dev` (that is `#Dev`) names the room `dev`."""
    talk(hub, "dev", "hi")
    _, _, body = fetch(http, "/api/rooms/%23Dev/messages")
    assert body["room"] == "dev"
    assert [e["text"] for e in body["events"]] == ["hi"]


def test_a_room_without_history_has_no_events(http: StubTreq) -> None:
    """A valid room nobody has talked in is an empty list, not an error."""
    code, _, body = fetch(http, "/api/rooms/quiet/messages?since=5")
    assert code == 200
    assert body == {"room": "quiet", "events": []}


@pytest.mark.parametrize("room", ["no%20spaces", "x" * 33, "%C3%A9t%C3%A9", "a.b"])
def test_a_malformed_room_name_is_400(http: StubTreq, room: str) -> None:
    """A room name outside the rules is refused with a JSON error."""
    code, headers, body = fetch(http, f"/api/rooms/{room}/messages")
    assert code == 400
    assert headers[b"Content-Type"] == [b"application/json; charset=utf-8"]
    assert body["error"] == "bad-room"


@pytest.mark.parametrize("since", ["-1", "abc", "1.5", "", "+3", "%D9%A5", "9" * 40])
def test_a_malformed_since_is_400(http: StubTreq, since: str) -> None:
    """`since` must be a whole number, 0 or more."""
    code, _, body = fetch(http, f"/api/rooms/dev/messages?since={since}")
    assert code == 400
    assert body["error"] == "bad-since"


@pytest.mark.parametrize("limit", ["0", "-5", "ten", ""])
def test_a_malformed_limit_is_400(http: StubTreq, limit: str) -> None:
    """`limit` must be a whole number, 1 or more."""
    code, _, body = fetch(http, f"/api/rooms/dev/messages?limit={limit}")
    assert code == 400
    assert body["error"] == "bad-limit"


def test_a_repeated_argument_is_400(http: StubTreq) -> None:
    """`since=1&since=2` is ambiguous and refused."""
    code, _, body = fetch(http, "/api/rooms/dev/messages?since=1&since=2")
    assert code == 400
    assert body["error"] == "bad-since"


def test_a_bad_request_changes_nothing(hub: Hub, http: StubTreq) -> None:
    """A refused request leaves the history as it was."""
    talk(hub, "dev", "a")
    fetch(http, "/api/rooms/dev/messages?since=-1")
    _, _, body = fetch(http, "/api/rooms/dev/messages")
    assert [e["text"] for e in body["events"]] == ["a"]


@pytest.mark.parametrize(
    "path", ["/api", "/api/", "/api/nope", "/api/rooms/dev", "/api/rooms/dev/x"]
)
def test_unknown_api_paths_are_404_json(http: StubTreq, path: str) -> None:
    """Paths the API does not have answer 404 with a JSON error."""
    code, _, body = fetch(http, path)
    assert code == 404
    assert body["error"] == "not-found"


def test_a_trailing_slash_is_accepted(hub: Hub, http: StubTreq) -> None:
    """`/api/rooms/` is `/api/rooms`."""
    talk(hub, "dev", "hi")
    code, _, body = fetch(http, "/api/rooms/")
    assert code == 200
    assert body["rooms"][0]["name"] == "dev"


def send(http: StubTreq, method: str, path: str) -> tuple[Any, bytes]:
    """Any method on `path`: (the response, its body), synchronously."""
    results = []
    deferred = http.request(method, "http://localhost" + path)
    deferred.addCallback(lambda r: http.content(r).addCallback(lambda b: results.append((r, b))))
    http.flush()
    return results[0]


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/api/rooms"), ("DELETE", "/api/nothing"), ("PUT", "/api"), ("OPTIONS", "/api/")],
)
def test_a_method_the_api_does_not_take_is_405_json_with_allow(
    http: StubTreq, method: str, path: str
) -> None:
    """Whatever the path, a method the API lacks is 405 as JSON, with `Allow`."""
    response, body = send(http, method, path)
    assert response.code == 405
    assert response.headers.getRawHeaders(b"allow") == [b"GET, HEAD"]
    assert response.headers.getRawHeaders(b"content-type") == [b"application/json; charset=utf-8"]
    assert json.loads(body) == {
        "error": "method-not-allowed",
        "message": f"{method} is not allowed here; use GET, HEAD",
    }


def test_head_of_an_api_path_is_answered_as_get_without_a_body(http: StubTreq) -> None:
    """HEAD is not refused: it gets GET's status and headers, and no body."""
    response, body = send(http, "HEAD", "/api/rooms")
    assert response.code == 200
    assert response.headers.getRawHeaders(b"content-type") == [b"application/json; charset=utf-8"]
    assert body == b""
