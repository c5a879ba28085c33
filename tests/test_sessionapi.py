"""/api/session and /api/admin over treq's in-memory HTTP, and private rooms over HTTP."""

import json
from typing import Any

import pytest
from treq.testing import StubTreq
from twisted.web.resource import Resource

from chathub import commands as cmd
from chathub.api import ApiResource
from chathub.hub import Hub
from chathub.store import MemoryStore
from chathub.tokens import Token, TokenTable, hash_secret
from chathub.web import make_root
from tests.recording import RecordingClient

PASSWORD = "correct horse"
SECRET = "chathub_test-token"


@pytest.fixture
def hub() -> Hub:
    return Hub(MemoryStore(), clock=lambda: 1_700_000_000.5, operators=("root",))


@pytest.fixture
def http(hub: Hub) -> Resource:
    tokens = TokenTable((Token("reader", "reader-bot", ("dev",), 10.0, hash_secret(SECRET)),))
    return make_root(hub, api=ApiResource(hub, tokens))


def call(
    root: Resource, method: str, path: str, body: Any = None, **headers: str
) -> tuple[int, dict[bytes, list[bytes]], Any]:
    """One request from a new client (no cookie jar: only the headers given are sent)."""
    http = StubTreq(root)
    results = []
    data = json.dumps(body).encode() if body is not None else None
    raw = {name.replace("_", "-").encode(): [value.encode()] for name, value in headers.items()}
    deferred = http.request(method, "http://localhost" + path, data=data, headers=raw)
    deferred.addCallback(lambda r: http.content(r).addCallback(lambda b: results.append((r, b))))
    http.flush()
    response, content = results[0]
    parsed = json.loads(content) if content else None
    return response.code, dict(response.headers.getAllRawHeaders()), parsed


def register(hub: Hub, nick: str, rooms=("lobby",), address="127.0.0.1"):
    client = RecordingClient()
    session = hub.connect(client, nick=nick, rooms=(), address=address)
    hub.handle(session, cmd.Register(PASSWORD))
    assert session.account == nick
    for room in rooms:
        hub.handle(session, cmd.Join(room))  # joined as the account: it owns new rooms
    return client, session


def log_in(http: Resource, nick: str, password: str = PASSWORD):
    return call(http, "POST", "/api/session", {"nick": nick, "password": password})


def test_log_in_answers_a_token_and_sets_the_cookie(hub, http):
    """POST /api/session: 200 {nick, token}; the cookie is HttpOnly, SameSite=Lax."""
    register(hub, "alice")
    code, headers, body = log_in(http, "alice")
    assert code == 200 and body["nick"] == "alice"
    (cookie,) = headers[b"Set-Cookie"]
    assert cookie.startswith(f"chathub_session={body['token']};".encode())
    assert b"HttpOnly" in cookie and b"SameSite=Lax" in cookie and b"Path=/" in cookie
    assert b"Secure" not in cookie  # plain HTTP here
    assert hub.accounts.login(body["token"], 1_700_000_001.0) is not None
    code, _, who = call(http, "GET", "/api/session", cookie=f"chathub_session={body['token']}")
    assert (code, who["nick"]) == (200, "alice")


@pytest.mark.parametrize(
    ("body", "code", "error"),
    [
        ({"nick": "alice", "password": "wrong password"}, 401, "bad-password"),
        ({"nick": "nobody", "password": PASSWORD}, 401, "not-registered"),
        ({"nick": "alice"}, 400, "bad-request"),
    ],
)
def test_log_in_refusals(hub, http, body, code, error):
    register(hub, "alice")
    status, _, answer = call(http, "POST", "/api/session", body)
    assert (status, answer["error"]) == (code, error)


def test_failed_log_ins_end_in_429_with_retry_after(hub, http):
    register(hub, "alice")
    for _ in range(6):
        log_in(http, "alice", "wrong password")
    code, headers, body = log_in(http, "alice")
    assert (code, body["error"]) == (429, "rate-limited")
    assert int(headers[b"Retry-After"][0]) >= 1


def test_log_out_ends_the_session_and_clears_the_cookie(hub, http):
    """DELETE /api/session: the token stops working; connections that used it log out."""
    register(hub, "alice")
    _, _, body = log_in(http, "alice")
    token = body["token"]
    client = RecordingClient()
    session = hub.connect(client, token=token)
    assert session.account == "alice"
    code, headers, answer = call(http, "DELETE", "/api/session", authorization=f"Bearer {token}")
    assert (code, answer) == (200, {"nick": "alice"})
    assert b"Max-Age=0" in headers[b"Set-Cookie"][0]
    assert session.account is None and hub.accounts.login(token, 1_700_000_001.0) is None


def test_a_cookie_sent_from_another_site_is_not_used(hub, http):
    register(hub, "alice")
    _, _, body = log_in(http, "alice")
    cookie = f"chathub_session={body['token']}"
    code, _, _ = call(http, "GET", "/api/session", cookie=cookie, origin="https://evil.example")
    assert code == 401


def test_a_log_in_from_another_sites_page_is_refused(hub, http):
    """No page elsewhere can log its visitor in (and set the cookie) as someone else."""
    register(hub, "alice")
    body = {"nick": "alice", "password": PASSWORD}
    code, headers, answer = call(http, "POST", "/api/session", body, origin="https://evil.example")
    assert (code, answer["error"]) == (403, "cross-site") and b"Set-Cookie" not in headers
    assert call(http, "POST", "/api/session", body, origin="http://localhost")[0] == 200


def operator_token(hub: Hub, http: Resource) -> str:
    register(hub, "root", rooms=())
    return log_in(http, "root")[2]["token"]


def test_admin_needs_a_server_operator(hub, http):
    register(hub, "alice")
    token = log_in(http, "alice")[2]["token"]
    assert call(http, "GET", "/api/admin/bans")[0] == 401
    code, _, body = call(http, "GET", "/api/admin/bans", authorization=f"Bearer {token}")
    assert (code, body["error"]) == (403, "not-op")


def test_admin_bans_list_add_and_lift(hub, http):
    """POST, GET and DELETE /api/admin/bans: a room ban puts the member out."""
    auth = {"authorization": f"Bearer {operator_token(hub, http)}"}
    client = RecordingClient()
    bob = hub.connect(client, nick="bob", rooms=["dev"], address="10.0.0.2")
    code, _, body = call(
        http, "POST", "/api/admin/bans", {"mask": "bob", "room": "dev", "duration": "2h"}, **auth
    )
    assert code == 201 and body["ban"]["mask"] == "bob" and body["ban"]["room"] == "dev"
    assert "dev" not in bob.rooms
    code, _, body = call(http, "POST", "/api/admin/bans", {"mask": "10.9.0.0/16"}, **auth)
    assert code == 201 and body["ban"]["room"] is None
    _, _, listing = call(http, "GET", "/api/admin/bans", **auth)
    assert [(b["room"], b["mask"]) for b in listing["bans"]] == [
        (None, "10.9.0.0/16"), ("dev", "bob"),
    ]  # fmt: skip
    code, _, _ = call(http, "DELETE", "/api/admin/bans?mask=bob&room=dev", **auth)
    assert code == 200
    code, _, body = call(http, "DELETE", "/api/admin/bans?mask=bob&room=dev", **auth)
    assert (code, body["error"]) == (404, "no-such-ban")
    assert call(http, "POST", "/api/admin/bans", {"mask": "!"}, **auth)[2]["error"] == "bad-mask"


def test_admin_deletes_a_message_and_closes_a_room(hub, http):
    auth = {"authorization": f"Bearer {operator_token(hub, http)}"}
    client = RecordingClient()
    bob = hub.connect(client, nick="bob", rooms=["dev"])
    hub.handle(bob, cmd.Say("spam"))
    hub.handle(bob, cmd.Say("fine"))
    assert call(http, "DELETE", "/api/admin/rooms/dev/messages/1", **auth)[0] == 200
    assert call(http, "DELETE", "/api/admin/rooms/dev/messages/1", **auth)[0] == 404
    _, _, body = call(http, "GET", "/api/rooms/dev/messages")
    assert [e["text"] for e in body["events"]] == ["fine"]
    code, _, body = call(http, "POST", "/api/admin/rooms/dev/close", {"reason": "x"}, **auth)
    assert (code, body) == (200, {"room": "dev", "closed": True})
    assert "dev" not in bob.rooms
    assert call(http, "GET", "/api/rooms/dev/messages")[2]["events"] == []
    bot = {"authorization": f"Bearer {SECRET}"}
    code, _, body = call(http, "POST", "/api/rooms/dev/messages", {"text": "x"}, **bot)
    assert (code, body["error"]) == (403, "room-closed")
    assert call(http, "POST", "/api/admin/rooms/dev/open", **auth)[2]["closed"] is False
    assert call(http, "PUT", "/api/admin/rooms/dev/open", **auth)[0] == 405


def test_a_secret_room_is_hidden_over_http_but_not_from_a_token_naming_it(hub, http):
    """+s: /api/rooms and the messages leave it out for anonymous readers; an API token whose
    rooms name it, and its owner's log-in, read it."""
    _, alice = register(hub, "alice", rooms=("dev",))
    hub.handle(alice, cmd.Say("secret plans"))
    hub.handle(alice, cmd.Mode("+s"))
    _, _, rooms = call(http, "GET", "/api/rooms")
    assert "dev" not in [room["name"] for room in rooms["rooms"]]
    assert call(http, "GET", "/api/rooms/dev/messages")[2]["events"] == []
    reader = {"authorization": f"Bearer {SECRET}"}
    _, _, body = call(http, "GET", "/api/rooms/dev/messages", **reader)
    assert [e["text"] for e in body["events"]] == ["secret plans"]
    token = log_in(http, "alice")[2]["token"]
    _, _, body = call(http, "GET", "/api/rooms", cookie=f"chathub_session={token}")
    assert "dev" in [room["name"] for room in body["rooms"]]
