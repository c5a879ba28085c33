"""The history cache: packed records, one byte budget, least recently active rooms first."""

import tracemalloc

import pytest

from chathub import cache as cache_module
from chathub.cache import RECORD_OVERHEAD, HistoryCache, cost, pack, unpack
from chathub.events import Event

START = 1_700_000_000.0


def event(room: str, id: int, text: str = "hello", nick: str = "alice") -> Event:
    return Event(room, "message", nick, text, START + id, id)


def fill(cache: HistoryCache, room: str, ids: range, text: str = "x" * 100) -> None:
    for id in ids:
        cache.append(room, event(room, id, text), on_disk=True)


def test_a_record_unpacks_to_the_event_it_was_packed_from() -> None:
    """pack/unpack keep every field, non-ASCII text and actions included."""
    original = Event("dev", "action", "bob", "waves 👋🏽 日本語 Ü", START + 0.25, 42)
    assert unpack("dev", pack(original)) == original


def test_a_retained_message_costs_its_utf8_size_plus_the_documented_overhead() -> None:
    """tracemalloc: 2,000 emoji messages cost at most UTF-8 size + RECORD_OVERHEAD each."""
    cache = HistoryCache(budget=1 << 30, retain_messages=100_000)
    text = "👋" * 1000  # 4,000 bytes in UTF-8, 4,000 as a str (and 8,000 with its UTF-8 copy)
    events = [event("dev", n, text) for n in range(1, 2001)]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for item in events:
        cache.append("dev", item, on_disk=True)
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    utf8 = len(text.encode()) + len(b"alice")
    assert used <= 2000 * (utf8 + RECORD_OVERHEAD) * 1.05  # the deque's blocks: a few percent
    assert used <= 2000 * utf8 * 1.2 + 2000 * RECORD_OVERHEAD


def test_past_the_budget_the_least_recently_active_room_loses_its_oldest_first() -> None:
    """Room a was active last: room b's messages go before any of a's."""
    one = cost(pack(event("b", 1, "x" * 100)))
    cache = HistoryCache(budget=one * 15, retain_messages=1000)
    fill(cache, "b", range(1, 11))
    fill(cache, "a", range(1, 6))
    assert cache.size <= one * 15
    fill(cache, "a", range(6, 11))
    assert cache.size <= cache.budget
    assert [e.id for e in cache.recent("a", 10) or []] == list(range(1, 11))
    assert cache.recent("b", 10) is None  # b lost its oldest: it cannot answer for 10 now
    assert [e.id for e in cache.since("b", 5, 10) or []] == list(range(6, 11))


def test_a_message_not_yet_on_disk_is_never_dropped() -> None:
    """Over budget, unwritten messages stay; once written, they may go."""
    one = cost(pack(event("dev", 1, "x" * 100)))
    cache = HistoryCache(budget=one * 3, retain_messages=1000)
    for id in range(1, 11):
        cache.append("dev", event("dev", id, "x" * 100), on_disk=False)
    assert [e.id for e in cache.since("dev", 0, 100, force=True) or []] == list(range(1, 11))
    cache.written("dev", 6)
    remaining = [e.id for e in cache.since("dev", 0, 100, force=True) or []]
    assert remaining == [7, 8, 9, 10]  # the written ones went; the unwritten stayed
    cache.written("dev", 10)
    assert cache.size <= cache.budget


def test_over_budget_with_all_unwritten_a_new_message_does_not_look_at_every_room(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A flood in 1,000 rooms with the writer behind: nothing may be dropped, so a new message
    does not look through every window for something to drop (it did: 10% of the hub's time);
    once something is written, the cache goes back within its budget."""
    one = cost(pack(event("r0", 1, "x" * 100)))
    cache = HistoryCache(budget=one * 100, retain_messages=1000)
    rooms = [f"r{n}" for n in range(1000)]
    for room in rooms:
        cache.append(room, event(room, 1, "x" * 100), on_disk=False)
    looked = 0
    real_record_id = cache_module.record_id

    def counting(record: bytes) -> int:
        nonlocal looked
        looked += 1
        return real_record_id(record)

    monkeypatch.setattr(cache_module, "record_id", counting)
    for room in rooms:
        cache.append(room, event(room, 2, "x" * 100), on_disk=False)
    assert looked < 100
    for room in rooms:
        cache.written(room, 2)
    assert cache.size <= cache.budget
    cache.append("new", event("new", 1), on_disk=True)  # nothing stuck: it still fits
    assert cache.size <= cache.budget


def test_a_window_that_is_not_complete_does_not_answer_for_what_it_lacks() -> None:
    """After dropping old messages, reads reaching before the window say None (ask the disk)."""
    cache = HistoryCache(budget=1 << 20, retain_messages=1000)
    cache.start("dev", [pack(event("dev", id)) for id in range(50, 60)], complete=False)
    assert cache.recent("dev", 5) is not None
    assert cache.recent("dev", 20) is None
    assert cache.since("dev", 48, 5) is None
    assert [e.id for e in cache.since("dev", 49, 3) or []] == [50, 51, 52]


def test_a_complete_window_answers_everything() -> None:
    """A room read whole from disk answers any read from memory."""
    cache = HistoryCache(budget=1 << 20, retain_messages=1000)
    cache.start("dev", [pack(event("dev", id)) for id in range(1, 4)], complete=True)
    assert [e.id for e in cache.recent("dev", 100) or []] == [1, 2, 3]
    assert cache.since("dev", 3, 10) == []


def test_since_finds_its_place_when_ids_have_gaps() -> None:
    """History with missing ids (rows lost to a damaged file) still pages correctly."""
    cache = HistoryCache(budget=1 << 20, retain_messages=1000)
    cache.start("dev", [pack(event("dev", id)) for id in (2, 5, 9, 10)], complete=True)
    assert [e.id for e in cache.since("dev", 4, 10) or []] == [5, 9, 10]
    assert [e.id for e in cache.since("dev", 5, 1) or []] == [9]
    assert [e.id for e in cache.since("dev", 0, 2) or []] == [2, 5]
    assert cache.since("dev", 10, 5) == []


def test_before_answers_from_a_window_that_holds_enough_or_everything() -> None:
    """A window that holds `limit` messages below the id answers; one that may be missing
    older ones (not complete) says it cannot tell rather than answer short."""
    cache = HistoryCache(budget=1 << 20, retain_messages=1000)
    cache.start("dev", [pack(event("dev", id)) for id in range(50, 60)], complete=False)
    assert [e.id for e in cache.before("dev", 58, 3) or []] == [55, 56, 57]
    assert cache.before("dev", 52, 3) is None
    cache.start("ops", [pack(event("ops", id)) for id in (2, 5, 9, 10)], complete=True)
    assert [e.id for e in cache.before("ops", 9, 10) or []] == [2, 5]
    assert [e.id for e in cache.before("ops", 100, 2) or []] == [9, 10]
    assert cache.before("ops", 2, 5) == []


def test_retention_by_count_keeps_the_newest_and_marks_the_window_complete() -> None:
    """Past retain_messages the oldest is gone everywhere, so the window is all there is."""
    cache = HistoryCache(budget=1 << 20, retain_messages=3)
    fill(cache, "dev", range(1, 6))
    assert [e.id for e in cache.recent("dev", 10) or []] == [3, 4, 5]


def test_forget_keeps_a_room_with_unwritten_messages() -> None:
    """A room leaves memory only once nothing of it waits for the disk."""
    cache = HistoryCache(budget=1 << 20, retain_messages=1000)
    cache.append("dev", event("dev", 1), on_disk=False)
    cache.forget("dev")
    assert "dev" in cache
    cache.written("dev", 1)
    cache.forget("dev")
    assert "dev" not in cache and cache.size == 0


def test_newer_joins_up_a_read_from_disk_or_says_it_cannot() -> None:
    """`newer` gives what came after a disk read, or None when memory starts later."""
    cache = HistoryCache(budget=1 << 20, retain_messages=1000)
    cache.start("dev", [pack(event("dev", id)) for id in range(10, 13)], complete=False)
    assert [e.id for e in cache.newer("dev", 9) or []] == [10, 11, 12]
    assert [e.id for e in cache.newer("dev", 11) or []] == [12]
    assert cache.newer("dev", 5) is None
    assert cache.newer("nowhere", 5) == []
