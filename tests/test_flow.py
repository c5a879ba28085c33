"""Flow control: the input throttle and the bounded outbox, with a hand-driven clock."""

import pytest
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from chathub.events import Error, Skipped
from chathub.flow import Outbox, Throttle, TurnBudget
from chathub.limits import Counters


def counters() -> Counters:
    return Counters()


class ThrottleRig:
    def hold(self, held: bool) -> None:
        """What a Stream does for its throttle: stop or go back to reading."""
        if held:
            self.transport.pauseProducing()
        else:
            self.transport.resumeProducing()

    def __init__(self, rate: float = 10, burst: int = 2) -> None:
        self.clock = Clock()
        self.transport = StringTransport()
        self.handled: list[int] = []
        self.warnings: list[Error] = []
        self.counters = counters()
        self.throttle: Throttle[int] = Throttle(
            self.clock,
            self.hold,
            rate,
            burst,
            self.handled.append,
            self.warnings.append,
            self.counters,
        )


def test_throttle_lets_the_burst_through_at_once():
    """Within the burst, messages are handled immediately and reading goes on."""
    rig = ThrottleRig(burst=2)
    rig.throttle.push(1)
    rig.throttle.push(2)
    assert rig.handled == [1, 2]
    assert rig.transport.producerState == "producing"
    assert not rig.warnings


def test_throttle_over_the_rate_pauses_reading_warns_and_resumes_in_order():
    """Past the burst, reading pauses; the waiting messages follow at the rate, in order."""
    rig = ThrottleRig(rate=10, burst=2)
    for n in range(4):
        rig.throttle.push(n)
    assert rig.handled == [0, 1]
    assert rig.transport.producerState == "paused"
    assert [w.code for w in rig.warnings] == ["rate-limited"]
    rig.clock.advance(0.1)
    assert rig.handled == [0, 1, 2]
    rig.clock.advance(0.1)
    assert rig.handled == [0, 1, 2, 3]
    assert rig.transport.producerState == "producing"
    assert rig.counters.rate_limited == 1


def test_throttle_warns_at_most_once_a_second():
    """A sustained flood gets one warning a second, not one per message."""
    rig = ThrottleRig(rate=10, burst=2)
    for _ in range(30):  # 3 seconds of flooding, 2 pushes every 0.1 s
        rig.throttle.push(0)
        rig.throttle.push(0)
        rig.clock.advance(0.1)
    assert 2 <= len(rig.warnings) <= 4


def test_throttle_drops_what_arrives_past_the_burst_while_waiting():
    """At most `burst` messages wait; the rest are dropped and counted."""
    rig = ThrottleRig(rate=10, burst=2)
    for n in range(10):
        rig.throttle.push(n)
    rig.clock.advance(10)
    assert rig.handled == [0, 1, 2, 3]
    assert rig.counters.rate_dropped == 6


def test_throttle_charge_takes_a_token_and_past_the_burst_stops_reading_until_paid():
    """Input that is not an item (a frame of a message still arriving) costs a token too: past
    the burst it is owed, reading stops, and what comes next waits until it is paid."""
    rig = ThrottleRig(rate=10, burst=2)
    rig.throttle.charge()
    rig.throttle.charge()
    assert rig.transport.producerState == "producing"
    rig.throttle.charge()
    rig.throttle.charge()
    assert rig.transport.producerState == "paused"
    assert [w.code for w in rig.warnings] == ["rate-limited"]
    rig.throttle.push(7)
    rig.clock.advance(0.1)
    assert rig.handled == []  # one of the two owed tokens is paid
    rig.clock.advance(0.1)
    assert rig.handled == []  # both paid; the item waits for its own
    rig.clock.advance(0.1)
    assert rig.handled == [7]
    assert rig.transport.producerState == "producing"
    assert rig.counters.rate_limited == 1


def test_throttle_says_when_it_stops_and_resumes_reading():
    """`paused` while the transport is not read; `resumed` is called when reading resumes."""
    rig = ThrottleRig(rate=10, burst=1)
    resumes: list[float] = []
    rig.throttle.resumed = lambda: resumes.append(rig.clock.seconds())
    rig.throttle.push(1)
    assert not rig.throttle.paused
    rig.throttle.push(2)
    assert rig.throttle.paused and resumes == []
    rig.clock.advance(0.1)
    assert not rig.throttle.paused and resumes == [0.1]


def test_throttle_stop_forgets_waiting_messages():
    """After `stop` (connection gone) nothing more is handled and no timer is left."""
    rig = ThrottleRig(rate=10, burst=1)
    rig.throttle.push(1)
    rig.throttle.push(2)
    rig.throttle.stop()
    rig.clock.advance(10)
    assert rig.handled == [1]
    assert not rig.clock.getDelayedCalls()


class OutboxRig:
    def __init__(self, max_backlog: int = 10, slow_timeout: float = 0.0) -> None:
        self.clock = Clock()
        self.sent: list[bytes] = []
        self.told: list[Skipped] = []
        self.cut: list[str] = []
        self.counters = counters()
        self.outbox: Outbox[bytes] = Outbox(
            self.clock,
            self.sent.append,
            self.tell,
            self.cut.append,
            self.counters,
            max_backlog,
            slow_timeout,
        )

    def tell(self, notice: Skipped) -> None:
        self.told.append(notice)
        self.outbox.offer(b"skipped", 1)


def test_outbox_sends_straight_through_while_the_peer_keeps_up():
    """Not paused, every item is sent at once."""
    rig = OutboxRig()
    rig.outbox.offer(b"a", 1, "lobby", 1)
    rig.outbox.offer(b"b", 1)
    assert rig.sent == [b"a", b"b"]


def test_outbox_holds_output_while_paused_and_sends_it_in_order_on_resume():
    """Paused, items wait; resumed, they go out in order."""
    rig = OutboxRig()
    rig.outbox.pauseProducing()
    rig.outbox.offer(b"a", 2, "lobby", 1)
    rig.outbox.offer(b"b", 2)
    assert rig.sent == []
    rig.outbox.resumeProducing()
    assert rig.sent == [b"a", b"b"]


def test_outbox_skips_room_events_past_the_backlog_and_says_from_where_to_catch_up():
    """Past `max_backlog` bytes, room messages are skipped; after draining the client is told."""
    rig = OutboxRig(max_backlog=10)
    rig.outbox.pauseProducing()
    for n in range(1, 21):  # ids 1..20, 2 bytes each: 5 fit
        rig.outbox.offer(f"{n}".encode(), 2, "lobby", n)
    rig.outbox.resumeProducing()
    assert rig.sent[:5] == [b"1", b"2", b"3", b"4", b"5"]
    assert rig.told == [Skipped("lobby", 15, 0, 5)]  # 15 messages; what came after id 5
    assert rig.counters.skipped == 15


def test_outbox_keeps_skipping_until_drained_so_there_is_no_gap():
    """Once skipping, a smaller event that would fit is skipped too."""
    rig = OutboxRig(max_backlog=10)
    rig.outbox.pauseProducing()
    rig.outbox.offer(b"big", 9, "lobby", 1)
    rig.outbox.offer(b"big", 9, "lobby", 2)
    rig.outbox.offer(b"s", 1, "lobby", 3)
    rig.outbox.resumeProducing()
    assert rig.sent[0] == b"big" and rig.told[0].messages == 2


def test_outbox_reports_each_room_that_skipped():
    """Skips are counted per room, and non-message events are reported apart."""
    rig = OutboxRig(max_backlog=1)
    rig.outbox.pauseProducing()
    rig.outbox.offer(b"x", 1, "a", 7)
    rig.outbox.offer(b"x", 1, "a", 8)
    rig.outbox.offer(b"x", 1, "b", None)
    rig.outbox.resumeProducing()
    assert rig.told == [Skipped("a", 1, 0, 7), Skipped("b", 0, 1, None)]


def test_outbox_skips_private_messages_past_the_backlog_and_counts_them_apart():
    """Private messages are skipped as room events are (they cannot be caught up on, so the
    notice has no room and no id); they never fill the backlog to the hard limit."""
    rig = OutboxRig(max_backlog=10)
    rig.outbox.pauseProducing()
    for _ in range(100):
        rig.outbox.offer(b"pm", 2, private=True)
    rig.outbox.offer(b"x", 2, "lobby", 1)
    assert rig.cut == []
    rig.outbox.resumeProducing()
    assert rig.sent[:5] == [b"pm"] * 5
    assert rig.told == [Skipped(None, 95, 0, None), Skipped("lobby", 1, 0, 0)]
    assert rig.counters.skipped == 96


def test_outbox_cuts_a_peer_past_the_hard_limit_of_unskippable_output():
    """Replies may fill twice the backlog; past that the peer is cut."""
    rig = OutboxRig(max_backlog=10)
    rig.outbox.pauseProducing()
    rig.outbox.offer(b"r", 20)
    assert rig.cut == []
    rig.outbox.offer(b"r", 1)
    assert len(rig.cut) == 1
    assert rig.counters.slow_closed == 1
    rig.outbox.offer(b"r", 1)
    assert len(rig.cut) == 1


def test_outbox_cuts_a_peer_that_stays_behind_past_the_timeout():
    """Paused for `slow_timeout` seconds without a resume: cut."""
    rig = OutboxRig(slow_timeout=5)
    rig.outbox.pauseProducing()
    rig.clock.advance(4.9)
    assert rig.cut == []
    rig.clock.advance(0.2)
    assert rig.cut and "5 seconds" in rig.cut[0]


def test_outbox_resume_cancels_the_timeout():
    """A peer that catches up in time is not cut later."""
    rig = OutboxRig(slow_timeout=5)
    rig.outbox.pauseProducing()
    rig.clock.advance(4)
    rig.outbox.resumeProducing()
    rig.clock.advance(100)
    assert rig.cut == []


def test_outbox_stops_sending_when_paused_again_while_draining():
    """If sending pauses the transport again, the rest waits for the next resume."""
    rig = OutboxRig()
    rig.outbox.pauseProducing()
    rig.outbox.offer(b"a", 1)
    rig.outbox.offer(b"b", 1)
    rig.outbox.send = lambda item: (rig.sent.append(item), rig.outbox.pauseProducing())
    rig.outbox.resumeProducing()
    assert rig.sent == [b"a"]


def test_outbox_needs_a_positive_backlog():
    """An unbounded backlog is exactly what it exists to prevent."""
    with pytest.raises(ValueError):
        OutboxRig(max_backlog=0)


# --- TurnBudget -----------------------------------------------------------------------------------


def test_the_turn_budget_is_shared_and_comes_back_each_turn() -> None:
    """`per_turn` bytes a turn for everyone together; the next turn has it all again."""
    clock = Clock()
    budget = TurnBudget(clock.callLater, 100)
    assert budget.take(60) and budget.take(60)  # the piece that crosses it still goes
    assert not budget.take(1)
    clock.advance(0)
    assert budget.take(100) and not budget.take(1)


def test_who_waits_for_the_budget_is_served_first_come_first_and_keeps_its_place() -> None:
    """Waiting feeders are called in order in later turns while budget lasts; those not
    served stay ahead of those that came after them."""
    turns: list = []
    budget = TurnBudget(lambda _, call: turns.append(call), 100)
    served: list[str] = []

    def feeder(name: str, size: int):
        def feed() -> None:
            served.append(name)
            if not budget.take(size):
                budget.wait(feed)

        return feed

    assert budget.take(100)
    for name in "abc":
        budget.wait(feeder(name, 100))

    def next_turn() -> None:
        calls = turns[:]
        turns.clear()
        for call in calls:
            call()

    next_turn()
    assert served == ["a"]
    budget.wait(feeder("d", 1))
    next_turn()
    assert served == ["a", "b"]
    next_turn()
    next_turn()
    assert served == ["a", "b", "c", "d"]
