"""Presence in batches: joins and parts of one turn become one event naming several nicks."""

from twisted.internet import task

from chathub import commands as cmd
from chathub.events import Event, History
from chathub.hub import Hub
from chathub.jsonwire import event_fields
from chathub.linewire import render_event
from chathub.presence import DIGEST_MEMBERS, DIGEST_SECONDS, Arrival, batch_events
from chathub.store import MemoryStore
from tests.recording import RecordingClient


def make_hub() -> tuple[Hub, task.Clock]:
    clock = task.Clock()
    return Hub(MemoryStore(), clock=clock.seconds, later=clock.callLater), clock


def presence(client: RecordingClient) -> list[tuple[str, tuple[str, ...]]]:
    """The joins and parts a client saw, each with every nick it names."""
    return [
        (item.kind, item.nicks or (item.nick,))
        for item in client.of_type(Event)
        if item.kind in ("join", "part")
    ]


def test_a_crowd_joining_in_one_turn_is_one_event_for_each_member() -> None:
    """Ten joins in one reactor turn reach an earlier member as one join naming all ten."""
    hub, clock = make_hub()
    watcher = RecordingClient()
    hub.connect(watcher, "watcher")
    clock.advance(0)
    watcher.clear()
    for n in range(10):
        hub.connect(RecordingClient(), f"user{n}")
    assert presence(watcher) == []  # nothing until the turn ends
    assert len(hub.members["lobby"]) == 11  # but `who` is exact at once
    clock.advance(0)
    assert presence(watcher) == [("join", tuple(f"user{n}" for n in range(10)))]


def test_every_member_is_told_exactly_once_and_each_joiner_gets_its_replay_after() -> None:
    """Each joiner sees the batch once, then its replay; nobody sees a join twice."""
    hub, clock = make_hub()
    talker = RecordingClient()
    t = hub.connect(talker, "talker")
    clock.advance(0)
    hub.handle(t, cmd.Say("before"))
    joiners = [RecordingClient() for _ in range(3)]
    for n, client in enumerate(joiners):
        hub.connect(client, f"j{n}")
    clock.advance(0)
    for client in [talker, *joiners]:
        joins = [names for kind, names in presence(client) if kind == "join"]
        assert joins[-1] == ("j0", "j1", "j2")
        assert sum(names.count("j1") for names in joins) == 1
    for client in joiners:
        kinds = [type(item).__name__ for item in client.items]
        assert kinds[-2:] == ["Event", "History"]


def test_a_joiner_waits_for_its_batch_so_its_first_message_comes_after_its_join() -> None:
    """A command typed right after connecting is carried out after the join is announced."""
    hub, clock = make_hub()
    watcher = RecordingClient()
    hub.connect(watcher, "watcher")
    clock.advance(0)
    watcher.clear()
    joiner = hub.connect(RecordingClient(), "eager")
    hub.handle(joiner, cmd.Say("hello at once"))
    clock.advance(0)
    seen = [(item.kind, item.nick) for item in watcher.of_type(Event)]
    assert seen == [("join", "eager"), ("message", "eager")]


def test_a_message_in_the_room_first_announces_the_joins_before_it() -> None:
    """Another member's message in the same turn flushes the pending joins first."""
    hub, clock = make_hub()
    watcher, talker = RecordingClient(), RecordingClient()
    hub.connect(watcher, "watcher")
    t = hub.connect(talker, "talker")
    clock.advance(0)
    watcher.clear()
    hub.connect(RecordingClient(), "newcomer")
    hub.handle(t, cmd.Say("hi all"))
    seen = [(item.kind, item.nick) for item in watcher.of_type(Event)]
    assert seen == [("join", "newcomer"), ("message", "talker")]


def test_a_join_and_a_part_of_the_same_nick_in_one_batch_stay_in_order() -> None:
    """Joined and gone within one turn: a join, then a part, never merged or reordered."""
    hub, clock = make_hub()
    watcher = RecordingClient()
    hub.connect(watcher, "watcher")
    clock.advance(0)
    watcher.clear()
    hub.connect(RecordingClient(), "a")
    brief = hub.connect(RecordingClient(), "brief")
    hub.disconnect(brief, "quit")
    hub.connect(RecordingClient(), "c")
    clock.advance(0)
    assert presence(watcher) == [("join", ("a", "brief")), ("part", ("brief",)), ("join", ("c",))]


def test_who_is_exact_while_announcements_wait() -> None:
    """`who` during a storm lists exactly the members, whatever has been announced."""
    hub, clock = make_hub()
    asker = RecordingClient()
    a = hub.connect(asker, "asker")
    clock.advance(0)
    for n in range(5):
        hub.connect(RecordingClient(), f"n{n}")
    gone = hub.connect(RecordingClient(), "gone")
    hub.disconnect(gone)
    asker.clear()
    hub.handle(a, cmd.Who())
    clock.advance(0)
    (who,) = [item for item in asker.items if type(item).__name__ == "Who"]
    assert set(who.members) == {"asker", "n0", "n1", "n2", "n3", "n4"}


def test_a_big_room_announces_joins_as_a_digest_and_joiners_do_not_wait() -> None:
    """Past DIGEST_MEMBERS, joins go out every DIGEST_SECONDS; a joiner is told at once."""
    hub, clock = make_hub()
    watcher = RecordingClient()
    hub.connect(watcher, "watcher")
    for n in range(DIGEST_MEMBERS):
        hub.connect(RecordingClient(), f"m{n}")
    clock.advance(0)
    watcher.clear()
    late = RecordingClient()
    hub.connect(late, "late")
    hub.connect(RecordingClient(), "later")
    assert ("join", ("late",)) in presence(late)  # its own join, at once
    clock.advance(0)
    assert presence(watcher) == []
    clock.advance(DIGEST_SECONDS)
    assert presence(watcher) == [("join", ("late", "later"))]
    assert presence(late) == [("join", ("late",))]  # the digest is not sent to a joiner in it


def test_batched_events_render_every_nick_on_both_wires() -> None:
    """Telnet names three and counts the rest; JSON lists every nick in `nicks`."""
    arrivals = [Arrival("join", f"n{k}", 1.0) for k in range(40)]
    ((event, positions),) = batch_events("lobby", arrivals)
    assert positions == list(range(40))
    assert render_event(event) == "[lobby] -> n0, n1, n2 and 37 others joined"
    assert event_fields(event)["nicks"] == [f"n{k}" for k in range(40)]
    two = batch_events("lobby", arrivals[:2])[0][0]
    assert render_event(two) == "[lobby] -> n0 and n1 joined"
    parts = [Arrival("part", "x", 1.0, "quit"), Arrival("part", "y", 1.0, "quit")]
    assert render_event(batch_events("lobby", parts)[0][0]) == "[lobby] <- x and y left (quit)"


def test_without_a_timer_presence_is_announced_at_once() -> None:
    """A hub made without `later` announces each join immediately, as before."""
    hub = Hub(MemoryStore())
    watcher = RecordingClient()
    hub.connect(watcher, "watcher")
    watcher.clear()
    joiner = RecordingClient()
    hub.connect(joiner, "x")
    assert presence(watcher) == [("join", ("x",))]
    assert isinstance(joiner.items[-1], Event | History)


def test_a_batch_reaches_a_websocket_as_one_event_listing_the_nicks() -> None:
    """Over /ws a crowd arriving in one turn is one `join` event with `nicks`, then messages."""
    from twisted.internet.testing import MemoryReactorClock

    from chathub.config import WebSocketSettings
    from chathub.websocket import WebSocketFactory
    from tests.test_websocket import connect

    clock = MemoryReactorClock()
    hub = Hub(MemoryStore(), clock=clock.seconds, later=clock.callLater)
    factory = WebSocketFactory(hub, clock, WebSocketSettings(ws_max_message=4096))
    watcher = connect(factory, "?nick=watcher")
    clock.advance(0)
    watcher.messages()
    crowd = [RecordingClient() for _ in range(5)]
    sessions = [hub.connect(client, f"c{n}") for n, client in enumerate(crowd)]
    hub.handle(sessions[0], cmd.Say("first words"))
    clock.advance(0)
    got = watcher.messages()
    assert [(m["kind"], m.get("nicks")) for m in got] == [
        ("join", ["c0", "c1", "c2", "c3", "c4"]),
        ("message", None),
    ]


def test_a_batch_reaches_a_terminal_as_one_line() -> None:
    """Over telnet the same crowd is one `[lobby] -> c0, c1, c2 and 2 others joined` line."""
    from tests.test_line_limits import Terminal

    clock = task.Clock()
    hub = Hub(MemoryStore(), clock=clock.seconds, later=clock.callLater)
    terminal = Terminal(hub, clock)
    clock.advance(0)
    terminal.lines()
    for n in range(5):
        hub.connect(RecordingClient(), f"c{n}")
    clock.advance(0)
    assert [line for line in terminal.lines() if "joined" in line] == [
        "[lobby] -> c0, c1, c2 and 2 others joined"
    ]


def test_a_crowd_of_more_than_a_hundred_is_named_in_part_with_a_count() -> None:
    """JSON names the first NICKS_NAMED nicks of a big batch and says how many there were."""
    from chathub.jsonwire import NICKS_NAMED

    arrivals = [Arrival("join", f"n{k}", 1.0) for k in range(250)]
    ((event, _),) = batch_events("lobby", arrivals)
    fields = event_fields(event)
    assert len(fields["nicks"]) == NICKS_NAMED and fields["count"] == 250
