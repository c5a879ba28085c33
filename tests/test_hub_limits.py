"""The hub's own limits: nick changes and joins per minute, rooms per connection, connections."""

from chathub import commands as cmd
from chathub.config import HubSettings
from chathub.events import Error, Event, Welcome
from chathub.hub import Hub
from chathub.limits import Counters
from chathub.store import MemoryStore
from tests.recording import RecordingClient


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_hub(**limits: int) -> tuple[Hub, Clock]:
    clock = Clock()
    return Hub(MemoryStore(), clock=clock, settings=HubSettings(**limits)), clock


def test_nick_changes_past_the_limit_are_refused_with_a_wait():
    """The change past `nick_changes_per_minute` gets a rate-limited error and changes nothing."""
    hub, _ = make_hub(nick_changes_per_minute=2)
    client = RecordingClient()
    session = hub.connect(client)
    hub.handle(session, cmd.Nick("a1"))
    hub.handle(session, cmd.Nick("a2"))
    client.clear()
    hub.handle(session, cmd.Nick("a3", ref=7))
    assert session.nick == "a2"
    (error,) = client.of_type(Error)
    assert error.code == "rate-limited"
    assert "at most 2 a minute" in error.message and "try again in 60 s" in error.message
    assert client.received[-1][1] == 7
    assert hub.counters.nick_limited == 1


def test_nick_changes_are_allowed_again_a_minute_later():
    """The window slides: a minute after the first change, one more is allowed."""
    hub, clock = make_hub(nick_changes_per_minute=1)
    session = hub.connect(RecordingClient())
    hub.handle(session, cmd.Nick("a1"))
    clock.now += 60
    hub.handle(session, cmd.Nick("a2"))
    assert session.nick == "a2"


def test_refused_nicks_do_not_use_up_the_limit():
    """An invalid or taken nick is not a change and is not counted."""
    hub, _ = make_hub(nick_changes_per_minute=1)
    hub.connect(RecordingClient(), nick="taken")
    session = hub.connect(RecordingClient())
    hub.handle(session, cmd.Nick("taken"))
    hub.handle(session, cmd.Nick("9bad"))
    hub.handle(session, cmd.Nick("fine"))
    assert session.nick == "fine"


def test_joins_past_the_limit_are_refused():
    """The join past `joins_per_minute` is refused; the client stays out of that room."""
    hub, _ = make_hub(joins_per_minute=2)
    client = RecordingClient()
    session = hub.connect(client, rooms=())
    hub.handle(session, cmd.Join("a"))
    hub.handle(session, cmd.Join("b"))
    hub.handle(session, cmd.Join("c"))
    assert session.rooms == ["a", "b"]
    assert client.of_type(Error)[-1].code == "rate-limited"
    assert hub.counters.join_limited == 1


def test_rejoining_a_room_one_is_in_is_not_a_join():
    """`/join` of a room already joined only makes it current and costs nothing."""
    hub, _ = make_hub(joins_per_minute=1)
    session = hub.connect(RecordingClient(), rooms=("a",))
    hub.handle(session, cmd.Join("a"))
    assert hub.counters.join_limited == 0


def test_rooms_per_connection_are_capped():
    """Past `max_rooms` a join is refused with a hint to part one."""
    hub, _ = make_hub(max_rooms=2)
    client = RecordingClient()
    session = hub.connect(client, rooms=("a", "b"))
    hub.handle(session, cmd.Join("c"))
    assert session.rooms == ["a", "b"]
    error = client.of_type(Error)[-1]
    assert error.code == "too-many-rooms" and "at most 2 rooms" in error.message
    assert hub.counters.rooms_limited == 1


def test_rooms_asked_for_on_connect_are_capped_and_the_welcome_lists_only_those_joined():
    """A connect asking for more than `max_rooms` rooms joins the first ones and is told."""
    hub, _ = make_hub(max_rooms=2)
    client = RecordingClient()
    session = hub.connect(client, rooms=("a", "b", "c", "d"))
    assert session.rooms == ["a", "b"]
    (welcome,) = client.of_type(Welcome)
    assert welcome.rooms == ("a", "b")
    assert [e.code for e in client.of_type(Error)] == ["too-many-rooms"]


def test_limits_of_zero_are_off():
    """With every per-minute and per-connection limit 0, nothing is refused."""
    hub, _ = make_hub(nick_changes_per_minute=0, joins_per_minute=0, max_rooms=0)
    client = RecordingClient()
    session = hub.connect(client, rooms=())
    for n in range(100):
        hub.handle(session, cmd.Join(f"r{n}"))
        hub.handle(session, cmd.Nick(f"n{n}"))
    assert len(session.rooms) == 100 and session.nick == "n99"
    assert not client.of_type(Error)


def test_admit_refuses_past_the_total_and_counts_it():
    """Past `max_connections`, `admit` answers server-full; releasing one makes room."""
    hub, _ = make_hub(max_connections=1)
    assert hub.admit("10.0.0.1") is None
    error = hub.admit("10.0.0.2")
    assert error is not None and error.code == "server-full"
    assert hub.counters.connections_refused == 1
    hub.release("10.0.0.1")
    assert hub.admit("10.0.0.2") is None


def test_admit_refuses_past_the_per_address_limit():
    """Past `max_per_ip` from one address, `admit` refuses it and no other address."""
    hub, _ = make_hub(max_per_ip=1)
    assert hub.admit("10.0.0.1") is None
    error = hub.admit("10.0.0.1")
    assert error is not None and error.code == "too-many-connections"
    assert hub.admit("10.0.0.2") is None
    assert hub.counters.connections_refused_per_ip == 1


def test_every_counter_starts_at_zero():
    """All limit counters exist from the start, so /healthz shows every one."""
    hub, _ = make_hub()
    assert hub.counters == Counters()


def test_a_limited_client_does_not_affect_others():
    """One client's refused nick change leaves another's free to change."""
    hub, _ = make_hub(nick_changes_per_minute=1)
    first = hub.connect(RecordingClient())
    second_client = RecordingClient()
    second = hub.connect(second_client)
    hub.handle(first, cmd.Nick("x1"))
    hub.handle(first, cmd.Nick("x2"))
    hub.handle(second, cmd.Nick("y1"))
    assert second.nick == "y1"
    assert any(isinstance(i, Event) and i.kind == "nick" for i in second_client.items)
