"""Kept private messages on the real process: two accounts talk over telnet and WebSocket, the
server restarts on the same file, and both still have the conversation; nobody else does."""

from pathlib import Path

from tests.e2e.accounts import (
    PASSWORD,
    error,
    is_type,
    log_in,
    quiet,
    registered,
    start_with_operator,
    telnet,
    web,
)


def test_a_private_conversation_survives_a_restart_for_its_two_accounts_only(tmp_path: Path):
    """alice (telnet) and bob (WebSocket) exchange private messages; after SIGTERM and a new
    start on the same --db, `/pms` and the `conversations` and `pm_history` ops still show
    them to both, while carol (another account) and a guest see nothing."""
    db = str(tmp_path / "chathub.db")
    first = start_with_operator(tmp_path, db=db)
    try:
        alice = registered(first, "alice")
        registered(first, "carol").close()
        bob = web(first, "?nick=bob")
        bob.expect(is_type("welcome"))
        bob.send(op="register", password=PASSWORD, ref="r")
        bob.expect(is_type("account", account="bob", ref="r"))

        alice.send("/msg bob lunch at noon?")
        alice.expect("[pm -> bob] <alice> lunch at noon?")
        first_pm = bob.expect(is_type("pm", **{"from": "alice"}))
        assert first_pm["id"] >= 1 and first_pm["text"] == "lunch at noon?"
        bob.send(op="msg", to="alice", text="yes, at the usual place", ref=1)
        reply = bob.expect(is_type("pm", ref=1))
        assert reply["id"] > first_pm["id"]
        alice.expect("[pm] <bob> yes, at the usual place")
        guest = telnet(first, "dave")
        guest.send("/msg bob hello from a guest")
        guest.expect("[pm -> bob] <dave> hello from a guest")
        guest.send("/pms")
        guest.expect("! you are not identified")
        alice.close()
        bob.close()
        guest.close()
    finally:
        assert first.stop() == 0

    second = start_with_operator(tmp_path, db=db)
    try:
        alice = telnet(second)
        alice.send(f"/identify alice {PASSWORD}")
        alice.expect("* you are identified as alice")
        alice.send("/pms")
        lines = alice.expect("*   bob (#")
        assert lines[-2] == "* private conversations (/pms NICK shows one):"
        assert quiet(alice, 0.3) == []  # bob is her one conversation
        alice.send("/pms bob")
        lines = alice.expect("<bob> yes, at the usual place")
        shown = [line for line in lines if line.startswith("[pm #")]
        assert shown[0].startswith(f"[pm #{first_pm['id']} ")
        assert shown[0].endswith("] <alice> lunch at noon?")
        assert shown[1].startswith(f"[pm #{reply['id']} ")

        bob = web(second, f"?token={log_in(second, 'bob')}")
        assert bob.expect(is_type("welcome"))["account"] == "bob"
        bob.send(op="conversations", ref=2)
        listed = bob.expect(is_type("conversations", ref=2))["conversations"]
        assert [c["with"] for c in listed] == ["dave", "alice"]  # most recent first
        assert listed[1]["last_id"] == reply["id"]
        bob.send(op="pm_history", **{"with": "alice"}, ref=3)
        messages = bob.expect(is_type("pm_history", ref=3))["messages"]
        assert [(m["id"], m["from"], m["to"], m["text"]) for m in messages] == [
            (first_pm["id"], "alice", "bob", "lunch at noon?"),
            (reply["id"], "bob", "alice", "yes, at the usual place"),
        ]
        bob.send(op="pm_history", **{"with": "alice"}, before=reply["id"], ref=4)
        older = bob.expect(is_type("pm_history", ref=4))["messages"]
        assert [m["id"] for m in older] == [first_pm["id"]]

        carol = web(second)
        carol.send(op="identify", nick="carol", password=PASSWORD, ref=5)
        carol.expect(is_type("account", account="carol", ref=5))
        carol.send(op="conversations", ref=6)
        assert carol.expect(is_type("conversations", ref=6))["conversations"] == []
        for partner, ref in (("alice", 7), ("bob", 8)):
            carol.send(op="pm_history", **{"with": partner}, ref=ref)
            assert carol.expect(is_type("pm_history", ref=ref))["messages"] == []
        carol_telnet = telnet(second)
        carol_telnet.send(f"/identify carol {PASSWORD}")
        carol_telnet.expect("* you are identified as carol")
        carol_telnet.send("/pms alice")
        carol_telnet.expect("* no private messages with alice")

        guest = web(second)
        guest.send(op="conversations", ref=9)
        guest.expect(error("not-identified", ref=9))
    finally:
        assert second.stop() == 0
