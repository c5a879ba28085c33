"""What adapters and HTTP ask of the hub about rooms: the busiest rooms, every room page by
page, a room's members; from this process, or with many processes from the roster.

Rules:
- Pure hub rules (no I/O). Without a roster the answers are at once; with one they come
  later (None: the roster cannot be reached).
- Private rooms that the asker may not see are left out everywhere (`access.py`).
"""

import heapq
from collections.abc import Callable
from typing import TYPE_CHECKING

from chathub.access import ANONYMOUS, Viewer, can_see
from chathub.broker import Listing
from chathub.text import nick_key

if TYPE_CHECKING:
    from chathub.hub import Hub
    from chathub.session import Session


def room_list(
    hub: "Hub",
    limit: int | None = None,
    viewer: Viewer = ANONYMOUS,
    session: "Session | None" = None,
) -> tuple[list[tuple[str, int]], int]:
    """The busiest rooms (most members first, then by name; rooms recently active but
    empty after them), at most `limit` (`room_list_max`), and how many rooms there are.
    Private rooms that `viewer` (or `session`) may not see are left out (`access.py`)."""
    limit = limit or hub.settings.room_list_max
    private = hub.room_states.private
    hidden = {r for r in private if not can_see(hub, r, viewer, session)} if private else set()
    busiest = heapq.nsmallest(
        limit, ((-len(m), name) for name, m in hub.members.items() if name not in hidden)
    )
    listing = [(name, -negative) for negative, name in busiest]
    if len(listing) < limit:
        idle = sorted(
            name for name in hub.store.rooms() if name not in hub.members and name not in hidden
        )
        listing += [(name, 0) for name in idle[: limit - len(listing)]]
    new_rooms = sum(1 for name in hub.members if hub.store.last_id(name) == 0)
    return listing, max(len(listing), hub.store.room_count() + new_rooms - len(hidden))


def list_rooms(
    hub: "Hub",
    limit: int | None,
    answer: Callable[[Listing | None], None],
    viewer: Viewer = ANONYMOUS,
    session: "Session | None" = None,
) -> None:
    """`room_list`, from every process when there are several: at once, or later from
    the roster (None: it cannot be reached). Private rooms are left out as there."""
    if hub.roster is None:
        answer(hub.room_list(limit, viewer, session))
        return

    def visible(listing: Listing | None) -> None:
        if listing is None or not hub.room_states.private:
            answer(listing)
            return
        shown = [(n, c) for n, c in listing[0] if can_see(hub, n, viewer, session)]
        answer((shown, max(len(shown), listing[1] - (len(listing[0]) - len(shown)))))

    hub.roster.rooms(limit or hub.settings.room_list_max, visible)


def room_members(hub: "Hub", room: str, answer: Callable[[list[str] | None], None]) -> None:
    """The nicks in `room` (in every process), sorted as `who` shows them."""
    if hub.roster is None:
        answer(sorted((s.nick for s in hub.members.get(room, ())), key=nick_key))
        return

    def sort(nicks: list[str] | None) -> None:
        answer(None if nicks is None else sorted(nicks, key=nick_key))

    hub.roster.who(room, sort)


def room_page(
    hub: "Hub",
    after: str,
    limit: int,
    answer: Callable[[list[tuple[str, int]]], None],
    viewer: Viewer = ANONYMOUS,
) -> None:
    """Rooms with members or stored messages whose names sort after `after`, in name
    order, at most `limit`, with their member counts (for paging through every room);
    private rooms `viewer` may not see are left out (a page may then be short)."""
    if hub.roster is not None:

        def visible(page: list[tuple[str, int]] | None) -> None:
            answer([(name, n) for name, n in page or [] if can_see(hub, name, viewer)])

        hub.roster.room_page(after, limit, visible)
        return

    def names_read(names: list[str]) -> None:
        members = hub.members
        chosen = sorted(set(names) | {name for name in members if name > after})[:limit]
        answer([
            (name, len(members.get(name, ()))) for name in chosen
            if can_see(hub, name, viewer)
        ])  # fmt: skip

    hub.store.room_names(after, limit, names_read)
