"""Accounts on the real process, on every transport: telnet, WebSocket and HTTP; refusals with
their codes; restarts; and passwords never kept or shown in clear."""

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.accounts import (
    PASSWORD,
    error,
    http,
    is_type,
    log_in,
    registered,
    start_with_operator,
    telnet,
    web,
)
from tests.e2e.conftest import HubProcess

NEW_PASSWORD = "staple-battery-horse"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[HubProcess]:
    running = start_with_operator(tmp_path)
    yield running
    if running.process.poll() is None:
        running.process.kill()
        running.process.wait()


def test_telnet_register_identify_logout_password(server):
    """Every account command on a terminal, with the lines it answers."""
    alice = registered(server, "alice")
    alice.send("/logout")
    alice.expect("* you are no longer identified")
    alice.send("/identify alice not-the-password")
    alice.expect("! wrong password")
    alice.send(f"/identify {PASSWORD}")
    alice.expect("* you are identified as alice")
    alice.send(f"/password {PASSWORD} {NEW_PASSWORD}")
    alice.expect("* password changed; 0 other log-ins ended")
    alice.send("/logout")
    alice.expect("* you are no longer identified")
    alice.send(f"/identify alice {PASSWORD}")
    alice.expect("! wrong password")
    alice.send(f"/identify alice {NEW_PASSWORD}")
    alice.expect("* you are identified as alice")


def test_telnet_refusals(server):
    """A short password, a registered nick, an unknown account, commands needing a log-in."""
    registered(server, "alice").close()
    bob = telnet(server, "bob")
    bob.send("/register short")
    bob.expect("! a password is 8 to 128 characters")
    bob.send("/nick aIice")
    bob.expect("! the nick aIice is registered; /identify aIice PASSWORD")
    bob.send("/identify nobody something-long")
    bob.expect("! the nick 'nobody' is not registered")
    bob.send("/logout")
    bob.expect("! you are not identified; /identify [NICK] PASSWORD first")
    bob.send(f"/password {PASSWORD} {NEW_PASSWORD}")
    bob.expect("! you are not identified")
    guest = telnet(server)
    guest.send(f"/register {PASSWORD}")
    guest.expect("! a guest nick cannot be registered")


def test_websocket_account_ops_and_their_codes(server):
    """register, identify, logout, password as ops: one reply each with its ref; refusals
    with bad-password, not-registered, nick-registered."""
    ws = web(server, "?nick=wsuser")
    ws.send(op="register", password=PASSWORD, ref=1)
    ws.expect(is_type("account", account="wsuser", nick="wsuser", ref=1))
    ws.send(op="logout", ref=2)
    ws.expect(is_type("account", account=None, ref=2))
    ws.send(op="identify", password="not-the-password", ref=3)
    ws.expect(error("bad-password", 3))
    ws.send(op="identify", nick="nobody", password=PASSWORD, ref=4)
    ws.expect(error("not-registered", 4))
    ws.send(op="identify", nick="wsuser", password=PASSWORD, ref=5)
    ws.expect(is_type("account", account="wsuser", ref=5))
    ws.send(op="password", old="not-the-password", new=NEW_PASSWORD, ref=6)
    ws.expect(error("bad-password", 6))
    ws.send(op="password", old=PASSWORD, new=NEW_PASSWORD, ref=7)
    changed = ws.expect(lambda m: m.get("ref") == 7)
    assert changed["kind"] == "notice" and "password changed" in changed["text"]
    other = web(server, "?nick=wsuser")
    welcome = other.expect(is_type("welcome"))
    assert welcome["nick"].startswith("guest-") and welcome["account"] is None
    taken = other.expect(error("nick-registered"))
    assert taken["nick"] == "wsuser"
    other.send(op="register", password=PASSWORD, ref=8)
    other.expect(error("bad-nick", 8))  # a guest nick
    other.send(op="nick", nick="carol")
    other.send(op="register", password="short", ref=9)
    other.expect(error("bad-password", 9))


def test_http_session_then_websocket_by_cookie_and_token(server):
    """POST /api/session gives a token and the cookie; /ws with either is identified; GET
    says who; DELETE ends it, and the token then gets a guest and bad-token."""
    registered(server, "alice").close()
    status, headers, body = http(
        server, "POST", "/api/session", {"nick": "alice", "password": PASSWORD}
    )
    assert status == 200 and body["nick"] == "alice"
    token = body["token"]
    cookie = headers["Set-Cookie"]
    assert cookie.startswith(f"chathub_session={token};")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    by_cookie = web(server, additional_headers={"Cookie": f"chathub_session={token}"})
    welcome = by_cookie.expect(is_type("welcome"))
    assert (welcome["nick"], welcome["account"]) == ("alice", "alice")
    by_query = web(server, f"?token={token}&nick=alice2")
    welcome = by_query.expect(is_type("welcome"))
    assert (welcome["nick"], welcome["account"]) == ("alice2", "alice")
    status, _, who = http(server, "GET", "/api/session", Cookie=f"chathub_session={token}")
    assert (status, who["nick"]) == (200, "alice")
    status, headers, body = http(server, "DELETE", "/api/session", Authorization=f"Bearer {token}")
    assert (status, body) == (200, {"nick": "alice"}) and "Max-Age=0" in headers["Set-Cookie"]
    by_cookie.expect(is_type("account", account=None))
    stale = web(server, f"?token={token}")
    assert stale.expect(is_type("welcome"))["account"] is None
    stale.expect(error("bad-token"))
    assert http(server, "GET", "/api/session", Authorization=f"Bearer {token}")[0] == 401


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"nick": "alice", "password": "not-the-password"}, 401, "bad-password"),
        ({"nick": "nobody", "password": PASSWORD}, 401, "not-registered"),
        ({"password": PASSWORD}, 400, "bad-request"),
    ],
)
def test_http_log_in_refusals(server, body, status, code):
    registered(server, "alice").close()
    got, _, answer = http(server, "POST", "/api/session", body)
    assert (got, answer["error"]) == (status, code)


def test_failed_log_ins_are_rate_limited_on_every_transport(server):
    """After the account's free failures it is locked: HTTP 429 with Retry-After, and the
    same refusal (rate-limited) on the WebSocket and on telnet."""
    registered(server, "alice").close()

    def fail() -> None:
        http(server, "POST", "/api/session", {"nick": "alice", "password": "guessing-1"})

    guesses = [threading.Thread(target=fail) for _ in range(6)]
    for guess in guesses:
        guess.start()
    for guess in guesses:
        guess.join()
    status, headers, body = http(
        server, "POST", "/api/session", {"nick": "alice", "password": PASSWORD}
    )
    assert (status, body["error"]) == (429, "rate-limited")
    assert int(headers["Retry-After"]) >= 1
    ws = web(server)
    ws.send(op="identify", nick="alice", password=PASSWORD, ref="r")
    ws.expect(error("rate-limited", "r"))
    terminal = telnet(server)
    terminal.send(f"/identify alice {PASSWORD}")
    terminal.expect("! too many failed log-ins; try again in")


def test_an_identified_user_takes_the_nick_from_an_unidentified_holder(server):
    """alice logs out on telnet (keeping the nick); connecting with her token elsewhere takes
    the nick back: the telnet connection becomes a guest and is told."""
    terminal = registered(server, "alice")
    token = log_in(server, "alice")
    terminal.send("/logout")
    terminal.expect("* you are no longer identified")
    browser = web(server, f"?token={token}")
    welcome = browser.expect(is_type("welcome"))
    assert (welcome["nick"], welcome["account"]) == ("alice", "alice")
    terminal.expect("* the nick alice was taken back (its account identified); you are guest-")
    terminal.expect("* alice is now known as guest-")


def test_a_reload_keeps_who_you_were(server):
    """A page that reconnects with its cookie gets its nick back at once, even while its old
    connection has not gone yet (the old one becomes a guest)."""
    registered(server, "alice").close()
    token = log_in(server, "alice")
    cookie = {"additional_headers": {"Cookie": f"chathub_session={token}"}}
    first = web(server, "?rooms=dev", **cookie)
    assert first.expect(is_type("welcome"))["nick"] == "alice"
    second = web(server, "?nick=alice&rooms=dev", **cookie)
    assert second.expect(is_type("welcome"))["nick"] == "alice"


def test_accounts_and_log_ins_survive_a_restart(tmp_path):
    """After SIGTERM and a new start on the same file: the nick is still registered, the
    password still works, and so does a log-in token made before."""
    db = str(tmp_path / "chathub.db")
    first = start_with_operator(tmp_path, db=db)
    registered(first, "alice").close()
    token = log_in(first, "alice")
    assert first.stop() == 0
    second = start_with_operator(tmp_path, db=db)
    try:
        bob = telnet(second, "bob")
        bob.send("/nick alice")
        bob.expect("! the nick alice is registered")
        bob.send(f"/identify alice {PASSWORD}")
        bob.expect("* you are identified as alice")
        again = web(second, f"?token={token}")
        assert again.expect(is_type("welcome"))["account"] == "alice"
    finally:
        second.stop()


def test_passwords_and_tokens_never_appear_in_clear(tmp_path):
    """After a session that used a known password everywhere (register, identify, password
    change, HTTP log-in, WebSocket identify): neither password nor the token is in the log,
    /healthz, /metrics, or any file of the database."""
    db = tmp_path / "chathub.db"
    hub = start_with_operator(tmp_path, db=str(db))
    secret_one, secret_two = "Zebra-Quokka-7741", "Yak-Narwhal-9182"
    alice = registered(hub, "alice", secret_one)
    alice.send(f"/identify {secret_one}")
    alice.expect("already identified")
    alice.send(f"/password {secret_one} {secret_two}")
    alice.expect("* password changed")
    token = log_in(hub, "alice", secret_two)
    ws = web(hub)
    ws.send(op="identify", nick="alice", password=secret_two, ref=1)
    ws.expect(is_type("account", ref=1))
    ws.send(op="identify", nick="alice", password=secret_one, ref=2)
    ws.expect(lambda m: m.get("ref") == 2)
    http(hub, "POST", "/api/session", {"nick": "alice", "password": secret_one})
    _, _, health = http(hub, "GET", "/healthz")
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{hub.admin}/metrics", timeout=10) as page:
        metrics = page.read().decode()
    assert hub.stop() == 0
    files = [path.read_bytes() for path in tmp_path.glob("chathub.db*")]
    log = (tmp_path / "hub.log").read_bytes()
    for secret in (secret_one, secret_two, token):
        assert secret not in str(health) and secret not in metrics
        assert secret.encode() not in log
        assert all(secret.encode() not in data for data in files)
    assert any(b"$argon2id$" in data for data in files)  # what is kept instead
    assert "logins_failed" in str(health)
