"""Moderation across processes with a fake backplane: `/kick`, `/kill` and `/voice` of a nick
another process holds are sent to that process as an `Order`, carried out there, and answered
with an `Outcome` that reaches the actor with its ref. "there" is the other process: what it
would publish is pushed here by hand."""

import json
from typing import Any

from twisted.internet import task

from chathub import commands as cmd
from chathub.broker import Order, Outcome
from chathub.events import Error, Event, Invited, Notice
from chathub.hub import Hub
from chathub.rediswire import encode_item
from chathub.session import Session
from chathub.text import nick_skeleton
from tests.recording import RecordingClient
from tests.test_redisbroker import FakeBackplane, settle
from tests.test_redispresence import grant, reserve_guests
from tests.test_redispresence import made as made_with_roster


def made() -> tuple[FakeBackplane, Hub, task.Clock]:
    """One process ("here") of many; alice may be a server operator once identified."""
    return made_with_roster(timers=True, operators=("alice",))


def connected(
    backplane: FakeBackplane, hub: Hub, clock: task.Clock, nick: str, account: str | None = None
) -> Session:
    """`nick` in `dev`, quiet: its join announced and what it was sent forgotten."""
    session = hub.connect(RecordingClient(), nick, rooms=["dev"])
    reserve_guests(backplane)
    grant(backplane)
    session.account = account
    for _ in range(3):
        settle(backplane)
        clock.advance(1)
        backplane.taken("roster")
    client(session).clear()
    return session


def client(session: Session) -> RecordingClient:
    assert isinstance(session.client, RecordingClient)
    return session.client


def push(backplane: FakeBackplane, item: Order | Outcome, to: str, seq: int = 7) -> None:
    """What "there" publishes to the holder of the nick `to` (a nick key)."""
    body = {"i": [encode_item(item)], "r": [], "n": [to]}
    backplane.on_push(b"0 there %d %s" % (seq, json.dumps(body).encode()))


def published(backplane: FakeBackplane) -> list[dict[str, Any]]:
    """The bodies of what this process published, in order (taken)."""
    return [json.loads(args[-1].split(b" ", 2)[2]) for args, _ in backplane.taken("publish")]


# --- the actor's process -------------------------------------------------------------------------


def asked(
    command: cmd.Command, holder: bytes | None
) -> tuple[FakeBackplane, Hub, task.Clock, Session]:
    """alice, a server operator here, gave `command` about carol, whom `holder` holds."""
    backplane, hub, clock = made()
    alice = connected(backplane, hub, clock, "alice", account="alice")
    hub.handle(alice, command)
    [(args, answer)] = backplane.taken("holder")
    assert args == ("carol",)
    answer.callback(holder)
    return backplane, hub, clock, alice


def test_a_kick_of_a_nick_held_elsewhere_is_sent_there_and_its_outcome_comes_back_with_the_ref():
    backplane, hub, _, alice = asked(cmd.Kick("carol", "spam", "dev", ref="k"), b"Carol")
    [body] = published(backplane)
    assert body["n"] == ["carol"] and body["r"] == []
    order = body["i"][0]
    assert (order["c"], order["n"], order["a"], order["g"], order["r"], order["t"]) == (
        "kick", "alice", "alice", "Carol", "dev", "spam",
    )  # fmt: skip
    hub.handle(alice, cmd.Who("dev", ref="w"))  # waits for the kick's outcome
    assert client(alice).received == []
    push(backplane, Outcome(order["O"], None, "kicked Carol from dev"), "alice")
    assert client(alice).received[0] == (Notice("kicked Carol from dev"), "k")
    settle(backplane)
    backplane.taken("who")  # the next command went on


def test_a_kick_of_a_nick_nobody_holds_is_not_in_room():
    backplane, _, _, alice = asked(cmd.Kick("carol", "", "dev", ref="k"), None)
    [(error, ref)] = client(alice).received
    assert isinstance(error, Error) and (error.code, ref) == ("not-in-room", "k")
    assert published(backplane) == []


def test_an_order_nobody_answers_is_an_error_after_a_while():
    backplane, _, clock, alice = asked(cmd.Kill("carol", "", ref="x"), b"carol")
    assert len(published(backplane)) == 1
    clock.advance(4.9)
    assert client(alice).received == []
    clock.advance(0.2)
    [(error, ref)] = client(alice).received
    assert isinstance(error, Error) and (error.code, ref) == ("unavailable", "x")
    push(backplane, Outcome("here:1", None, "disconnected carol"), "alice")  # too late
    assert len(client(alice).received) == 1


def test_a_guest_elsewhere_is_voiced_through_its_process():
    backplane, *_ = asked(cmd.Grant("carol", "voice", True, "dev", ref="v"), b"carol")
    [body] = published(backplane)
    assert (body["i"][0]["c"], body["i"][0]["t"]) == ("grant", "+voice")


def test_without_the_rights_nothing_is_sent():
    backplane, hub, clock = made()
    bob = connected(backplane, hub, clock, "bob")
    hub.handle(bob, cmd.Kick("carol", "", "dev", ref="k"))
    [(error, ref)] = client(bob).received
    assert isinstance(error, Error) and (error.code, ref) == ("not-op", "k")
    assert backplane.taken("holder") == []


# --- the holder's process ------------------------------------------------------------------------


def order(command: str, target: str, text: str = "", account: str | None = "alice") -> Order:
    return Order("there:1", command, "alice", account, target, "dev", text)


def test_an_order_to_kick_a_member_here_puts_it_out_and_answers_the_actor():
    backplane, hub, clock = made()
    bob = connected(backplane, hub, clock, "bob")
    push(backplane, order("kick", "bob", "spam"), "bob")
    assert "dev" not in bob.rooms
    kick = Event("dev", "kick", "alice", "spam", clock.seconds(), target="bob")
    assert client(bob).items == [kick]  # told itself: the room's copy comes after it left
    room_copy, outcome = published(backplane)
    assert room_copy["r"] == ["dev"] and room_copy["i"][0]["k"] == "kick"
    assert outcome["n"] == [nick_skeleton("alice")]  # to the actor's nick
    assert outcome["i"] == [{"A": "there:1", "c": None, "t": "kicked bob from dev"}]


def test_an_order_from_someone_outranked_is_refused_and_changes_nothing():
    backplane, hub, clock = made()
    bob = connected(backplane, hub, clock, "bob", account="alice")  # a server operator too
    push(backplane, order("kick", "bob", account="mallory"), "bob")
    assert "dev" in bob.rooms
    [outcome] = published(backplane)
    assert outcome["i"][0]["c"] == "not-op"  # bob ranks as high


def test_an_order_for_a_nick_not_held_here_is_left_to_its_holder():
    backplane, hub, clock = made()
    connected(backplane, hub, clock, "bob")
    push(backplane, order("kick", "carol"), "carol")
    assert published(backplane) == []


def test_an_order_to_kill_disconnects_and_answers():
    backplane, hub, clock = made()
    bob = connected(backplane, hub, clock, "bob")
    push(backplane, order("kill", "bob", "flood"), "bob")
    assert client(bob).closed
    error = client(bob).items[0]
    assert isinstance(error, Error) and error.code == "killed"
    outcome = published(backplane)[-1]
    assert outcome["i"] == [{"A": "there:1", "c": None, "t": "disconnected bob"}]


def test_an_order_to_voice_a_guest_here_voices_it_and_tells_the_room():
    backplane, hub, clock = made()
    bob = connected(backplane, hub, clock, "bob")
    push(backplane, order("grant", "bob", "+voice"), "bob")
    assert bob.voiced == {"dev"}
    mode, outcome = published(backplane)
    assert (mode["i"][0]["k"], mode["i"][0]["t"], mode["i"][0]["g"]) == ("mode", "+v", "bob")
    assert outcome["i"][0]["c"] is None


def test_a_kick_of_a_member_of_this_process_tells_it_under_redis_too():
    """The room's copy of a kick comes back from Redis after its target left the room: the
    target is told itself."""
    backplane, hub, clock = made()
    alice = connected(backplane, hub, clock, "alice", account="alice")
    bob = connected(backplane, hub, clock, "bob")
    hub.handle(alice, cmd.Kick("bob", "spam", "dev", ref="k"))
    settle(backplane)
    kicks = [item for item in client(bob).items if isinstance(item, Event)]
    assert [(event.kind, event.target) for event in kicks] == [("kick", "bob")]


def test_an_order_to_invite_a_guest_here_invites_it_on_its_process():
    backplane, hub, clock = made()
    bob = connected(backplane, hub, clock, "bob")
    push(backplane, Order("there:1", "invite", "alice", "alice", "bob", "secret", ""), "bob")
    assert bob.invited == {"secret"}
    assert client(bob).items == [Invited("secret", "alice")]
    [outcome] = published(backplane)
    assert outcome["i"] == [{"A": "there:1", "c": None, "t": "invited bob to secret"}]


def test_an_invitation_for_a_guest_elsewhere_is_sent_there():
    backplane, *_ = asked(cmd.Invite("carol", "dev", ref="i"), b"carol")
    [body] = published(backplane)
    assert (body["i"][0]["c"], body["i"][0]["g"], body["i"][0]["r"]) == ("invite", "carol", "dev")


def test_an_account_connected_elsewhere_is_invited_there_and_here():
    """An account joins through its own process, which must hold the invitation; this process
    keeps it too, for a later join through it."""
    backplane, hub, clock = made()
    hub.accounts.add("carol", "$argon2id$hash", 1.0)
    alice = connected(backplane, hub, clock, "alice", account="alice")
    hub.handle(alice, cmd.Invite("carol", "dev", ref="i"))
    assert nick_skeleton("carol") in hub.room_states.ensure("dev").invited
    [(_, answer)] = backplane.taken("holder")
    answer.callback(b"carol")
    [body] = published(backplane)
    assert (body["i"][0]["c"], body["i"][0]["g"]) == ("invite", "carol")


def test_an_account_connected_nowhere_is_invited_here_at_once():
    backplane, hub, clock = made()
    hub.accounts.add("carol", "$argon2id$hash", 1.0)
    alice = connected(backplane, hub, clock, "alice", account="alice")
    hub.handle(alice, cmd.Invite("carol", "dev", ref="i"))
    [(_, answer)] = backplane.taken("holder")
    answer.callback(None)
    assert client(alice).received == [(Notice("invited carol to dev"), "i")]
    assert published(backplane) == []
