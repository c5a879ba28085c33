"""Edits and deletions of stored messages that the SQLite store has not written yet.

Rules:
- An edit or a deletion changes the memory cache at once and is queued for the file behind
  the messages before it (`sqlitewriter.py`). Until it is written, rows read from the file
  still say the old text (or hold a deleted message): every read is corrected here, so
  nobody is served what was changed.
- An entry goes once the change it holds is written (a later change of the same message
  keeps its own entry).
- Pure: no I/O.
"""

from dataclasses import replace

from chathub.events import Event
from chathub.sqlitefile import Edit


class UnwrittenEdits:
    """(room, id) -> the newest change of that message not yet written."""

    def __init__(self) -> None:
        self._changes: dict[tuple[str, int], Edit] = {}

    def add(self, change: Edit) -> None:
        self._changes[(change.room, change.id)] = change

    def written(self, change: Edit) -> None:
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
