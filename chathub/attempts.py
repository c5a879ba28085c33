"""Slowing down password guessing: failed log-ins per address and per account, and sign-ups
per address.

Rules:
- Every failed log-in (a wrong password, on any transport: `/identify`, the `identify` op,
  `POST /api/session`, `/password`) counts against the address it came from (an IPv6 /64 is
  one address) and against the account it tried. The first `FREE_PER_ADDRESS` (10) and
  `FREE_PER_ACCOUNT` (5) failures cost nothing more; each one after that locks further
  attempts from that address, or on that account, for twice as long as the one before: 2 s,
  4 s, 8 s, ... at most `MAX_LOCK` (15 minutes). A locked attempt is refused at once
  (`rate-limited`, with the wait), without checking the password, so it costs no hashing.
- Failures are forgotten `FORGET_AFTER` (15 minutes) after the last one; a successful log-in
  clears its account's count (never its address's, which may be guessing at other accounts).
- Besides, the hub answers each failure only after `FAILURE_DELAY` (1 s), holding that
  connection's later commands meanwhile.
- Sign-ups (`/register`): at most `REGISTRATIONS_PER_HOUR` (5) an address in any hour.
- Memory is bounded: at most `MAX_ENTRIES` addresses and accounts are remembered (the least
  recently failed go first).
- Pure: the caller gives the time.
"""

from collections import OrderedDict
from dataclasses import dataclass, field

from chathub.limits import address_group
from chathub.text import nick_skeleton

FREE_PER_ADDRESS = 10
FREE_PER_ACCOUNT = 5
MAX_LOCK = 900.0
FORGET_AFTER = 900.0
FAILURE_DELAY = 1.0
REGISTRATIONS_PER_HOUR = 5
MAX_ENTRIES = 10_000


@dataclass(slots=True)
class _Record:
    failures: int = 0
    last: float = 0.0
    locked_until: float = 0.0
    registrations: list[float] = field(default_factory=list)


class Attempts:
    """Failed log-ins and sign-ups by address and by account."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._records: OrderedDict[str, _Record] = OrderedDict()

    def _keys(self, address: str, account: str | None) -> list[tuple[str, int]]:
        keys = [("address:" + address_group(address), FREE_PER_ADDRESS)]
        if account is not None:
            keys.append(("account:" + nick_skeleton(account), FREE_PER_ACCOUNT))
        return keys

    def _get(self, key: str, now: float) -> _Record | None:
        record = self._records.get(key)
        if record is not None and record.failures and now - record.last > FORGET_AFTER:
            record.failures = 0
            record.locked_until = 0.0
        return record

    def wait(self, address: str, account: str | None, now: float) -> float:
        """Seconds before a log-in from `address` to `account` may be tried (0: now)."""
        wait = 0.0
        for key, _ in self._keys(address, account):
            record = self._get(key, now)
            if record is not None:
                wait = max(wait, record.locked_until - now)
        return wait

    def failed(self, address: str, account: str | None, now: float) -> None:
        for key, free in self._keys(address, account):
            record = self._get(key, now) or self._add(key)
            record.failures += 1
            record.last = now
            self._records.move_to_end(key)
            if record.failures > free:
                record.locked_until = now + min(MAX_LOCK, 2.0 ** (record.failures - free))

    def succeeded(self, account: str) -> None:
        record = self._records.get("account:" + nick_skeleton(account))
        if record is not None:
            record.failures = 0
            record.locked_until = 0.0

    def register(self, address: str, now: float) -> float:
        """Count a sign-up from `address`: 0 if it may go ahead, else the seconds to wait
        (and nothing is counted)."""
        key = "signup:" + address_group(address)
        record = self._records.get(key) or self._add(key)
        record.registrations = [t for t in record.registrations if now - t < 3600.0]
        if len(record.registrations) >= REGISTRATIONS_PER_HOUR:
            return record.registrations[0] + 3600.0 - now
        record.registrations.append(now)
        self._records.move_to_end(key)
        return 0.0

    def _add(self, key: str) -> _Record:
        record = self._records[key] = _Record()
        while len(self._records) > self.max_entries:
            self._records.popitem(last=False)
        return record
