"""`POST /api/rooms/ROOM/messages`: scripts publish as their token's bot (treq's StubTreq over
`web.make_root`, with an `ApiResource` holding a `TokenTable`)."""

import json
from collections.abc import Callable
from typing import Any

import pytest
from treq.testing import StubTreq

from chathub.api import ApiResource
from chathub.commands import Nick, Say
from chathub.errors import nick_of_a_bot
from chathub.events import Error, Event, Welcome
from chathub.hub import Hub
from chathub.jsonwire import event_fields
from chathub.publish import IDEMPOTENCY_KEYS, IDEMPOTENCY_SECONDS
from chathub.store import MemoryStore
from chathub.tokens import TokenTable, hash_secret, parse_tokens
from chathub.web import make_root
from tests.recording import RecordingClient

DEPLOY = "chathub_deploy-secret"
CI = "chathub_ci-secret"
NOW = 1_700_000_000.5


class Store(MemoryStore):
    """The memory store, made to fall behind or to open rooms only when told."""

    def __init__(self) -> None:
        super().__init__()
        self.is_behind = False
        self.hold_rooms = False
        self.opening: list[Callable[[], None]] = []

    def behind(self) -> bool:
        return self.is_behind

    def open_room(self, room: str, ready: Callable[[], None]) -> None:
        if self.hold_rooms:
            self.opening.append(ready)
        else:
            ready()

    def open_held_rooms(self) -> None:
        opening, self.opening = self.opening, []
        for ready in opening:
            ready()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store() -> Store:
    return Store()


@pytest.fixture
def tokens() -> TokenTable:
    tables = (
        {"name": "deploy", "nick": "deploy-bot", "rooms": ["dev", "ops"], "rate": 5,
         "hash": hash_secret(DEPLOY)},
        {"name": "ci", "nick": "ci", "rooms": ["*"], "rate": 1000, "hash": hash_secret(CI)},
    )  # fmt: skip
    return TokenTable(parse_tokens(tables))


@pytest.fixture
def hub(store: Store, tokens: TokenTable) -> Hub:
    hub = Hub(store, clock=lambda: NOW)
    hub.bots = tokens.bot_nicks()
    return hub


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def http(hub: Hub, tokens: TokenTable, clock: Clock) -> StubTreq:
    api = ApiResource(hub, tokens)
    api.publisher.clock = clock
    return StubTreq(make_root(hub, api=api))


Answer = tuple[int, dict[bytes, list[bytes]], Any]


def post(
    http: StubTreq,
    body: Any,
    room: str = "dev",
    token: str | None = DEPLOY,
    key: str | None = None,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> Answer:
    """POST `body` (as JSON, or `raw` bytes) and return (status, headers, parsed JSON)."""
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    if key is not None:
        sent["Idempotency-Key"] = key
    data = raw if raw is not None else json.dumps(body).encode()
    results: list[Any] = []
    deferred = http.post(f"http://localhost/api/rooms/{room}/messages", data=data, headers=sent)
    deferred.addCallback(lambda r: http.content(r).addCallback(lambda b: results.append((r, b))))
    http.flush()
    assert results, "no answer yet"
    response, content = results[0]
    headers = {name.lower(): values for name, values in response.headers.getAllRawHeaders()}
    return response.code, headers, json.loads(content)


def pending_post(http: StubTreq, body: Any, key: str) -> list[Any]:
    """POST without waiting: the list gets (status, JSON) once the answer comes."""
    results: list[Any] = []
    headers = {"Authorization": f"Bearer {DEPLOY}", "Idempotency-Key": key}
    deferred = http.post(
        "http://localhost/api/rooms/dev/messages", data=json.dumps(body).encode(), headers=headers
    )
    deferred.addCallback(
        lambda r: http.content(r).addCallback(lambda b: results.append((r.code, json.loads(b))))
    )
    http.flush()
    return results


def stored(hub: Hub, room: str = "dev") -> list[Event]:
    store = hub.store
    assert isinstance(store, MemoryStore)
    return store.since(room, 0, 1000)


def member(hub: Hub, room: str = "dev", nick: str = "alice") -> RecordingClient:
    client = RecordingClient()
    hub.connect(client, nick=nick, rooms=[room])
    client.clear()
    return client


# --- 201 ------------------------------------------------------------------------------------------


def test_a_message_is_published_and_answered_with_its_id(hub: Hub, http: StubTreq) -> None:
    """201 `{"room", "id", "ts"}`; members get the event said by the bot's nick."""
    alice = member(hub)
    code, headers, body = post(http, {"text": "deployed 1.2"})
    assert code == 201
    assert headers[b"content-type"] == [b"application/json; charset=utf-8"]
    assert body == {"room": "dev", "id": 1, "ts": NOW}
    assert alice.items == [Event("dev", "message", "deploy-bot", "deployed 1.2", NOW, 1, bot=True)]


def test_an_array_is_published_as_one_batch_with_consecutive_ids(hub: Hub, http: StubTreq) -> None:
    """An array is answered with `ids` in order; members get it as one batch."""
    post(http, {"text": "first"})
    alice = member(hub)
    batches: list[tuple[Event, ...]] = []
    alice.deliver_events = batches.append  # type: ignore[method-assign]
    posts = [{"text": "a"}, {"text": "waves", "kind": "action"}, {"text": "c"}]
    code, _, body = post(http, posts)
    assert (code, body) == (201, {"room": "dev", "ids": [2, 3, 4], "ts": NOW})
    assert [[(e.kind, e.text, e.id) for e in batch] for batch in batches] == [
        [("message", "a", 2), ("action", "waves", 3), ("message", "c", 4)]
    ]


def test_an_array_of_one_is_still_answered_with_ids(http: StubTreq) -> None:
    """The answer's shape follows the body's: an array gets `ids`, even of one."""
    assert post(http, [{"text": "one"}])[2] == {"room": "dev", "ids": [1], "ts": NOW}


def test_the_stored_event_is_marked_as_a_bot_s(hub: Hub, http: StubTreq) -> None:
    """The event kept in history has `bot` set, and the bot's nick; ids go on from the room's."""
    talker = hub.connect(RecordingClient(), nick="alice", rooms=["dev"])
    hub.handle(talker, Say("hello"))
    post(http, {"text": "deployed", "kind": "action"})
    assert [(e.nick, e.kind, e.text, e.id, e.bot) for e in stored(hub)] == [
        ("alice", "message", "hello", 1, False),
        ("deploy-bot", "action", "deployed", 2, True),
    ]


def test_a_room_nobody_is_in_gets_the_message_in_its_history(hub: Hub, http: StubTreq) -> None:
    """A bot publishes whether or not anyone is in the room; the name is normalized."""
    code, _, body = post(http, {"text": "nightly green"}, room="%23Ops")
    assert (code, body["room"], body["id"]) == (201, "ops", 1)
    assert [e.text for e in stored(hub, "ops")] == ["nightly green"]
    assert "ops" not in hub.members


def test_a_text_of_exactly_4000_characters_is_published(http: StubTreq) -> None:
    """The limit is inclusive: 4,000 characters pass."""
    assert post(http, {"text": "x" * 4000})[0] == 201


def test_control_characters_are_cleaned_like_any_message(hub: Hub, http: StubTreq) -> None:
    """A bot's text has the room messages' rules: escape sequences are removed."""
    post(http, {"text": "red\x1b[31m alert\x07"})
    post(http, None, raw=b'{"text": "\\ud800half a pair"}')
    assert [e.text for e in stored(hub)] == ["red alert", "half a pair"]


# --- 400 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"not json", "bad-json"),
        (b"", "bad-json"),
        (b"\xff\xfe{", "bad-json"),
        (b"[" * 100_000, "bad-json"),
        (b'"just a string"', "bad-request"),
        (b"5", "bad-request"),
        (b"null", "bad-request"),
        (b"[]", "bad-request"),
        (b"{}", "bad-request"),
        (b'{"text": 5}', "bad-request"),
        (b'{"text": null}', "bad-request"),
        (b'{"text": "hi", "nick": "root"}', "bad-request"),
        (b'{"text": "hi", "kind": "join"}', "bad-request"),
        (b'{"text": "hi", "kind": null}', "bad-request"),
        (b'[{"text": "ok"}, "no"]', "bad-request"),
        (b'{"text": ""}', "empty"),
        (b'{"text": "   "}', "empty"),
        (b'{"text": "\\u001b[2J"}', "empty"),
        (b'[{"text": "ok"}, {"text": ""}]', "empty"),
    ],
)
def test_a_malformed_body_is_400_and_publishes_nothing(
    hub: Hub, http: StubTreq, raw: bytes, code: str
) -> None:
    """Not JSON, not `{"text": string}` (or an array of them), an unknown field or kind, or an
    empty text: 400 with a JSON error, and nothing stored, not even the good items."""
    status, headers, body = post(http, None, raw=raw)
    assert (status, body["error"]) == (400, code)
    assert isinstance(body["message"], str) and body["message"]
    assert headers[b"content-type"] == [b"application/json; charset=utf-8"]
    assert stored(hub) == []


@pytest.mark.parametrize("room", ["no%20spaces", "x" * 33, "a.b", "%C3%A9t%C3%A9"])
def test_a_bad_room_name_is_400(http: StubTreq, room: str) -> None:
    """A room name outside the rules is `bad-room`."""
    status, _, body = post(http, {"text": "hi"}, room=room)
    assert (status, body["error"]) == (400, "bad-room")


@pytest.mark.parametrize("key", ["x" * 65, "caf\u00e9", "tab\there", ""])
def test_a_bad_idempotency_key_is_400(hub: Hub, http: StubTreq, key: str) -> None:
    """An Idempotency-Key is 1 to 64 printable ASCII characters."""
    raw_key = key.encode("latin-1")
    results: list[Any] = []
    headers = {b"Authorization": [f"Bearer {DEPLOY}".encode()], b"Idempotency-Key": [raw_key]}
    deferred = http.post("http://localhost/api/rooms/dev/messages", data=b'{"text":"x"}',
                         headers=headers)  # fmt: skip
    deferred.addCallback(lambda r: http.content(r).addCallback(lambda b: results.append((r, b))))
    http.flush()
    response, content = results[0]
    assert (response.code, json.loads(content)["error"]) == (400, "bad-idempotency-key")
    assert stored(hub) == []


# --- 401, 403 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Basic ZGVwbG95OnNlY3JldA==", DEPLOY, "Token " + DEPLOY],
)
def test_no_bearer_token_is_401_with_www_authenticate(
    hub: Hub, http: StubTreq, authorization: str | None
) -> None:
    """Without `Authorization: Bearer TOKEN`: 401, `WWW-Authenticate: Bearer`, nothing stored."""
    headers = {} if authorization is None else {"Authorization": authorization}
    status, answer_headers, body = post(http, {"text": "hi"}, token=None, headers=headers)
    assert (status, body["error"]) == (401, "unauthorized")
    assert answer_headers[b"www-authenticate"] == [b"Bearer"]
    assert stored(hub) == []


def test_an_unknown_token_is_401_with_www_authenticate(hub: Hub, http: StubTreq) -> None:
    """A secret no token has is 401 `unknown token`; so is a token's hash sent as a secret."""
    for secret in ("chathub_nope", hash_secret(DEPLOY), DEPLOY + " "):
        status, headers, body = post(http, {"text": "hi"}, token=secret.rstrip() + "x")
        assert (status, body) == (401, {"error": "unauthorized", "message": "unknown token"})
        assert headers[b"www-authenticate"] == [b"Bearer"]
    assert stored(hub) == []


def test_the_scheme_is_case_insensitive(http: StubTreq) -> None:
    """`bearer` works as `Bearer` does (RFC 7235: the scheme is case-insensitive)."""
    headers = {"Authorization": "bearer " + DEPLOY}
    assert post(http, {"text": "hi"}, token=None, headers=headers)[0] == 201


def test_a_room_the_token_may_not_publish_to_is_403(hub: Hub, http: StubTreq) -> None:
    """The deploy token may publish to dev and ops only: lobby is 403 and stays empty."""
    status, _, body = post(http, {"text": "hi"}, room="lobby")
    assert (status, body["error"]) == (403, "forbidden")
    assert "deploy" in body["message"] and "lobby" in body["message"]
    assert stored(hub, "lobby") == []


def test_a_token_for_any_room_may_publish_anywhere(http: StubTreq) -> None:
    """`rooms = ["*"]`: every valid room."""
    assert post(http, {"text": "hi"}, room="lobby", token=CI)[0] == 201


# --- 413 ------------------------------------------------------------------------------------------


def test_more_than_100_messages_is_413(hub: Hub, http: StubTreq) -> None:
    """101 items: 413 `too-large`, nothing stored; 100 pass."""
    status, _, body = post(http, [{"text": str(n)} for n in range(101)], token=CI)
    assert (status, body["error"]) == (413, "too-large")
    assert stored(hub) == []
    status, _, body = post(http, [{"text": str(n)} for n in range(100)], token=CI)
    assert (status, body["ids"]) == (201, list(range(1, 101)))


def test_a_text_over_4000_characters_is_413(hub: Hub, http: StubTreq) -> None:
    """4,001 characters (alone or in an array): 413 `too-large`, nothing stored."""
    for body_sent in ({"text": "x" * 4001}, [{"text": "ok"}, {"text": "é" * 4001}]):
        status, _, body = post(http, body_sent)
        assert (status, body["error"]) == (413, "too-large")
        assert "4000" in body["message"]
    assert stored(hub) == []


# --- 429 ------------------------------------------------------------------------------------------


def test_past_the_token_s_rate_is_429_with_retry_after(
    hub: Hub, http: StubTreq, clock: Clock
) -> None:
    """rate 5: a burst of 10, then 429 with Retry-After; a fifth of a second later, one more."""
    for n in range(10):
        assert post(http, {"text": f"m{n}"})[0] == 201
    status, headers, body = post(http, {"text": "one too many"})
    assert (status, body["error"]) == (429, "rate-limited")
    assert headers[b"retry-after"] == [b"1"]
    assert "5 messages a second" in body["message"]
    clock.now += 0.2
    assert post(http, {"text": "after a fifth of a second"})[0] == 201
    assert post(http, {"text": "too soon again"})[0] == 429
    assert len(stored(hub)) == 11


def test_the_rate_is_per_token(http: StubTreq) -> None:
    """One token past its rate does not slow another."""
    for n in range(10):
        post(http, {"text": f"m{n}"})
    assert post(http, {"text": "x"})[0] == 429
    assert post(http, {"text": "x"}, token=CI)[0] == 201


def test_an_array_counts_each_of_its_messages(http: StubTreq, clock: Clock) -> None:
    """An array of 8 takes 8 of the burst of 10: a second array of 8 waits, with Retry-After
    saying how long (6 tokens short at 5 a second: 2 seconds)."""
    assert post(http, [{"text": "x"}] * 8)[0] == 201
    status, headers, _ = post(http, [{"text": "x"}] * 8)
    assert (status, headers[b"retry-after"]) == (429, [b"2"])
    clock.now += 1.2
    assert post(http, [{"text": "x"}] * 8)[0] == 201


# --- 503 ------------------------------------------------------------------------------------------


def test_while_the_store_is_behind_503_with_retry_after(
    hub: Hub, http: StubTreq, store: Store
) -> None:
    """History cannot keep up: 503 `unavailable` with Retry-After, nothing published; once it
    has caught up, publishing works again."""
    alice = member(hub)
    store.is_behind = True
    status, headers, body = post(http, {"text": "deployed"})
    assert (status, body["error"]) == (503, "unavailable")
    assert headers[b"retry-after"] == [b"1"]
    assert alice.items == [] and stored(hub) == []
    store.is_behind = False
    assert post(http, {"text": "deployed"})[0] == 201


def test_a_store_falling_behind_while_the_room_opens_is_503(
    hub: Hub, http: StubTreq, store: Store
) -> None:
    """The check is made again once the room is open (a read from disk may take a while)."""
    store.hold_rooms = True
    results = pending_post(http, {"text": "deployed"}, key="k1")
    assert results == []
    store.is_behind = True
    store.open_held_rooms()
    http.flush()
    assert results == [(503, {"error": "unavailable", "message": "history is busy; try again"})]
    assert stored(hub) == []


def test_a_503_is_not_remembered_for_the_idempotency_key(
    hub: Hub, http: StubTreq, store: Store
) -> None:
    """A retry with the same key after a 503 publishes: nothing was published the first time."""
    store.is_behind = True
    assert post(http, {"text": "deployed"}, key="deploy-42")[0] == 503
    store.is_behind = False
    assert post(http, {"text": "deployed"}, key="deploy-42")[0] == 201
    assert len(stored(hub)) == 1


# --- idempotency ----------------------------------------------------------------------------------


def test_the_same_key_gets_the_same_answer_and_publishes_once(hub: Hub, http: StubTreq) -> None:
    """A repeat with the same key and token gets the first answer again; members get one copy."""
    alice = member(hub)
    first = post(http, {"text": "deployed 1.2"}, key="deploy-1.2")
    again = post(http, {"text": "deployed 1.2"}, key="deploy-1.2")
    assert first[0] == again[0] == 201
    assert first[2] == again[2] == {"room": "dev", "id": 1, "ts": NOW}
    assert len(alice.items) == 1
    assert len(stored(hub)) == 1


def test_a_repeat_does_not_count_against_the_rate(http: StubTreq) -> None:
    """Answering a repeat publishes nothing, so it takes nothing from the token's bucket."""
    post(http, {"text": "x"}, key="same")
    for _ in range(20):
        assert post(http, {"text": "x"}, key="same")[0] == 201
    for n in range(9):
        assert post(http, {"text": f"m{n}"})[0] == 201


def test_a_repeat_of_an_array_gets_the_same_ids(hub: Hub, http: StubTreq) -> None:
    """The first answer, `ids` and all."""
    posts = [{"text": "a"}, {"text": "b"}]
    assert post(http, posts, key="batch")[2] == post(http, posts, key="batch")[2]
    assert len(stored(hub)) == 2


def test_the_same_key_from_another_token_is_another_request(hub: Hub, http: StubTreq) -> None:
    """Keys are per token: the same key from two tokens publishes twice."""
    assert post(http, {"text": "x"}, key="k")[2]["id"] == 1
    assert post(http, {"text": "x"}, key="k", token=CI)[2]["id"] == 2
    assert [e.nick for e in stored(hub)] == ["deploy-bot", "ci"]


def test_different_keys_publish_separately(hub: Hub, http: StubTreq) -> None:
    """Two keys, two messages."""
    post(http, {"text": "x"}, key="k1")
    post(http, {"text": "x"}, key="k2")
    assert len(stored(hub)) == 2


def test_a_refusal_is_remembered_too(hub: Hub, http: StubTreq) -> None:
    """A request that was refused for what it said (413) gets the same refusal again."""
    first = post(http, {"text": "x" * 4001}, key="big")
    assert first[0] == 413
    assert post(http, {"text": "small now"}, key="big")[:3:2] == first[:3:2]
    assert stored(hub) == []


def test_a_key_is_forgotten_after_10_minutes(hub: Hub, http: StubTreq, clock: Clock) -> None:
    """After `IDEMPOTENCY_SECONDS` the same key publishes again."""
    assert IDEMPOTENCY_SECONDS == 600
    post(http, {"text": "x"}, key="k")
    clock.now += 599
    assert post(http, {"text": "x"}, key="k")[2]["id"] == 1
    clock.now += 2
    assert post(http, {"text": "x"}, key="k")[2]["id"] == 2


def test_the_keys_kept_are_bounded(
    http: StubTreq, hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the bound, the oldest key is forgotten first."""
    assert IDEMPOTENCY_KEYS == 10_000
    monkeypatch.setattr("chathub.publish.IDEMPOTENCY_KEYS", 3)
    for key in ("a", "b", "c", "d"):
        post(http, {"text": key}, key=key, token=CI)
    assert post(http, {"text": "a"}, key="a", token=CI)[2]["id"] == 5  # forgotten
    assert post(http, {"text": "d"}, key="d", token=CI)[2]["id"] == 4  # kept


def test_a_repeat_while_the_first_is_under_way_waits_for_its_answer(
    hub: Hub, http: StubTreq, store: Store
) -> None:
    """A retry that arrives before the first request is answered (the room is still being read
    from disk) does not publish again: both get the first answer when it comes."""
    store.hold_rooms = True
    first = pending_post(http, {"text": "deployed"}, key="k")
    second = pending_post(http, {"text": "deployed"}, key="k")
    assert first == second == []
    store.open_held_rooms()
    http.flush()
    assert first == second == [(201, {"room": "dev", "id": 1, "ts": NOW})]
    assert len(stored(hub)) == 1


# --- the bot's nick -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "nick", ["deploy-bot", "Deploy-Bot", "DEPLOY-BOT", "dep1oy-bot", "depIoy-b0t"]
)
def test_a_client_cannot_take_a_bot_s_nick_or_a_lookalike(hub: Hub, nick: str) -> None:
    """`/nick deploy-bot` (in any case, or with 1/l/I or 0/o swapped) is refused."""
    client = RecordingClient()
    session = hub.connect(client, nick="alice", rooms=["dev"])
    client.clear()
    hub.handle(session, Nick(nick))
    assert client.items == [nick_of_a_bot(nick)]
    assert session.nick == "alice"


def test_a_client_cannot_connect_as_a_bot(hub: Hub) -> None:
    """Asking for the bot's nick at connect gets a guest nick and the refusal."""
    client = RecordingClient()
    session = hub.connect(client, nick="ci", rooms=["dev"])
    assert session.nick.startswith("guest-")
    welcome = client.of_type(Welcome)
    assert welcome and welcome[0].nick == session.nick
    assert Error("nick-reserved", "the nick ci belongs to a bot") in client.items


def test_websocket_events_of_a_bot_carry_bot_true(hub: Hub, http: StubTreq) -> None:
    """The event's JSON (WebSocket, SSE, history) has `"bot": true`."""
    post(http, {"text": "deployed"})
    assert event_fields(stored(hub)[0])["bot"] is True
    code, _, body = _get(http, "/api/rooms/dev/messages")
    assert code == 200 and body["events"][0]["bot"] is True


def _get(http: StubTreq, path: str) -> tuple[int, Any, Any]:
    results: list[Any] = []
    deferred = http.get("http://localhost" + path)
    deferred.addCallback(lambda r: http.content(r).addCallback(lambda b: results.append((r, b))))
    http.flush()
    response, content = results[0]
    return response.code, response.headers, json.loads(content)


# --- methods --------------------------------------------------------------------------------------


def test_other_methods_on_messages_are_405_naming_get_and_post(http: StubTreq) -> None:
    """PUT on the messages path: 405 with `Allow: GET, HEAD, POST`."""
    results: list[Any] = []
    deferred = http.put("http://localhost/api/rooms/dev/messages", data=b"{}")
    deferred.addCallback(lambda r: http.content(r).addCallback(lambda b: results.append((r, b))))
    http.flush()
    response, content = results[0]
    assert response.code == 405
    assert response.headers.getRawHeaders(b"allow") == [b"GET, HEAD, POST"]
    assert json.loads(content)["error"] == "method-not-allowed"
