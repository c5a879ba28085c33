"""The table of settings itself: keys, help, defaults, checks, and the sections."""

import math
import re

import pytest

from chathub.config import (
    BackplaneSettings,
    Config,
    FlowLimits,
    HttpSettings,
    HubSettings,
    LineSettings,
    ListenSettings,
    StoreSettings,
    WebSocketSettings,
    hosts,
    natural,
    origins,
    positive,
    section_names,
    table,
)
from chathub.options import rows
from chathub.setting import GROUPS, setting_info, settings_of


def test_keys_are_unique_across_sections_and_snake_case():
    """No two sections declare the same key; each key makes a flag, a variable and a TOML key."""
    declared = [
        f.name for name in section_names() for f in settings_of(type(getattr(Config, name)))
    ]
    assert sorted(declared) == sorted(set(declared)) == sorted(table())
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", key) for key in declared)


def test_every_setting_has_help_and_a_known_group():
    """Each setting says what it does, and a group it names exists."""
    for key, (_, f) in table().items():
        info = setting_info(f)
        assert info.help.strip(), key
        assert info.group is None or info.group in GROUPS, key


def test_defaults_pass_their_own_checks():
    """A setting's default is accepted, unchanged, by its check."""
    defaults = Config()
    for key, (section, f) in table().items():
        check = setting_info(f).check
        default = getattr(getattr(defaults, section), key)
        if check is not None and default is not None:
            assert check(default) == default, key


def test_every_setting_has_a_type_options_can_read():
    """Every annotation is one of int, float, str, str | None, tuple[str, ...]."""
    assert set(rows()) == set(table())


def test_config_has_every_section_the_service_uses():
    """Config holds the eight sections the service hands out, and nothing else is a section."""
    assert section_names() == [
        "listen", "hub", "flow", "line", "websocket", "http", "store", "backplane"
    ]  # fmt: skip
    defaults = Config()
    assert {name: type(getattr(defaults, name)) for name in section_names()} == {
        "listen": ListenSettings,
        "hub": HubSettings,
        "flow": FlowLimits,
        "line": LineSettings,
        "websocket": WebSocketSettings,
        "http": HttpSettings,
        "store": StoreSettings,
        "backplane": BackplaneSettings,
    }
    assert (defaults.tokens, defaults.operators) == ((), ())


@pytest.mark.parametrize(
    ("check", "value", "reason"),
    [
        (natural, -1, "-1 is not 0 or more"),
        (natural, -0.5, "-0.5 is not 0 or more"),
        (natural, math.nan, "nan is not a finite number"),
        (natural, math.inf, "inf is not a finite number"),
        (positive, 0, "0 is not 1 or more"),
        (positive, 0.0, "0 is not more than 0"),
        (origins, ("https://a.example", "a.example"), "'a.example' is not scheme://host[:port]"),
    ],
)
def test_checks_refuse_with_a_short_reason(check, value, reason):
    """A check raises ValueError whose message says what is wrong with the value."""
    with pytest.raises(ValueError) as error:
        check(value)
    assert str(error.value).startswith(reason)


def test_checks_return_the_values_they_accept():
    """natural, positive and origins hand back what they accept."""
    assert (natural(0), natural(2.5), positive(1), positive(0.1)) == (0, 2.5, 1, 0.1)
    assert origins(("*", "null", "http://localhost:8080")) == ("*", "null", "http://localhost:8080")


def test_allow_host_entries_are_checked_and_lower_cased():
    """--allow-host takes names, *.names, addresses and *; anything else names itself."""
    assert hosts(("Chat.Example", "*.Example.org", "*")) == ("chat.example", "*.example.org", "*")
    with pytest.raises(ValueError, match=r"'chat\.example:80' is not a host name"):
        hosts(("chat.example:80",))
