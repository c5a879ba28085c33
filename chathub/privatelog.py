"""Private messages as history: kept when a side is identified, readable only by the two.

Rules:
- A private message is kept when its sender or its recipient is identified (has an account);
  between two guests it is delivered live and never kept. One that is refused (no such nick,
  empty, too long, over the rate) is not kept: `record` runs only once it is sure to go out.
- Ids: one sequence for the whole server (`PrivateLog.append` gives the next), strictly
  increasing from 1, never reused, surviving restarts in a file (`sqliteprivate.py`). The live
  `pm` to and from an identified user carries it (`Private.id`).
- A kept message belongs to each identified side, as that account's conversation with the
  other side, which is named by its account if it was identified, else by the nick it had.
  Names are compared as nicks are (`nick_skeleton`). A guest's side is nobody's: a guest who
  registers later does not see what it said as a guest, and no third account ever sees it.
- Deleting an account or changing a password leaves them as they are.
- The WebSocket asks (a guest gets `not-identified`):
  `{"op":"conversations"}` -> `{"type":"conversations","conversations":[{"with":"bob",
  "last_id":12,"ts":...}]}`, most recent first, at most `CONVERSATIONS_MAX`;
  `{"op":"pm_history","with":"bob","before":ID?,"limit":N?}` -> `{"type":"pm_history",
  "with":"bob","messages":[{"id","from","to","text","ts"}]}`, the newest `limit` (default
  `HISTORY_DEFAULT`, at most `HISTORY_MAX`) below `before`, oldest first.
  Telnet: `/pms` lists conversations, `/pms NICK [N]` shows the last N of one as lines
  `[pm #ID HH:MM] <alice> text` (`linewire.py`).
- The store holds them behind the `PrivateLog` seam (`Store.privates`), answering through
  callbacks like `Store.read`: memory here (`MemoryPrivateLog`, bounded by count, the oldest
  go first), SQLite in `sqliteprivate.py`. `--retain-days` holds for them as for rooms (the
  store's `prune` calls `drop_older`); `--retain-messages` is per room and does not.
- Pure: no I/O of its own.
"""

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from chathub import errors
from chathub.commands import Ref
from chathub.events import Conversation, Conversations, Error, Private, PrivateHistory
from chathub.text import clean_text, nick_skeleton

if TYPE_CHECKING:
    from chathub.hub import Hub
    from chathub.session import Session

CONVERSATIONS_MAX = 100  # conversations one `conversations` answer lists
HISTORY_DEFAULT = 50  # messages a `pm_history` without `limit` answers (telnet: 20)
HISTORY_MAX = 100  # and at most
MEMORY_KEEP = 100_000  # messages the memory store keeps (the oldest go first)


@dataclass(frozen=True, slots=True)
class PrivateRecord:
    """A kept private message: the nicks and accounts (None: a guest) of both sides."""

    id: int
    sender: str
    to: str
    sender_account: str | None
    to_account: str | None
    text: str
    ts: float

    def threads(self) -> list[tuple[str, str]]:
        """(account key, partner key) of each identified side: whose conversations it is in."""
        sides: list[tuple[str, str]] = []
        if self.sender_account is not None:
            sides.append((nick_skeleton(self.sender_account), nick_skeleton(self.other(True))))
        if self.to_account is not None:
            side = (nick_skeleton(self.to_account), nick_skeleton(self.other(False)))
            if side not in sides:
                sides.append(side)
        return sides

    def other(self, sent: bool) -> str:
        """The name of the side that did not send (`sent`) or did not receive it."""
        if sent:
            return self.to_account or self.to
        return self.sender_account or self.sender

    def partner(self, account_key: str) -> str:
        """The other side's name, as the account `account_key` sees it."""
        mine = self.sender_account is not None and nick_skeleton(self.sender_account)
        return self.other(mine == account_key)

    def shown(self) -> Private:
        return Private(self.sender, self.to, self.text, self.ts, self.id)


ConversationsAnswer = Callable[[list[Conversation]], None]
MessagesAnswer = Callable[[list[PrivateRecord]], None]


class PrivateLog(Protocol):
    def append(self, message: PrivateRecord) -> PrivateRecord:
        """Keep `message` (its `id` is ignored); returns it with its id. Never blocks."""

    def conversations(self, account: str, limit: int, answer: ConversationsAnswer) -> None:
        """`account`'s newest `limit` conversations, the most recent first, to `answer`."""

    def read(
        self, account: str, partner: str, before: int | None, limit: int, answer: MessagesAnswer
    ) -> None:
        """The newest `limit` messages of `account` with `partner` below id `before` (None:
        the newest), oldest first, to `answer`."""

    def drop_older(self, cutoff: float) -> None:
        """Forget messages said before `cutoff` (retention by age; may take several calls)."""


def newest_conversations(
    account: str, messages: Iterable[PrivateRecord], limit: int
) -> list[Conversation]:
    """The conversations `messages` (each the newest of its conversation, or any) make for
    `account`: one per partner, its newest message, the most recent first."""
    key = nick_skeleton(account)
    newest: dict[str, PrivateRecord] = {}
    for message in messages:
        for mine, partner in message.threads():
            if mine == key and (partner not in newest or newest[partner].id < message.id):
                newest[partner] = message
    chosen = sorted(newest.values(), key=lambda message: -message.id)[:limit]
    return [Conversation(message.partner(key), message.id, message.ts) for message in chosen]


class MemoryPrivateLog:
    """Kept private messages in memory: gone on restart, at most `keep` of them."""

    def __init__(self, keep: int = MEMORY_KEEP) -> None:
        self.keep = keep
        self.last_id = 0
        self._messages: dict[int, PrivateRecord] = {}  # in id order
        # account key -> partner key -> ids, oldest first
        self._threads: dict[str, dict[str, deque[int]]] = {}

    def append(self, message: PrivateRecord) -> PrivateRecord:
        self.last_id += 1
        stored = replace(message, id=self.last_id)
        self._messages[stored.id] = stored
        for mine, partner in stored.threads():
            self._threads.setdefault(mine, {}).setdefault(partner, deque()).append(stored.id)
        while len(self._messages) > self.keep:
            self._forget(next(iter(self._messages)))
        return stored

    def drop_older(self, cutoff: float) -> None:
        while self._messages:
            oldest = next(iter(self._messages.values()))
            if oldest.ts >= cutoff:
                break
            self._forget(oldest.id)

    def _forget(self, id: int) -> None:
        """Forget the oldest message: it is the oldest of each of its conversations too."""
        message = self._messages.pop(id)
        for mine, partner in message.threads():
            threads = self._threads[mine]
            threads[partner].popleft()
            if not threads[partner]:
                del threads[partner]
                if not threads:
                    del self._threads[mine]

    def conversations(self, account: str, limit: int, answer: ConversationsAnswer) -> None:
        threads = self._threads.get(nick_skeleton(account), {})
        last = [self._messages[ids[-1]] for ids in threads.values()]
        answer(newest_conversations(account, last, limit))

    def read(
        self, account: str, partner: str, before: int | None, limit: int, answer: MessagesAnswer
    ) -> None:
        threads = self._threads.get(nick_skeleton(account), {})
        found: list[PrivateRecord] = []
        for id in reversed(threads.get(nick_skeleton(partner), ())):
            if len(found) >= limit:
                break
            if before is None or id < before:
                found.append(self._messages[id])
        found.reverse()
        answer(found)


# --- the hub's side: `nicks.private` keeps, `Hub.handle` answers -------------------------------


def record(
    hub: "Hub", sender: "Session", to: str, to_account: str | None, text: str, ts: float
) -> int | None:
    """Keep a private message that is going out to the nick `to` (identified as `to_account`),
    when a side is identified; its id (None: a message between guests, not kept)."""
    if sender.account is None and to_account is None:
        return None
    message = PrivateRecord(0, sender.nick, to, sender.account, to_account, text, ts)
    return hub.store.privates.append(message).id


def conversations(hub: "Hub", session: "Session", ref: Ref | None) -> None:
    account = session.account
    if account is None:
        hub.tell(session, errors.not_identified(), ref)
        return

    def start(done: Callable[[], None]) -> None:
        def answer(found: list[Conversation]) -> None:
            hub.tell(session, Conversations(tuple(found)), ref)
            done()

        hub.store.privates.conversations(account, CONVERSATIONS_MAX, answer)

    hub.when_done(session, start)


def history(
    hub: "Hub",
    session: "Session",
    partner: str,
    before: int | None,
    limit: int | None,
    ref: Ref | None,
) -> None:
    account = session.account
    if account is None:
        hub.tell(session, errors.not_identified(), ref)
        return
    partner = clean_text(partner).strip()[:64]
    if not partner:
        hub.tell(session, Error("bad-request", "pm_history: 'with' names nobody"), ref)
        return
    if (before is not None and before < 1) or (limit is not None and limit < 1):
        hub.tell(session, Error("bad-request", "before and limit must be 1 or more"), ref)
        return
    count = min(limit or HISTORY_DEFAULT, HISTORY_MAX)

    def start(done: Callable[[], None]) -> None:
        def answer(found: list[PrivateRecord]) -> None:
            messages = tuple(message.shown() for message in found)
            hub.tell(session, PrivateHistory(partner, messages), ref)
            done()

        hub.store.privates.read(account, partner, before, count, answer)

    hub.when_done(session, start)
