"""Editing and deleting stored messages: `/edit ID TEXT`, `/delete ID`, and the admin API's
deletion.

Rules:
- Pure hub rules, like `moderation.py`. The message is read through the store first (from
  memory, or from disk off the reactor thread, the client's later commands waiting): an id
  that is not a stored message of the room (never said, deleted, past retention) is
  `no-such-message`.
- Its author may change it: the account that said it, or the very connection that said it
  as a guest (`Session.author`); a bot's message has no author. The room's operators (and
  server operators) may change anyone's.
- An edit's text follows the room messages' rules (cleaned, not empty, at most `text_max`).
- The change is kept by the store at once (`edit_message`, `delete_message`: every later read
  of history, replay, transcript, API and event-stream catch-up serves it edited, or not at
  all) and told to the room as an `edit` or `delete` event naming the message's id.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING

from chathub import access, errors
from chathub import commands as cmd
from chathub import moderation as mod
from chathub.access import OP
from chathub.commands import Ref
from chathub.events import Error, Event
from chathub.store import Since
from chathub.text import clean_text

if TYPE_CHECKING:
    from chathub.hub import Hub
    from chathub.session import Session


def handle(hub: "Hub", session: "Session", command: cmd.Edit | cmd.Delete) -> None:
    target = mod.target_room(hub, session, command.room, command.ref)
    if target is None:
        return
    text: str | None = None
    if isinstance(command, cmd.Edit):
        text = clean_text(command.text)
        if not text.strip():
            hub.tell(session, errors.empty(), command.ref)
            return
        if len(text) > hub.settings.text_max:
            hub.tell(session, errors.too_long(hub.settings.text_max), command.ref)
            return
    ref, id = command.ref, command.id

    def start(done: Callable[[], None]) -> None:
        def found(message: Event | None) -> None:
            if message is None:
                hub.tell(session, errors.no_such_message(target, id), ref)
            elif message.author != session.author and access.rank(hub, session, target) < OP:
                what = "edit" if text is not None else "delete"
                hub.tell(session, Error("not-op", f"only its author or an operator may {what} "
                                                  f"#{id}"), ref)  # fmt: skip
            else:
                change(hub, session, session.nick, target, id, text, ref)
            done()

        find(hub, target, id, found)

    hub.when_done(session, start)


def find(hub: "Hub", room: str, id: int, answer: Callable[[Event | None], None]) -> None:
    """The stored message `id` of `room`, or None, to `answer` (at once or later)."""
    if id < 1:
        answer(None)
        return

    def read(events: list[Event]) -> None:
        answer(events[0] if events and events[0].id == id else None)

    hub.store.read(room, Since(id - 1, 1), read)


def change(
    hub: "Hub",
    session: "Session | None",
    by: str,
    room: str,
    id: int,
    text: str | None,
    ref: Ref | None = None,
) -> None:
    """Edit (`text`) or delete (None) the stored message `id` of `room` and tell the room."""
    if text is None:
        hub.store.delete_message(room, id)
        event = Event(room, "delete", by, "", hub.clock(), message_id=id)
    else:
        hub.store.edit_message(room, id, text)
        event = Event(room, "edit", by, text, hub.clock(), message_id=id)
    mod.announce(hub, session, event, ref)


def delete_as_operator(
    hub: "Hub", by: str, room: str, id: int, answer: Callable[[bool], None]
) -> None:
    """The admin API's deletion: `answer` says whether there was such a message."""

    def found(message: Event | None) -> None:
        if message is not None:
            change(hub, None, by, room, id, None)
        answer(message is not None)

    find(hub, room, id, found)
