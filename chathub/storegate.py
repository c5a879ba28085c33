"""The store's gate: while unwritten history is getting old, messages wait with their senders.

Rules:
- While the store is behind (`Store.behind`: its oldest unwritten message is getting old),
  a message (room, action or private: private ones may be kept) waits, unacknowledged, and
  its sender is not read (`wait_for_store`), until the store calls back caught up.
- A light sender passes: one that has said little lately (a person typing), so a flood held
  at the gate does not hold everyone else. Each session's allowance is a token bucket of
  `LIGHT_BURST` bytes refilled at `LIGHT_RATE` a second, charged only while the store is
  behind (the usual path pays nothing); a message bigger than the burst never passes, so
  what passes is bounded by connections x the rate.
- Waiters resume in the order they came, `RESUME_PER_TURN` a reactor turn (each carries out
  what it held, a read's worth of messages, and a thousand at once would keep everyone else
  waiting for the reactor), as long as the store keeps up; once it is behind again the rest
  wait for it, still first in line, and one held again goes to the back.
- Pure: no I/O; a mixin of `Delivery`, whose holds and resumes it uses.
"""

from collections.abc import Callable

from chathub import commands as cmd
from chathub.session import Session
from chathub.store import Store

LIGHT_BURST = 4096  # bytes of text a light sender may say at once while the store is behind
LIGHT_RATE = 1024.0  # and a second, after that
RESUME_PER_TURN = 16  # sessions the store's catching up resumes in one reactor turn


class StoreGate:
    """The sessions whose messages wait for the store, in the order they came."""

    store: Store
    later: Callable[[float, Callable[[], None]], object] | None
    clock: Callable[[], float]

    def __init__(self) -> None:
        self._store_waiters: dict[Session, None] = {}
        # Whether the store (or the next turn) will call `_store_caught_up`.
        self._store_asked = False

    def _hold(self, session: Session) -> None:
        raise NotImplementedError  # Delivery's

    def _resume(self, session: Session) -> None:
        raise NotImplementedError  # Delivery's

    def passes_while_behind(self, session: Session, text: str) -> bool:
        """Whether `session` may say `text` although the store is behind: a light sender's
        allowance covers it (and is charged)."""
        now = self.clock()
        elapsed = max(0.0, now - session.allowance_at)
        allowance = min(LIGHT_BURST, session.allowance + elapsed * LIGHT_RATE)
        session.allowance_at = now
        size = len(text.encode())
        if size > allowance:
            session.allowance = allowance
            return False
        session.allowance = allowance - size
        return True

    def wait_for_store(self, session: Session, command: cmd.Command) -> None:
        self._store_waiters[session] = None
        self._hold(session)
        assert session.waiting is not None
        session.waiting.append(command)
        self._ask_store()

    def _ask_store(self) -> None:
        if not self._store_asked:
            self._store_asked = True
            self.store.when_caught_up(self._store_caught_up)

    def _store_caught_up(self) -> None:
        """Resume the store's waiters in the order they came, `RESUME_PER_TURN` a turn: each
        carries out what it held (a read's worth of messages), and a thousand of them at once
        would keep everyone else waiting for the reactor. Once the store is behind again, the
        rest wait for it, still first in line."""
        self._store_asked = False
        resumed = 0
        while self._store_waiters:
            if self.store.behind():
                self._ask_store()
                return
            if resumed == RESUME_PER_TURN and self.later is not None:
                self.later(0, self._store_caught_up)
                self._store_asked = True  # the call above stands for the store's
                return
            session = next(iter(self._store_waiters))
            del self._store_waiters[session]
            self._resume(session)
            resumed += 1
