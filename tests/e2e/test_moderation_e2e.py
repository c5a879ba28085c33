"""Rooms' owners, operators and moderation on the real process, on every transport: each command
and op, each refusal with its code, the admin API, and persistence across a restart."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.accounts import (
    error,
    http,
    is_type,
    last_id,
    log_in,
    registered,
    start_with_operator,
    stream,
    telnet,
    web,
)
from tests.e2e.conftest import HubProcess
from tests.e2e.test_websocket_e2e import event


@pytest.fixture
def server(tmp_path: Path) -> Iterator[HubProcess]:
    running = start_with_operator(tmp_path)
    yield running
    if running.process.poll() is None:
        running.process.kill()
        running.process.wait()


def owner_of(server: HubProcess, room: str, nick: str = "alice"):
    """A registered user who joined `room` first, and so owns it."""
    client = registered(server, nick)
    client.send(f"/join {room}")
    client.expect(f"* you are the owner of {room}")
    return client


def test_telnet_topic_modes_voice_kick(server):
    """/topic, /mode +m, /voice, /kick on a terminal, with the lines everyone sees."""
    alice = owner_of(server, "dev")
    bob = telnet(server, "bob")
    bob.send("/join dev")
    bob.expect("[dev] -> bob joined")
    alice.send("/topic release on Friday")
    bob.expect("[dev] * alice set the topic: release on Friday")
    bob.send("/topic mine now")
    bob.expect("! only an operator of dev may set the topic")
    carol = telnet(server, "carol")
    carol.send("/join dev")
    carol.expect("* topic of dev: release on Friday (set by alice)")
    carol.send("/topic")
    carol.expect("* topic of dev: release on Friday")
    alice.send("/mode +m")
    bob.expect("[dev] * alice set mode +m")
    bob.send("anyone?")
    bob.expect("! dev is moderated: only operators and voiced users speak")
    alice.send("/voice bob")
    bob.expect("[dev] * alice set mode +v bob")
    bob.send("thanks")
    alice.expect("[dev] <bob> thanks")
    alice.send("/mode")
    alice.expect("* modes of dev: +m")
    alice.send("/op carol")
    alice.expect("! carol is not identified: only an account can be an operator")
    bob.send("/kick carol")
    bob.expect("! only an operator of dev may kick")
    alice.send("/kick bob spam")
    bob.expect("[dev] <- bob was kicked by alice (spam)")
    carol.expect("[dev] <- bob was kicked by alice (spam)")


def test_telnet_bans_and_invitations(server):
    """/ban with a duration, the refusal to join, /bans, /unban; +i and /invite."""
    alice = owner_of(server, "dev")
    bob = telnet(server, "bob")
    bob.send("/join dev")
    bob.expect("[dev] -> bob joined")
    alice.send("/ban bob 2h spam")
    bob.expect("[dev] * alice banned bob for 2h (spam)")
    bob.expect("[dev] <- bob was kicked by alice (banned: spam)")
    bob.send("/join dev")
    bob.expect("! you are banned from dev (until ")
    alice.send("/bans")
    alice.expect("* bans of dev:")
    alice.expect("*   bob by alice for 2h, until ")
    alice.send("/ban not@a@mask")
    alice.expect("! 'not@a@mask' is not a mask")
    alice.send("/unban bob")
    alice.expect("[dev] * alice lifted the ban on bob")
    alice.send("/mode +i")
    alice.expect("[dev] * alice set mode +i")
    bob.send("/join dev")
    bob.expect("! dev is invite-only: an operator must invite you")
    alice.send("/invite bob")
    bob.expect("* alice invited you to dev; /join dev")
    bob.send("/join dev")
    bob.expect("[dev] -> bob joined")


def test_telnet_edit_and_delete(server):
    """Authors edit and delete their own messages, operators anyone's; others may not."""
    alice = owner_of(server, "dev")
    bob = telnet(server, "bob")
    bob.send("/join dev")
    bob.send("tpyo")
    bob.expect("[dev] <bob> tpyo")
    id = last_id(bob, "dev")
    bob.send(f"/edit {id} typo")
    alice.expect(f"[dev] * bob edited #{id}: typo")
    alice.send("/history 1")
    assert alice.expect("<bob> typo (edited)")[-1].startswith(f"[dev #{id} ")
    carol = telnet(server, "carol")
    carol.send("/join dev")
    carol.send(f"/edit {id} forged")
    carol.expect(f"! only its author or an operator may edit #{id}")
    carol.send(f"/delete {id + 100}")
    carol.expect(f"! there is no message #{id + 100} in dev")
    alice.send(f"/delete {id}")
    bob.expect(f"[dev] * alice deleted #{id}")
    bob.send("/history")
    bob.expect("* no messages in dev")


def test_an_edited_message_is_served_edited_and_a_deleted_one_nowhere(server):
    """After /edit and /delete: the API, the transcript and an event stream's catch-up give
    the new text (marked edited) and never the deleted message."""
    alice = owner_of(server, "dev")
    alice.send("first, with a tpyo")
    alice.expect("[dev] <alice> first, with a tpyo")  # two messages, not a paste of two lines
    alice.send("second, to be deleted")
    alice.expect("[dev] <alice> second, to be deleted")
    second = last_id(alice, "dev")
    alice.send(f"/edit {second - 1} first, fixed")
    alice.expect("edited")
    alice.send(f"/delete {second}")
    alice.expect("deleted")
    _, _, api = http(server, "GET", "/api/rooms/dev/messages")
    assert [(e["text"], e.get("edited")) for e in api["events"]] == [("first, fixed", True)]
    _, _, page = http(server, "GET", "/rooms/dev")
    assert "first, fixed" in page and "tpyo" not in page and "to be deleted" not in page
    caught_up = stream(server, "/api/rooms/dev/events?since=dev:0", 1.0)
    assert "first, fixed" in caught_up and '"edited":true' in caught_up
    assert "tpyo" not in caught_up and "to be deleted" not in caught_up


def test_telnet_kill_and_global_ban(server):
    """A server operator disconnects a user and bans it from the server; others may not."""
    root = registered(server, "root")
    alice = owner_of(server, "dev")
    spammer = telnet(server, "spammer")
    spammer.send("/join dev")
    alice.expect("[dev] -> spammer joined")
    alice.send("/kill spammer")
    alice.expect("! only an operator of this server may disconnect users")
    root.send("/kill spammer flooding")
    root.expect("* disconnected spammer")
    assert "! you were disconnected by root: flooding" in spammer.read_until_closed()
    alice.expect("[dev] <- spammer left (killed by root: flooding)")
    root.send("/gban spammer 30m spam")
    root.expect("* banned spammer from the server")
    again = telnet(server)
    again.send("/nick spammer")
    again.expect("! you are banned from this server: spam")
    root.send("/gbans")
    root.expect("*   spammer by root for 30m")
    root.send("/ungban spammer")
    root.expect("* lifted the server ban on spammer")
    again.send("/nick spammer")
    again.expect("is now known as spammer")


def test_websocket_moderation_ops_and_their_codes(server):
    """Every moderation op over /ws: one reply with the ref, refusals with their codes."""
    alice_terminal = registered(server, "alice")
    token = log_in(server, "alice")
    alice_terminal.close()
    alice = web(server, f"?token={token}&rooms=dev")
    alice.expect(is_type("welcome", account="alice"))
    bob = web(server, "?nick=bob&rooms=dev")
    bob.expect(is_type("welcome"))
    alice.send(op="topic", room="dev", text="release on Friday", ref=1)
    alice.expect(event("topic", ref=1, text="release on Friday"))
    bob.expect(event("topic", nick="alice"))
    bob.send(op="topic", room="dev", text="x", ref=2)
    bob.expect(error("not-op", 2))
    bob.send(op="topic", room="dev", ref=3)
    bob.expect(is_type("topic", topic="release on Friday", by="alice", ref=3))
    alice.send(op="mode", room="dev", modes="+m", ref=4)
    alice.expect(event("mode", text="+m", ref=4))
    bob.send(op="say", room="dev", text="hi", ref=5)
    bob.expect(error("moderated", 5))
    alice.send(op="voice", room="dev", nick="bob", ref=6)
    alice.expect(event("mode", text="+v", target="bob", ref=6))
    alice.send(op="devoice", room="dev", nick="bob", ref=7)
    alice.expect(event("mode", text="-v", target="bob", ref=7))
    alice.send(op="mode", room="dev", ref=8)
    alice.expect(is_type("modes", modes="+m", ref=8))
    alice.send(op="mode", room="dev", modes="-m", ref=9)
    alice.expect(event("mode", text="-m", ref=9))
    bob.send(op="say", room="dev", text="tpyo", ref=10)
    said = bob.expect(event("message", ref=10))
    bob.send(op="edit", room="dev", id=said["id"], text="typo", ref=11)
    bob.expect(event("edit", message_id=said["id"], text="typo", ref=11))
    bob.send(op="delete", room="dev", id=said["id"] + 50, ref=12)
    bob.expect(error("no-such-message", 12))
    alice.send(op="delete", room="dev", id=said["id"], ref=13)
    alice.expect(event("delete", message_id=said["id"], ref=13))
    alice.send(op="op", room="dev", nick="bob", ref=14)
    alice.expect(error("not-registered", 14))
    alice.send(op="kick", room="dev", nick="bob", reason="spam", ref=15)
    alice.expect(event("kick", target="bob", text="spam", ref=15))
    bob.expect(event("kick", target="bob"))
    alice.send(op="ban", room="dev", mask="bob", duration="2h", reason="spam", ref=16)
    banned = alice.expect(event("ban", target="bob", ref=16))
    assert banned["until"] - banned["ts"] == pytest.approx(7200)
    bob.send(op="join", room="dev", ref=17)
    bob.expect(error("banned", 17))
    alice.send(op="bans", room="dev", ref=18)
    listing = alice.expect(is_type("bans", ref=18))
    assert [ban["mask"] for ban in listing["bans"]] == ["bob"]
    alice.send(op="unban", room="dev", mask="bob", ref=19)
    alice.expect(event("unban", target="bob", ref=19))
    alice.send(op="mode", room="dev", modes="+i", ref=20)
    alice.expect(event("mode", text="+i", ref=20))
    bob.send(op="join", room="dev", ref=21)
    bob.expect(error("invite-only", 21))
    alice.send(op="invite", room="dev", nick="bob", ref=22)
    alice.expect(lambda m: m.get("ref") == 22 and m.get("kind") == "notice")
    bob.expect(is_type("invite", room="dev", **{"from": "alice"}))
    bob.send(op="join", room="dev", ref=23)
    bob.expect(event("join", nick="bob", ref=23))
    alice.send(op="kill", nick="bob", ref=24)
    alice.expect(error("not-op", 24))
    alice.send(op="gban", mask="bob", ref=25)
    alice.expect(error("not-op", 25))


def test_websocket_kill_and_gban_by_a_server_operator(server):
    registered(server, "root").close()
    root = web(server, f"?token={log_in(server, 'root')}")
    root.expect(is_type("welcome", account="root"))
    victim = web(server, "?nick=spammer")
    victim.expect(is_type("welcome"))
    root.send(op="kill", nick="spammer", reason="flooding", ref=1)
    root.expect(lambda m: m.get("ref") == 1 and "disconnected" in m.get("text", ""))
    victim.expect(error("killed"))
    root.send(op="gban", mask="spammer", duration=1800, ref=2)
    root.expect(lambda m: m.get("ref") == 2 and "banned" in m.get("text", ""))
    root.send(op="gbans", ref=3)
    assert root.expect(is_type("bans", room=None, ref=3))["bans"][0]["mask"] == "spammer"
    again = web(server, "?nick=spammer")
    again.expect(error("banned"))
    root.send(op="ungban", mask="spammer", ref=4)
    root.expect(lambda m: m.get("ref") == 4)


def test_http_admin_api(server):
    """A server operator's token lists and lifts bans, deletes a message and closes a room;
    anyone else gets 401 or 403."""
    registered(server, "root").close()
    auth = {"Authorization": f"Bearer {log_in(server, 'root')}"}
    member = telnet(server, "bob")
    member.send("/join dev")
    member.send("spam spam")
    member.expect("[dev] <bob> spam spam")
    id = last_id(member, "dev")
    assert http(server, "GET", "/api/admin/bans")[0] == 401
    registered(server, "alice").close()
    other = {"Authorization": f"Bearer {log_in(server, 'alice')}"}
    assert http(server, "GET", "/api/admin/bans", **other)[2]["error"] == "not-op"
    status, _, body = http(
        server, "POST", "/api/admin/bans", {"mask": "10.99.0.0/16", "duration": "7d"}, **auth
    )
    assert status == 201 and body["ban"]["room"] is None
    _, _, listing = http(server, "GET", "/api/admin/bans", **auth)
    assert [ban["mask"] for ban in listing["bans"]] == ["10.99.0.0/16"]
    status, _, _ = http(server, "DELETE", "/api/admin/bans?mask=10.99.0.0/16", **auth)
    assert status == 200
    status, _, body = http(server, "DELETE", "/api/admin/bans?mask=10.99.0.0/16", **auth)
    assert (status, body["error"]) == (404, "no-such-ban")
    assert http(server, "DELETE", f"/api/admin/rooms/dev/messages/{id}", **auth)[0] == 200
    member.expect(f"[dev] * root deleted #{id}")
    _, _, messages = http(server, "GET", "/api/rooms/dev/messages")
    assert messages["events"] == []
    status, _, body = http(
        server, "POST", "/api/admin/rooms/dev/close", {"reason": "abuse"}, **auth
    )
    assert (status, body) == (200, {"room": "dev", "closed": True})
    member.expect("[dev] <- the room was closed by root (abuse)")
    member.send("/join dev")
    member.expect("! dev was closed by a server operator")
    http(server, "POST", "/api/admin/rooms/dev/open", **auth)
    member.send("/join dev")
    member.expect("[dev] -> bob joined")


def test_topic_owner_operators_modes_bans_and_edits_survive_a_restart(tmp_path):
    """Everything moderation keeps is there after SIGTERM and a new start on the same file."""
    db = str(tmp_path / "chathub.db")
    first = start_with_operator(tmp_path, db=db)
    try:
        alice = owner_of(first, "dev")
        registered(first, "bob").close()
        alice.send("/topic release on Friday")
        alice.expect("set the topic")
        alice.send("/op bob")
        alice.expect("[dev] * alice set mode +o bob")
        alice.send("/ban eve 7d spam")
        alice.expect("[dev] * alice banned eve")
        alice.send("first, with a tpyo")
        alice.expect("[dev] <alice> first, with a tpyo")  # two messages, not a paste of two lines
        alice.send("second, to delete")
        alice.expect("[dev] <alice> second, to delete")
        second_id = last_id(alice, "dev")
        alice.send(f"/edit {second_id - 1} first, fixed")
        alice.expect("edited")
        alice.send(f"/delete {second_id}")
        alice.expect("deleted")
        alice.send("/mode +ms")
        alice.expect("[dev] * alice set mode +ms")
        assert first.stop() == 0
    finally:  # a failure above must not leave the hub running
        if first.process.poll() is None:
            first.process.kill()
            first.process.wait()

    again = start_with_operator(tmp_path, db=db)
    try:
        guest = telnet(again, "guest1")
        guest.send("/join dev")
        guest.expect("* topic of dev: release on Friday (set by alice)")
        line = guest.expect("<alice> first, fixed (edited)")[-1]
        assert line.startswith(f"[dev #{second_id - 1} ")
        guest.send("hello")
        guest.expect("! dev is moderated")
        guest.send("/mode")
        guest.expect("* modes of dev: +ms")
        bob = telnet(again, "bob2")
        bob.send(f"/identify bob {'correct-horse-battery'}")
        bob.expect("* you are identified as bob")
        bob.send("/join dev")
        bob.send("/bans")
        bob.expect("*   eve by alice for 7d")
        bob.send("/kick guest1 bye")
        guest.expect("[dev] <- guest1 was kicked by bob (bye)")
        alice2 = telnet(again, "x")
        alice2.send("/identify alice correct-horse-battery")
        alice2.send("/join dev")
        alice2.send("/topic owner still")
        alice2.expect("[dev] * alice set the topic: owner still")
        history = http(again, "GET", "/api/rooms/dev/messages", Authorization="Bearer x")
        assert history[2]["events"] == []  # secret: nothing for a stranger
    finally:
        again.stop()
