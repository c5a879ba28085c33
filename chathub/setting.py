"""How a setting is declared, and what the table says of it besides its type and default.

Rules:
- `setting(default, help, ...)` makes a dataclass field whose metadata holds a `Setting`: its
  help, its check, its metavar, whether it is secret and the group its flag is listed in. The
  sections themselves, and the table of every setting, are `config.py`'s.
- A field without that metadata is not a setting: it is fixed by the code (`settings_of`
  leaves it out).
- Pure: no I/O.
"""

from collections.abc import Callable
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Setting:
    """What the table says of one setting besides its type and default."""

    help: str
    check: Callable[[Any], Any] | None = None
    metavar: str | None = None
    secret: bool = False  # masked by `chathub config`
    group: str | None = None  # a key of GROUPS: its flag is listed there in `--help`


# Groups of flags in `chathub --help`, with the line that introduces each.
GROUPS = {"limits": "0 turns a limit off, unless said otherwise"}


def setting(
    default: T,
    help: str,
    *,
    check: Callable[[Any], Any] | None = None,
    metavar: str | None = None,
    secret: bool = False,
    group: str | None = None,
) -> T:
    """Declare a field as a setting (see the rules of `config.py` and of this module)."""
    info = Setting(help, check, metavar, secret, group)
    result: T = field(default=default, metadata={"setting": info})
    return result


def settings_of(section: type) -> list[Field[Any]]:
    """The fields of a section class that are settings (in declaration order)."""
    return [f for f in fields(section) if "setting" in f.metadata]


def setting_info(f: Field[Any]) -> Setting:
    info: Setting = f.metadata["setting"]
    return info


def default_of(f: Field[Any]) -> Any:
    assert f.default is not MISSING
    return f.default
