"""Ban masks, durations, and the ban lists."""

import pytest

from chathub.bans import Bans, describe, matches, parse_duration, parse_mask, show_duration
from chathub.events import BanEntry
from chathub.records import BanRecord, Put, Remove, SavedState


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30.0), ("30m", 1800.0), ("2h", 7200.0), ("7d", 604800.0), ("2w", 1209600.0),
     ("2H", 7200.0), ("0m", None), ("2", None), ("h", None), ("2y", None), ("-2h", None),
     ("1234567h", None)],
)  # fmt: skip
def test_durations_are_a_number_and_a_unit(text, seconds):
    """`30m`, `2h`, `7d`: seconds; anything else is not a duration."""
    assert parse_duration(text) == seconds


def test_a_duration_shows_in_its_largest_whole_unit():
    assert [show_duration(s) for s in (7200, 5400, 604800, 45)] == ["2h", "90m", "7d", "45s"]


@pytest.mark.parametrize(
    ("text", "mask"),
    [("bob", "bob"), ("account:Alice", "account:Alice"), ("10.0.0.7", "10.0.0.7"),
     ("10.1.2.3/16", "10.1.0.0/16"), ("2001:DB8::1/32", "2001:db8::/32"),
     ("account:no way", None), ("1nick", None), ("10.0.0.0/99", None), ("", None)],
)  # fmt: skip
def test_masks_are_kept_in_one_canonical_form(text, mask):
    """A nick, account:NAME, an address or a network (normalized); else None."""
    assert parse_mask(text) == mask


def test_what_each_kind_of_mask_matches():
    """A nick mask matches the nick or the account (lookalikes too); account: only the
    account; an address or network the client's address (IPv4-mapped too)."""
    assert matches("alice", "aIice", None, "1.2.3.4")
    assert matches("alice", "guest-3", "alice", "1.2.3.4")
    assert not matches("account:alice", "alice", None, "1.2.3.4")
    assert matches("account:alice", "x", "ALICE", "1.2.3.4")
    assert matches("10.0.0.0/8", "x", None, "10.9.9.9")
    assert matches("10.0.0.0/8", "x", None, "::ffff:10.1.1.1")
    assert not matches("10.0.0.0/8", "x", None, "local")
    assert matches("2001:db8::/32", "x", None, "2001:db8::5")


def test_bans_expire_and_are_forgotten_by_the_store():
    """A ban past its end is not listed nor matched, and the store is told to forget it."""
    changes: list[object] = []
    bans = Bans(SavedState(), changes.append)
    bans.add("dev", BanEntry("bob", "alice", "spam", 100.0, 160.0))
    assert bans.match("dev", "bob", None, "1.1.1.1", 150.0) is not None
    assert bans.match("dev", "bob", None, "1.1.1.1", 161.0) is None
    assert bans.of("dev", 161.0) == ()
    record = BanRecord("dev", "bob", "alice", "spam", 100.0, 160.0)
    assert changes == [Put(record), Remove(record)]


def test_a_listing_line_says_who_how_long_and_why():
    entry = BanEntry("bob", "alice", "spam", 0.0, 7200.0)
    assert describe(entry) == "bob by alice for 2h, until 1970-01-01 02:00 UTC: spam"
    assert describe(BanEntry("bob", "alice", "", 0.0)) == "bob by alice"
