"""Who is connected, as the hub sees them: the `Client` seam to a connection, and the `Session`
the hub keeps for it.

Rules:
- `Client` is the one narrow seam from the hub to a connection: output goes in through
  `deliver` (one item, with the `ref` of the command it answers) and `deliver_events` (a room's
  events fanned out together, the same tuple to every member); nothing in it is asynchronous,
  and writes buffer, never block. `hold_input` stops and resumes reading a client's input.
- A `Session` holds only what the hub needs of one client: its nick, its rooms in join order
  (the last is current), its rate counters, what waits behind an unfinished command and the
  holds on it (`delivery.py`), and its account and guest standing (`identity.py`,
  `access.py`). It is compared by identity, never by value.
- Pure: no I/O.
"""

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from chathub import commands as cmd
from chathub.events import Event, Outgoing
from chathub.limits import MinuteCounter

Ref = cmd.Ref


class Client(Protocol):
    """What the hub needs of a connection: somewhere to put output, and a way to end it."""

    @property
    def transport_name(self) -> str:
        """`telnet`, `ws`, `sse`, `http`: traffic is counted by it."""
        ...

    def deliver(self, item: Outgoing, ref: Ref | None = None) -> None: ...

    def deliver_events(self, events: tuple[Event, ...]) -> None:
        """Room events fanned out together (`Hub.batch`), in order, none with a `ref`: the
        same tuple goes to every member, so an adapter can encode it once."""
        ...

    def close(self) -> None: ...

    def hold_input(self, held: bool) -> None:
        """Stop (True) or go back to (False) reading this client's input: the hub cannot
        carry out its next command yet (a room is read from disk, history is being written)."""
        ...


# What waits behind a command the hub could not finish at once: commands, and the rest of a
# connect (its later joins).
Waiting = list[cmd.Command | Callable[[], None]]


@dataclass(eq=False, slots=True)
class Session:
    """The hub's record of one connected client."""

    client: Client
    nick: str
    rooms: list[str] = field(default_factory=list)  # in join order; the last is current
    nick_changes: MinuteCounter = field(default_factory=lambda: MinuteCounter(0))
    joins: MinuteCounter = field(default_factory=lambda: MinuteCounter(0))
    # Commands waiting for one that is not finished (see `Hub.when_done`); None: nothing waits.
    waiting: Waiting | None = None
    holds: int = 0  # unfinished work holding it (commands, publications in flight)
    in_flight: int = 0  # its publications a remote broker has not handed back yet
    signalled: dict[str, float] = field(default_factory=dict)  # room -> last typing signal
    # Accounts and moderation (identity.py, access.py): where it connected from, the account
    # it is identified as and the hash of the log-in token it used, and as a guest the rooms
    # it was invited to or voiced in (None: none, the usual case; sets cost memory).
    address: str = ""
    account: str | None = None
    login: str | None = None
    invited: set[str] | None = None
    voiced: set[str] | None = None
    _key: str | None = None  # a guest's author key, made when first needed
    # Bytes it may still say while the store is behind, and when that was last worked out
    # (`Delivery.passes_while_behind`; 0: never, so the full allowance).
    allowance: float = 0.0
    allowance_at: float = 0.0

    @property
    def current_room(self) -> str | None:
        return self.rooms[-1] if self.rooms else None

    @property
    def author(self) -> str:
        """Who a message it says is by: its account, or `~KEY` for this connection as a
        guest (so a guest may edit what it said, and nobody who takes its nick later may)."""
        if self.account is not None:
            return self.account
        if self._key is None:
            self._key = "~" + secrets.token_hex(6)
        return self._key
