"""Edits and deletions of the SQLite store's messages: in memory at once, on disk behind.

Rules:
- An edit or a deletion changes the memory cache at once and is queued for the file behind
  the messages before it (`sqlitewriter.py`). Until it is written, rows read from the file
  still say the old text (or hold a deleted message): every read is corrected here
  (`corrected`), so nobody is served what was changed.
- An entry goes once the change it holds is written (a later change of the same message
  keeps its own entry).
- Pure: no I/O of its own.
"""

from collections.abc import Callable
from dataclasses import replace

from chathub.cache import HistoryCache
from chathub.events import Event
from chathub.sqlitefile import Edit
from chathub.sqlitewriter import Pending, Writer


class MessageEdits:
    """The store's edits and deletions, and those not yet written: (room, id) -> the newest."""

    def __init__(self, cache: HistoryCache, writer: Writer, clock: Callable[[], float]) -> None:
        self.cache = cache
        self.writer = writer
        self.clock = clock
        self._changes: dict[tuple[str, int], Edit] = {}
        writer.changes_written = self.written

    def edit(self, room: str, id: int, text: str) -> None:
        self.cache.edit(room, id, text)
        self._queue(Edit(room, id, text, self.clock()))

    def delete(self, room: str, id: int) -> None:
        self.cache.delete(room, id)
        self._queue(Edit(room, id, None))

    def _queue(self, change: Edit) -> None:
        self._changes[(change.room, change.id)] = change
        self.writer.change(change)

    def written(self, changes: list[Pending]) -> None:
        """The writer committed `changes`: reads from the file are right about them now."""
        for change in changes:
            if isinstance(change, Edit):
                key = (change.room, change.id)
                if self._changes.get(key) is change:
                    del self._changes[key]

    def corrected(self, events: list[Event]) -> list[Event]:
        """Events read from the file with the changes not written yet applied."""
        if not self._changes:
            return events
        corrected: list[Event] = []
        for event in events:
            change = self._changes.get((event.room or "", event.id or 0))
            if change is None:
                corrected.append(event)
            elif change.text is not None:
                corrected.append(replace(event, text=change.text, edited=True))
        return corrected
