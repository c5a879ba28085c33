"""Ephemeral room signals: "alice is typing". Never stored, never shown on a terminal.

Rules:
- Pure functions of the hub's state, called by `Hub.handle`. A signal is a room `Event` of
  kind `typing` (no text, no id) that leaves through `Hub.publish` like every event for more
  than one client; the broker stores only messages and actions, so it is never kept.
- Only members of a room signal in it. Each client may signal a room once every
  `TYPING_SECONDS`; a signal sooner than that is dropped (a `ref` gets `ok`), so a page that
  sends one per keystroke costs the room nothing more.
- Line clients never see one: the line protocol renders it as nothing (`linewire.py`), and so
  do event streams for scripts (`sse.py`). The page shows it for a few seconds.
"""

from typing import TYPE_CHECKING

from chathub.commands import Ref
from chathub.events import Event, Ok
from chathub.rooms import member_room

if TYPE_CHECKING:
    from chathub.hub import Hub
    from chathub.session import Session

TYPING_SECONDS = 3.0  # the fewest seconds between two signals of one client in one room

# Kinds of events that are signals: delivered live, never stored, not for terminals.
SIGNAL_KINDS: frozenset[str] = frozenset({"typing"})


def typing(hub: "Hub", session: "Session", room: str | None, ref: Ref | None) -> None:
    target = member_room(hub, session, room, ref)
    if target is None:
        return
    now = hub.clock()
    last = session.signalled.get(target)
    if last is not None and now - last < TYPING_SECONDS:
        if ref is not None:
            hub.tell(session, Ok(), ref)
        return
    session.signalled[target] = now
    event = Event(target, "typing", session.nick, "", now)
    hub.publish((event,), (target,), (), ((0, session, ref),))
