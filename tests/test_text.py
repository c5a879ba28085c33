"""Room names, nicks and the cleaning of user text."""

from chathub.text import (
    clean_message,
    clean_text,
    is_valid_nick,
    nick_key,
    nick_skeleton,
    normalize_room,
)


def test_room_names_are_lower_cased_and_lose_a_leading_hash():
    """`#Dev` and `DEV` both name the room `dev`."""
    assert normalize_room("#Dev") == "dev"
    assert normalize_room("DEV") == "dev"


def test_room_names_outside_the_alphabet_or_length_are_refused():
    """Spaces, dots, empty names and names over 32 characters are not rooms."""
    for name in ["", "#", "a b", "dev.ops", "x" * 33, "##dev", "café"]:
        assert normalize_room(name) is None, name
    assert normalize_room("x" * 32) == "x" * 32
    assert normalize_room("a_b-9") == "a_b-9"


def test_nicks_start_with_a_letter_or_underscore_and_stay_ascii():
    """Nicks are 1-24 of A-Z a-z 0-9 _ -, starting with a letter or `_`."""
    for nick in ["a", "Alice", "_x", "bob-2", "A" * 24]:
        assert is_valid_nick(nick), nick
    for nick in ["", "1abc", "-x", "a b", "A" * 25, "al\u202eice", "zo\u200be", "é"]:
        assert not is_valid_nick(nick), nick


def test_nicks_compare_case_insensitively():
    """`Alice` and `ALICE` have the same key."""
    assert nick_key("Alice") == nick_key("ALICE")


def test_clean_text_removes_csi_osc_and_two_byte_escapes_whole():
    """Colour, title and cursor escapes vanish without leaving debris."""
    assert clean_text("a\x1b[31mred\x1b[0m b") == "ared b"
    assert clean_text("x\x1b]0;pwned title\x07y") == "xy"
    assert clean_text("x\x1b]8;;http://e\x1b\\link\x1b]8;;\x1b\\y") == "xlinky"
    assert clean_text("a\x1bcb") == "ab"
    assert clean_text("a\x9b2Jb") == "ab"


def test_clean_text_removes_controls_and_bidi_overrides_but_keeps_emoji_joiners():
    """NUL, BEL, CR, DEL, C1 and bidi overrides go; tabs become spaces; ZWJ stays."""
    assert clean_text("a\x00b\x07c\rd\x7fe\x85f") == "abcdef"
    assert clean_text("tab\there") == "tab here"
    assert clean_text("abc\u202edcba\u2066x\u2069") == "abcdcbax"
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert clean_text(family) == family


def test_clean_text_leaves_ordinary_text_alone():
    """Printable text, accents and CJK pass through unchanged."""
    for text in ["hello, world", "café ☕", "日本語", "<script>alert(1)</script>"]:
        assert clean_text(text) == text


def test_nicks_that_look_alike_have_the_same_skeleton():
    """Capital i, digit one and l; zero and o; m and rn; w and vv: one nick, whatever the case."""
    for lookalike in ["alice", "Alice", "ALICE", "aIice", "a1ice", "AL1CE", "aiice"]:
        assert nick_skeleton(lookalike) == nick_skeleton("alice"), lookalike
    assert nick_skeleton("b0b") == nick_skeleton("BOB")
    assert nick_skeleton("rnallory") == nick_skeleton("mallory")
    assert nick_skeleton("vvendy") == nick_skeleton("Wendy")


def test_nicks_that_differ_visibly_have_different_skeletons():
    """A trailing underscore or hyphen, or another letter, makes another nick (as in TR39)."""
    for other in ["alice_", "alice-", "_alice", "alíce", "alce", "alicee", "bob", "a-lice"]:
        assert nick_skeleton(other) != nick_skeleton("alice"), other
    assert nick_skeleton("nn") != nick_skeleton("m")


def test_clean_text_removes_an_application_mode_arrow_key_whole():
    """ESC O A (the Up arrow when a terminal is in application mode) leaves no `A` behind."""
    assert clean_text("a\x1bOAb\x1bODc") == "abc"


def test_a_message_keeps_its_lines_each_cleaned():
    """`clean_message` keeps line breaks (CR LF and CR become LF), cleans every line as
    `clean_text` does, drops trailing blanks and blank lines at either end."""
    text = "\r\n  \nfirst\x1b[31m red  \r\n\n  indented\x07\rlast\u2028 \n\n"
    assert clean_message(text) == "first red\n\n  indented\nlast"
    assert clean_message("one line \x1b[2J") == clean_text("one line \x1b[2J")
    assert clean_message("\n \n") == ""
