"""Bans: masks, durations, and the bans of every room and of the whole server.

Rules:
- A mask is a nick (it matches a client with that nick or an account of that name, nicks
  compared as nicks are: case and lookalikes aside), `account:NAME` (a client identified as
  that account), an IP address or a CIDR network (a client connected from inside it). Masks
  are kept in one canonical form (`192.168.1.0/24`, `2001:db8::/32`), so the same ban is
  never listed twice.
- A duration is a whole number and a unit: `30s`, `30m`, `2h`, `7d`, `2w`; a ban without one
  holds for ever. An expired ban is dropped (and forgotten by the store) the next time its
  list is read.
- A room's bans have the room's name as their scope; a server operator's `/gban` has the
  scope `GLOBAL` and holds in every room and at the door.
- These are the truth while the process runs; every change goes to the store (`save`).
- Pure: the caller gives the time.
"""

import ipaddress
import re
from collections.abc import Callable
from datetime import UTC, datetime

from chathub.events import BanEntry
from chathub.records import GLOBAL, BanRecord, Change, Put, Remove, SavedState
from chathub.text import is_valid_nick, nick_skeleton

_DURATION = re.compile(r"([0-9]{1,6})([smhdw])")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
ACCOUNT_PREFIX = "account:"


def parse_duration(text: str) -> float | None:
    """Seconds for `30m`, `2h`, `7d`...; None when `text` is not a duration."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None or int(match.group(1)) == 0:
        return None
    return float(int(match.group(1)) * UNITS[match.group(2)])


def show_duration(seconds: float) -> str:
    """A duration as a person writes it: `2h`, `90m`, `7d`."""
    whole = max(1, round(seconds))
    for unit in ("d", "h", "m"):
        if whole % UNITS[unit] == 0:
            return f"{whole // UNITS[unit]}{unit}"
    return f"{whole}s"


def shown_until(until: float | None) -> str | None:
    """When a ban ends, for people: `2026-11-23 14:05 UTC`; None for never."""
    if until is None:
        return None
    return datetime.fromtimestamp(until, UTC).strftime("%Y-%m-%d %H:%M UTC")


def describe(entry: BanEntry) -> str:
    """One ban as a line of a listing: `bob by alice for 2h, until ... UTC: spam`."""
    length = ""
    if entry.until is not None:
        length = f" for {show_duration(entry.until - entry.created)}, until "
        length += shown_until(entry.until) or ""
    reason = f": {entry.reason}" if entry.reason else ""
    return f"{entry.mask} by {entry.by}{length}{reason}"


def parse_mask(text: str) -> str | None:
    """The canonical form of a mask, or None when `text` is none of the kinds."""
    text = text.strip()
    if text.lower().startswith(ACCOUNT_PREFIX):
        name = text[len(ACCOUNT_PREFIX) :]
        return ACCOUNT_PREFIX + name if is_valid_nick(name) else None
    if is_valid_nick(text):
        return text
    try:
        if "/" in text:
            return str(ipaddress.ip_network(text, strict=False))
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def matches(mask: str, nick: str | None, account: str | None, address: str) -> bool:
    """Whether a client (its nick, its account or None, its address) is under `mask`."""
    if mask.startswith(ACCOUNT_PREFIX):
        name = mask[len(ACCOUNT_PREFIX) :]
        return account is not None and nick_skeleton(account) == nick_skeleton(name)
    if is_valid_nick(mask):
        key = nick_skeleton(mask)
        return (nick is not None and nick_skeleton(nick) == key) or (
            account is not None and nick_skeleton(account) == key
        )
    try:
        client = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False  # a UNIX socket's "local": no address to ban
    mapped = getattr(client, "ipv4_mapped", None)
    if mapped is not None:
        client = mapped
    try:
        return client in ipaddress.ip_network(mask, strict=False)
    except ValueError:
        return False


class Bans:
    """Every ban, by scope (a room, or `GLOBAL`) and mask."""

    def __init__(self, saved: SavedState, save: Callable[[Change], None]) -> None:
        self.save = save
        self.by_scope: dict[str, dict[str, BanEntry]] = {}
        for ban in saved.bans:
            entry = BanEntry(ban.mask, ban.by, ban.reason, ban.created, ban.until)
            self.by_scope.setdefault(ban.scope, {})[ban.mask.lower()] = entry

    def add(self, scope: str, entry: BanEntry) -> None:
        self.by_scope.setdefault(scope, {})[entry.mask.lower()] = entry
        self.save(Put(_record(scope, entry)))

    def remove(self, scope: str, mask: str) -> BanEntry | None:
        bans = self.by_scope.get(scope, {})
        entry = bans.pop(mask.lower(), None)
        if entry is not None:
            self.save(Remove(_record(scope, entry)))
        if not bans:
            self.by_scope.pop(scope, None)
        return entry

    def of(self, scope: str, now: float) -> tuple[BanEntry, ...]:
        """The bans in force in `scope`, oldest first (expired ones are dropped)."""
        bans = self.by_scope.get(scope)
        if not bans:
            return ()
        for entry in [e for e in bans.values() if e.until is not None and e.until <= now]:
            self.remove(scope, entry.mask)
        return tuple(sorted(self.by_scope.get(scope, {}).values(), key=lambda e: e.created))

    def match(
        self, scope: str, nick: str | None, account: str | None, address: str, now: float
    ) -> BanEntry | None:
        """The ban in `scope` that a client is under, if any."""
        if scope not in self.by_scope:  # the usual case: a room without bans
            return None
        for entry in self.of(scope, now):
            if matches(entry.mask, nick, account, address):
                return entry
        return None

    def scopes(self) -> list[str]:
        return [scope for scope in self.by_scope if scope != GLOBAL]


def _record(scope: str, entry: BanEntry) -> BanRecord:
    return BanRecord(scope, entry.mask, entry.by, entry.reason, entry.created, entry.until)
