"""Typing signals: live to the room's members, rate-limited, never stored (`signals.py`)."""

from chathub import commands as cmd
from chathub.events import Error, Event, Ok
from chathub.hub import Hub
from chathub.line import LineFactory
from chathub.signals import TYPING_SECONDS
from chathub.store import MemoryStore
from tests.recording import RecordingClient


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def two_in_lobby() -> tuple[Hub, Clock, RecordingClient, RecordingClient, object]:
    clock = Clock()
    hub = Hub(MemoryStore(), clock=clock)
    alice, bob = RecordingClient(), RecordingClient()
    a = hub.connect(alice, nick="alice")
    hub.connect(bob, nick="bob")
    alice.clear()
    bob.clear()
    return hub, clock, alice, bob, a


def test_typing_reaches_the_room_as_an_event_with_no_id_and_is_not_stored():
    """A `typing` event goes to every member (the typist's copy with its ref); history has
    nothing of it."""
    hub, _, alice, bob, a = two_in_lobby()
    hub.handle(a, cmd.Typing("lobby", ref="t"))
    (event,) = bob.of_type(Event)
    assert (event.room, event.kind, event.nick, event.text, event.id) == (
        "lobby",
        "typing",
        "alice",
        "",
        None,
    )
    assert alice.received == [(event, "t")]
    assert hub.store.recent("lobby", 10) == []


def test_typing_again_within_the_interval_is_dropped_with_an_ok():
    """One signal per client and room every TYPING_SECONDS; a sooner one only gets `ok`."""
    hub, clock, alice, bob, a = two_in_lobby()
    hub.handle(a, cmd.Typing())
    clock.now += TYPING_SECONDS - 0.5
    hub.handle(a, cmd.Typing(ref=2))
    assert len(bob.of_type(Event)) == 1
    assert alice.received[-1] == (Ok(), 2)
    clock.now += 0.5
    hub.handle(a, cmd.Typing())
    assert len(bob.of_type(Event)) == 2


def test_typing_in_a_room_one_is_not_in_is_refused():
    """Only members signal: another room gets `not-in-room` and its members see nothing."""
    hub, _, alice, bob, a = two_in_lobby()
    hub.handle(a, cmd.Typing("dev", ref=1))
    assert [error.code for error in alice.of_type(Error)] == ["not-in-room"]
    assert bob.received == []


def test_a_terminal_never_sees_typing():
    """The line protocol renders a typing event as nothing, alone or in a batch."""
    hub = Hub(MemoryStore())
    terminal = LineFactory(hub).buildProtocol(None)
    assert terminal.render_event(Event("lobby", "typing", "alice", "", 1.0)) == b""
    said = Event("lobby", "message", "alice", "hi", 1.0, 1)
    batch = (Event("lobby", "typing", "bob", "", 1.0), said)
    assert terminal.render_events(batch) == terminal.render_event(said)


def test_a_telnet_member_of_the_room_gets_no_line_for_typing():
    """Through the whole connection: nothing is written, not even an empty line."""
    from tests.test_line import Terminal

    hub = Hub(MemoryStore())
    watcher = Terminal(hub)
    watcher.lines()
    web = RecordingClient()
    typist = hub.connect(web, nick="alice")
    watcher.lines()
    hub.handle(typist, cmd.Typing())
    assert watcher.transport.value() == b""
