"""The telnet adapter's limits: admission, rate, idle timeout and slow readers, without sockets."""

from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from chathub.config import FlowLimits, HubSettings
from chathub.flow import INPUT_PER_TURN
from chathub.hub import Hub
from chathub.line import LineFactory
from chathub.store import MemoryStore
from tests.test_line import connected

QUIET = FlowLimits(max_rate=0, slow_timeout=0, idle_timeout=0)


class Terminal:
    """A LineConnection on a StringTransport with a hand-driven clock."""

    def __init__(self, hub: Hub, clock: Clock, flow: FlowLimits = QUIET, host: str = "10.0.0.1"):
        self.connection = LineFactory(hub, 2048, flow, clock).buildProtocol(None)
        self.transport = StringTransport(peerAddress=_address(host))
        connected(self.connection, self.transport)

    def type(self, data: bytes) -> None:
        self.connection.dataReceived(data)

    def lines(self) -> list[str]:
        value = self.transport.value()
        self.transport.clear()
        return value.decode("utf-8").split("\r\n")[:-1]


def _address(host: str) -> IPv4Address:
    return IPv4Address("TCP", host, 40000)


def make_hub(**limits: int) -> Hub:
    return Hub(MemoryStore(), clock=lambda: 1.0, settings=HubSettings(motd="hi", **limits))


def test_a_connection_past_the_total_is_refused_with_a_line_and_closed():
    """Past --max-connections the client gets one `! ` line, no greeting, and is closed."""
    hub, clock = make_hub(max_connections=1), Clock()
    Terminal(hub, clock)
    refused = Terminal(hub, clock, host="10.0.0.2")
    assert refused.lines() == ["! the server is full (1 connections); try again later"]
    assert refused.transport.disconnecting
    assert len(hub.sessions) == 1


def test_a_connection_past_the_per_address_limit_is_refused():
    """Past --max-per-ip from one address the client is told and closed."""
    hub, clock = make_hub(max_per_ip=1), Clock()
    Terminal(hub, clock)
    refused = Terminal(hub, clock)
    assert refused.lines() == ["! too many connections from your address (at most 1)"]
    assert refused.transport.disconnecting


def test_a_closed_connection_frees_its_place():
    """After a connection is lost, a new one from the same address is admitted."""
    hub, clock = make_hub(max_per_ip=1), Clock()
    first = Terminal(hub, clock)
    first.connection.connectionLost(None)
    second = Terminal(hub, clock)
    assert not second.transport.disconnecting
    assert hub.connections.total == 1


def test_over_the_rate_input_is_slowed_and_the_client_told():
    """Past the burst, reading pauses and one `! ` line says so; the rest follows at the rate."""
    hub, clock = make_hub(), Clock()
    flow = FlowLimits(max_rate=10, burst=2, slow_timeout=0, idle_timeout=0)
    term = Terminal(hub, clock, flow)
    term.lines()
    term.type(b"one\ntwo\nthree\n")
    lines = term.lines()
    assert lines[:2] == ["[lobby] <guest-1> one", "[lobby] <guest-1> two"]
    assert lines[2].startswith("! you are sending too fast: at most 10 messages a second")
    assert term.transport.producerState == "paused"
    clock.advance(0.1)
    assert term.lines() == ["[lobby] <guest-1> three"]
    assert term.transport.producerState == "producing"
    assert hub.counters.rate_limited == 1


def test_blank_lines_cost_nothing_against_the_rate():
    """Empty lines do nothing and take no token."""
    hub, clock = make_hub(), Clock()
    term = Terminal(hub, clock, FlowLimits(max_rate=10, burst=1, slow_timeout=0, idle_timeout=0))
    term.lines()
    term.type(b"\n\n\n\nhello\n")
    assert term.lines() == ["[lobby] <guest-1> hello"]


def test_an_idle_connection_is_told_and_closed():
    """No input for --idle-timeout seconds: a `! ` line, a part for the others, a close."""
    hub, clock = make_hub(), Clock()
    term = Terminal(hub, clock, FlowLimits(max_rate=0, slow_timeout=0, idle_timeout=30))
    other = Terminal(hub, clock)
    other.lines()
    term.lines()
    clock.advance(31)
    assert term.lines() == ["! no input for 30 seconds; closing the connection"]
    assert term.transport.disconnecting
    assert other.lines() == ["[lobby] <- guest-1 left (idle)"]
    assert hub.counters.idle_closed == 1


def test_input_resets_the_idle_timer():
    """A client that sends anything, even a blank line, is not idle."""
    hub, clock = make_hub(), Clock()
    term = Terminal(hub, clock, FlowLimits(max_rate=0, slow_timeout=0, idle_timeout=30))
    for _ in range(5):
        clock.advance(20)
        term.type(b"\n")
    assert not term.transport.disconnecting


def test_a_reader_that_falls_behind_skips_messages_and_is_told_how_to_catch_up():
    """While the transport has paused us, room messages past the backlog are skipped."""
    hub, clock = make_hub(), Clock()
    slow = Terminal(hub, clock, FlowLimits(max_rate=0, max_backlog=100, idle_timeout=0))
    talker = Terminal(hub, clock)
    slow.lines()
    talker.type(b"/nick talker\n")
    slow.lines()
    # What the TCP transport does when its buffer fills:
    slow.connection.stream.outbox.pauseProducing()
    for n in range(50):
        talker.type(f"message {n}\n".encode())
    assert slow.lines() == []
    slow.connection.stream.outbox.resumeProducing()
    lines = slow.lines()
    assert lines[0] == "[lobby] <talker> message 0"
    assert lines[-1].startswith("! skipped ")
    skipped = 50 - (len(lines) - 1)
    first_skipped_id = len(lines)  # ids start at 1; the lines before the notice were delivered
    assert lines[-1] == (
        f"! skipped {skipped} messages in lobby; /since {first_skipped_id - 1} lobby to catch up"
    )
    assert hub.counters.skipped == skipped
    talker.type(b"after\n")
    assert slow.lines() == ["[lobby] <talker> after"]


def test_a_reader_behind_for_the_slow_timeout_is_cut_off():
    """Behind for --slow-timeout seconds: the connection is aborted and the others see it go."""
    hub, clock = make_hub(), Clock()
    slow = Terminal(hub, clock, FlowLimits(max_rate=0, slow_timeout=10, idle_timeout=0))
    other = Terminal(hub, clock)
    other.lines()
    slow.connection.stream.outbox.pauseProducing()
    clock.advance(11)
    assert slow.transport.disconnecting
    assert other.lines() == ["[lobby] <- guest-1 left (too slow)"]
    assert hub.counters.slow_closed == 1


def test_over_long_lines_are_counted():
    """Each discarded over-long line bumps the line_too_long counter."""
    hub, clock = make_hub(), Clock()
    term = Terminal(hub, clock)
    term.type(b"x" * 3000 + b"\n")
    assert hub.counters.line_too_long == 1


def test_telnet_refusals_to_a_peer_that_does_not_read_are_bounded():
    """Negotiation answered into a full buffer counts against the backlog; past it, cut."""
    hub, clock = make_hub(), Clock()
    term = Terminal(hub, clock, FlowLimits(max_rate=0, max_backlog=300, idle_timeout=0))
    term.connection.stream.outbox.pauseProducing()
    term.type(b"\xff\xfb\x01" * 99)  # 297 bytes of refusals: within twice the backlog
    assert not term.transport.disconnecting
    term.type(b"\xff\xfb\x01" * 200)
    assert term.transport.disconnecting
    assert hub.counters.slow_closed == 1


def test_private_messages_pass_the_same_rate_limit_as_room_messages():
    """`/msg` lines past the burst wait for the bucket like room messages, with the warning."""
    hub, clock = make_hub(), Clock()
    flow = FlowLimits(max_rate=10, burst=2, slow_timeout=0, idle_timeout=0)
    bob, term = Terminal(hub, clock, flow, host="10.0.0.2"), Terminal(hub, clock, flow)
    bob.type(b"/nick bob\n")
    term.lines(), bob.lines()
    term.type(b"/msg bob one\n/msg bob two\n/msg bob three\n")
    assert bob.lines() == ["[pm] <guest-2> one", "[pm] <guest-2> two"]
    assert term.lines()[-1].startswith("! you are sending too fast")
    clock.advance(0.1)
    assert bob.lines() == ["[pm] <guest-2> three"]


def test_big_reads_share_a_budget_a_turn_and_a_person_s_line_goes_first():
    """Two terminals pasting 300 KB at once (more than a turn's budget between them): the
    first is handled, the second waits for the next turn unread; a person's short line in the
    same turn is handled at once; the waiting read is handled, whole, in the next turn."""
    hub, clock = make_hub(), Clock()
    factory = LineFactory(hub, 2048, QUIET, clock)

    def terminal(host: str) -> tuple[Any, StringTransport]:
        connection = factory.buildProtocol(None)
        transport = StringTransport(peerAddress=_address(host))
        connected(connection, transport)
        return connection, transport

    (first, _), (second, second_out), (person, person_out) = (
        terminal(f"10.0.0.{n}") for n in (1, 2, 3)
    )
    clock.advance(0)
    paste = b"".join(b"/me %d %s\r\n" % (n, b"x" * 1000) for n in range(300))
    assert len(paste) > INPUT_PER_TURN
    first.dataReceived(paste)
    second_out.clear()
    second.dataReceived(paste)
    assert second_out.producerState == "paused" and b"300" not in second_out.value()
    person_out.clear()
    person.dataReceived(b"hello\r\n")
    assert b"hello" in person_out.value()
    clock.advance(0)
    assert second_out.producerState == "producing"
    actions = [line for line in second_out.value().split(b"\r\n") if b"xxxx" in line]
    assert len(actions) == 300  # its own, in order (the first's came before it was held)
    assert actions[0].startswith(b"[lobby] * guest-2 0 ") and b"guest-2 299 " in actions[-1]
