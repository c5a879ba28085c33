"""The connect query, `?nick=NAME&rooms=a,b&since=ROOM:ID,...`, read without ever raising."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chathub.events import Error
from chathub.query import ConnectQuery, parse_query, parse_since
from chathub.text import normalize_room


def test_parse_query_splits_rooms_and_since():
    """The query's rooms and since lists are comma-separated, blanks dropped."""
    query = parse_query({"nick": ["bo"], "rooms": ["a,,b"], "since": ["#A:3,b:0"]})
    assert (query.nick, query.rooms, query.since, query.problems) == (
        "bo",
        ("a", "b"),
        {"a": 3, "b": 0},
        (),
    )


def test_an_empty_query_is_a_guest_in_the_lobby_with_no_since():
    """No parameters: no nick, the lobby, no since, no problems."""
    assert parse_query({}) == ConnectQuery(None, ("lobby",), None, ())


def test_the_first_nick_counts_and_rooms_come_from_every_value():
    """`nick` takes its first value; `rooms` joins every value's comma-separated names."""
    query = parse_query({"nick": ["one", "two"], "rooms": ["a, b", "c"]})
    assert query.nick == "one"
    assert query.rooms == ("a", "b", "c")


def test_room_names_are_left_for_the_hub_to_check():
    """Rooms are passed on as given (trimmed), so the hub words the refusal of a bad one."""
    assert parse_query({"rooms": ["#Dev,no good"]}).rooms == ("#Dev", "no good")


def test_a_rooms_value_of_only_blanks_means_no_rooms():
    """`rooms=,` asks for no room at all (not the lobby)."""
    assert parse_query({"rooms": [" , "]}).rooms == ()


@pytest.mark.parametrize(
    ("values", "since"),
    [
        (["dev:3"], {"dev": 3}),
        (["#Dev:0"], {"dev": 0}),
        ([" dev:5 "], {"dev": 5}),
        (["a:1,b:2"], {"a": 1, "b": 2}),
        (["a:1", "b:2"], {"a": 1, "b": 2}),
        (["dev:1,dev:2"], {"dev": 2}),
        (["", ",", " , "], {}),
        (["dev:" + "9" * 18], {"dev": 10**18 - 1}),
    ],
)
def test_parse_since_accepts_room_colon_id_entries(values, since):
    """ROOM:ID entries, comma-separated in each value, become room -> id, rooms normalized."""
    assert parse_since(values) == (since, [])


@pytest.mark.parametrize(
    "entry",
    [
        "dev",
        "dev:",
        ":3",
        "dev:x",
        "dev:-1",
        "dev:+1",
        "dev:1.5",
        "dev:\u0663",  # an Arabic-Indic digit: isdigit(), but not an id
        "dev:" + "9" * 19,
        "no good:1",
        "a:b:1",
    ],
)
def test_parse_since_refuses_a_malformed_entry_and_keeps_the_rest(entry):
    """A bad entry is one bad-request problem naming it; the good entries around it count."""
    since, problems = parse_since([f"ok:1,{entry},fine:2"])
    assert since == {"ok": 1, "fine": 2}
    [problem] = problems
    assert problem.code == "bad-request"
    assert repr(entry.strip()) in problem.message and "ignored" in problem.message


def test_a_long_bad_entry_is_quoted_cut_short():
    """A refused entry is quoted back at most 40 characters long."""
    _, [problem] = parse_since(["x" * 1000])
    assert repr("x" * 40) in problem.message
    assert len(problem.message) < 100


def test_malformed_since_entries_are_problems_of_the_query():
    """parse_query reports since's bad entries in `problems` and keeps its good ones."""
    query = parse_query({"since": ["dev:x,ops:4"]})
    assert query.since == {"ops": 4}
    assert [p.code for p in query.problems] == ["bad-request"]


def test_a_since_with_no_good_entry_is_none():
    """Nothing usable in since: the client gets the usual replay (since is None)."""
    assert parse_query({"since": ["dev:x"]}).since is None


@given(st.dictionaries(st.sampled_from(["nick", "rooms", "since", "x"]), st.lists(st.text())))
def test_parse_query_never_raises(params: dict[str, list[str]]) -> None:
    """Any connect query is read into a nick, rooms and since, with problems reported."""
    query = parse_query(params)
    assert all(isinstance(problem, Error) for problem in query.problems)
    assert all(normalize_room(room) == room for room in (query.since or {}))
