"""clean_text against invisible and line-breaking characters (hostile input)."""

import unicodedata

from chathub.text import clean_text, is_valid_nick

INVISIBLE = (
    "\u200b"  # zero-width space
    "\u200e\u200f\u061c"  # bidi marks
    "\ufeff"  # byte order mark
    "\u2028\u2029"  # line and paragraph separators
    "\U000e0041\U000e007f"  # tag characters (hidden "ASCII smuggling" text)
    "\u00ad"  # soft hyphen
)


def test_clean_text_removes_format_characters_and_line_separators():
    """Zero-width spaces, bidi marks, BOM, tags and U+2028/2029 are removed."""
    assert clean_text("a" + INVISIBLE + "b") == "ab"


def test_clean_text_keeps_joiners_other_spaces_and_private_use():
    """ZWJ/ZWNJ (emoji, scripts), no-break and ideographic spaces, private use stay."""
    text = "\U0001f469\u200d\U0001f4bb \u0645\u200c\u06cc a\u00a0b\u3000c \ue0b0"
    assert clean_text(text) == text


def test_clean_text_output_has_no_invisible_category_for_any_code_point_of_the_bmp():
    """All of the BMP but surrogates, cleaned: no Cc, Cf, Zl, Zp or Cs is left but ZWJ/ZWNJ."""
    text = "".join(chr(n) for n in range(0x10000) if not 0xD800 <= n <= 0xDFFF)
    left = {
        char
        for char in clean_text(text)
        if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp", "Cs")
    }
    assert left == {"\u200c", "\u200d"}


def test_nicks_with_invisible_or_lookalike_characters_are_refused():
    """Nicks stay ASCII: zero-width, bidi and Cyrillic lookalikes are not valid."""
    for nick in ["bo\u200bb", "bob\u200e", "\u202ebob", "b\u043eb", "bob\u00a0", "\uff22ob"]:
        assert not is_valid_nick(nick), nick
