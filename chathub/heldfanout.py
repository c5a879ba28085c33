"""Held fan-out: room events stored already and delivered a little later, together.

A delivery costs mostly the write that carries it, so events of one room that reach a member
in one write cost it about what one does. Three things hold events for that, and deliver
each room's run of them as one tuple (one encoding, one write per member):

- Bots' posts (HTTP publishes) are stored and answered at once, and fanned out at the end of
  the reactor's turn, those of one room together (`publish(..., fan_out_later=True)`): a script
  pipelining single-message POSTs costs each reader one write per turn, not one per message.
- Publications a broker hands over together (`receive(..., together=True)`: a Redis broker's
  pushes of one read) are held until the broker says the read is over (`read_over`): one
  write per member per read, not per message.
- The fan-out window (`--fan-out-window`, off by default): while a room's events come faster
  than the window (its last fan-out was less than a window ago), those that come are held and
  delivered when the window ends; an event of a room that was quiet for a window goes out at
  once (and what is held before it, with it: order is kept). A message's sender gets its copy
  (its ack) with the others, so a window of W seconds adds at most W to any delivery, only
  under load.

Rules for all three:
- Only a room's events wait; senders' refs are kept with them. A held publication of this hub
  keeps its senders held until it is delivered (then they go on, `Delivery._land`).
- Anything delivered first (a private message, a nick change, a direct reply, a change to the
  records) first delivers what is held (`fan_out_held`), so nobody sees a different order.
- What is held was stored already (a store's delivery point counts it): a member added, or a
  reader, first gets what is held delivered to the others, so it has it once, in its replay;
  a member taken out (a part, a kick, a ban enforced) first gets what is held, as it would one
  by one.
- Runs are joined in order: a member of several rooms gets every event in the order it was
  said, so only consecutive events of one room (and one audience) share a write.
- Pure: no I/O (the reactor's `later` and `clock` are given); a mixin of `Delivery`.
"""

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, cast

from chathub import commands as cmd
from chathub.broker import Publication
from chathub.events import Event, Private

if TYPE_CHECKING:
    from chathub.session import Session

# Who sent which item of a publication (by position), and the ref its copy carries.
Senders = tuple[tuple[int, "Session", cmd.Ref | None], ...]
# The refs the copies of a publication's items carry, by session and position.
Refs = dict["Session", dict[int, cmd.Ref]]
WINDOWS_KEPT = 4096  # rooms' last fan-outs kept before those whose window is over are dropped

# A held publication: its refs, and the senders it holds (ours, in flight), if any.
Held = tuple[Publication, Refs, Senders | None]


class HeldFanOut:
    """The publications waiting to be fanned out, in order, and when they go."""

    later: Callable[[float, Callable[[], None]], object] | None
    clock: Callable[[], float]

    def __init__(self, fan_out_window: float) -> None:
        self._held: list[Held] = []
        self._fan_out_later: set[int] = set()  # the numbers of our bots' posts, to hold
        self._end_of_turn = False  # whether the turn's end will deliver what is held
        self._fanning_out = False
        # The fan-out window (seconds; 0: off): when each room's events were last fanned
        # out, and whether a timer will deliver what the window holds.
        self.fan_out_window = fan_out_window
        self._last_fan_out: dict[str, float] = {}
        self._window_open = False

    def _fan_out(self, publication: Publication, refs: Refs) -> None:
        raise NotImplementedError  # Delivery's

    def _land(self, senders: Senders) -> None:
        raise NotImplementedError  # Delivery's

    def held_to_turns_end(
        self, publication: Publication, refs: Refs, flying: Senders | None
    ) -> bool:
        """Hold a bot's post until the end of the turn; False: it goes now (no reactor, or
        it was in flight, so the turn it was posted in is over)."""
        if self.later is None or flying is not None:
            return False
        if not self._end_of_turn:
            self._end_of_turn = True
            self.later(0, self._turn_over)
        self._held.append((publication, refs, None))
        return True

    def held_for_later(
        self, publication: Publication, refs: Refs, flying: Senders | None, together: bool
    ) -> bool:
        """Hold a room's events that came `together` with more (until `read_over`) or within
        the fan-out window (until it ends); False: they go now."""
        if publication.nicks or type(publication.items[0]) is not Event:
            return False
        if not together and not self._in_window(publication.rooms):
            return False
        self._held.append((publication, refs, flying))
        return True

    def _turn_over(self) -> None:
        self._end_of_turn = False
        self.read_over()

    def read_over(self) -> None:
        """The broker has handed over all it had together (one read): deliver what is held,
        unless the fan-out window holds it until it ends."""
        held = self._held
        if held and self.fan_out_window and self._in_window([p.rooms[0] for p, _, _ in held]):
            return
        self.fan_out_held()

    def _in_window(self, rooms: Iterable[str]) -> bool:
        """Whether events of `rooms` received now wait for the fan-out window to end: each
        of the rooms had a fan-out less than a window ago (a quiet room's event goes out at
        once, and what waits before it with it). The first to wait sets the timer."""
        if self.later is None:
            return False
        now = self.clock()
        window = self.fan_out_window
        ends = min(self._last_fan_out.get(room, -window) + window for room in rooms)
        if ends <= now:
            return False
        if not self._window_open:
            self._window_open = True
            self.later(ends - now, self._window_over)
        return True

    def _window_over(self) -> None:
        self._window_open = False
        self.fan_out_held()

    def fanned_out(self, room: str) -> None:
        """`room`'s events went out: its fan-out window starts again (with a window only)."""
        now = self.clock()
        last = self._last_fan_out
        last[room] = now
        if len(last) > WINDOWS_KEPT:  # forget the rooms whose window is over
            over = now - self.fan_out_window
            self._last_fan_out = {room: at for room, at in last.items() if at > over}

    def fan_out_held(self) -> None:
        """Deliver the publications held, in order, each room's run of them as one (see the
        module's rules); then their senders go on."""
        if self._fanning_out:
            # Called from inside a delivery (a reader cut off, who leaves): the rest comes
            # after it, from the loop below, as it would have one by one.
            return
        held = self._held  # one list: what a sender going on delivers first goes on from it
        while held:
            first = held[0][0]
            end = 1
            while end < len(held) and _same_audience(held[end][0], first):
                end += 1
            run = held[:end]
            del held[:end]
            self._fanning_out = True
            try:
                if end == 1:
                    self._fan_out(first, run[0][1])
                else:
                    self._fan_out(*_joined(run))
            finally:
                self._fanning_out = False
            for _, _, flying in run:
                if flying is not None:
                    self._land(flying)


def _same_audience(publication: Publication, other: Publication) -> bool:
    """Whether two held publications (a room's events) go to the same clients."""
    return publication.rooms == other.rooms and publication.exclude == other.exclude


def _joined(run: list[Held]) -> tuple[Publication, Refs]:
    """Publications of one room's events as one (what their readers get in one write), and
    their refs by the items' positions in it."""
    items: list[Event | Private] = []
    refs: Refs = {}
    for publication, own, _ in run:
        for session, by_index in own.items():
            joined = refs.setdefault(session, {})
            for index, ref in by_index.items():
                joined[len(items) + index] = ref
        items.extend(cast(tuple[Event | Private, ...], publication.items))  # a room's events
    return replace(run[0][0], items=tuple(items)), refs
