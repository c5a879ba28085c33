"""Where the settings' values come from: flags, `CHATHUB_*` environment variables, a TOML file and
the defaults, all generated from the table in `config.py`.

Rules:
- Nothing here is written per setting. A setting's key is its TOML key; `--` and the key with
  `-` for `_` is its flag (`--max-rate`); `CHATHUB_` and the key in capitals is its environment
  variable (`CHATHUB_MAX_RATE`).
- Precedence: a flag beats the environment, which beats the file, which beats the default.
- Every value given, from any source (even one that a higher source overrides), is converted to
  its setting's type and then passed to the setting's check. argparse only collects the flags'
  text, so a bad flag is refused with the same kind of line as a bad variable or file entry.
- Types: `int` and `float` from text or TOML numbers (a TOML integer is a fine float);
  `str | None` is unset by an empty value; `tuple[str, ...]` is a repeatable flag, a
  comma-separated variable or a TOML array of strings.
- Whatever cannot be used raises `ConfigError` with one line naming the key, the value and the
  source: an unknown key in the file, an unknown `CHATHUB_*` variable (a typo must never be
  ignored silently), a bad value, a missing, unreadable or malformed file.
- The file is named by `--config PATH`, else by the variable `CHATHUB_CONFIG`. Its keys are the
  settings' keys at the top level. `[[tokens]]` tables declare API tokens (`tokens.py`
  checks them); `operators` (`operators = ["root"]`, or an `[operators]` table of
  `root = true`) names the accounts that are server operators (`accounts.operator_names`).
"""

import argparse
import datetime
import difflib
import json
import math
import shlex
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, get_type_hints

from chathub import __version__
from chathub.accounts import operator_names
from chathub.config import Config, table
from chathub.setting import GROUPS, Setting, default_of, setting_info
from chathub.tokens import parse_tokens

ENV_PREFIX = "CHATHUB_"
CONFIG_VARIABLE = "CHATHUB_CONFIG"  # names the file, like --config

DESCRIPTION = "A chat hub shared by telnet, browser and HTTP clients."
EPILOG = (
    "Every flag is also an environment variable (--max-rate 5 is CHATHUB_MAX_RATE=5; a "
    "repeatable flag takes a comma-separated list) and a key of the --config file "
    "(max_rate = 5); flags beat the environment, which beats the file. "
    "`chathub config` prints the configuration in effect and where each value came from; "
    "`chathub bench --help` describes the load generator."
)

Kind = Literal["int", "float", "str", "optional str", "strings"]
Where = Literal["file", "env", "flag"]

# The annotations a setting may have, and how each is read.
KINDS: dict[object, Kind] = {
    int: "int",
    float: "float",
    str: "str",
    str | None: "optional str",
    tuple[str, ...]: "strings",
}


class ConfigError(Exception):
    """A configuration that cannot be used; the message is one line naming key, value, source."""


@dataclass(frozen=True)
class Row:
    """One setting of the table, with what the sources need to know of it."""

    key: str
    section: str  # the field of `Config` holding its section
    kind: Kind
    default: Any
    info: Setting

    @property
    def flag(self) -> str:
        return "--" + self.key.replace("_", "-")

    @property
    def variable(self) -> str:
        return ENV_PREFIX + self.key.upper()


def rows() -> dict[str, Row]:
    """Every setting by key, in the table's order."""
    result: dict[str, Row] = {}
    for key, (section, f) in table().items():
        annotation = get_type_hints(type(getattr(Config, section)))[key]
        if annotation not in KINDS:
            raise TypeError(f"setting {key} is a {annotation}, which options.py cannot read")
        result[key] = Row(key, section, KINDS[annotation], default_of(f), setting_info(f))
    return result


@dataclass(frozen=True)
class Loaded:
    """The configuration in effect and, for every setting's key, where its value came from:
    `default`, `file PATH`, `env CHATHUB_X` or `flag --x`."""

    config: Config
    sources: dict[str, str]
    file: str | None = None  # the TOML file read, if any


@dataclass(frozen=True)
class Given:
    """One value for one key as a source gave it, before conversion."""

    key: str
    raw: Any  # text (a list of texts for a repeated flag) or TOML data
    where: Where
    name: str  # the file's path, the variable's name or the flag

    @property
    def source(self) -> str:
        return f"{self.where} {self.name}"

    def describe(self) -> str:
        """The value as the user wrote it, for an error message."""
        if self.where == "file":
            return f"{self.key} = {toml_value(self.raw)} in {self.name}"
        if self.where == "env":
            return f"{self.name}={shlex.quote(self.raw)}"
        texts = self.raw if isinstance(self.raw, list) else [self.raw]
        return " ".join(f"{self.name} {shlex.quote(text)}" for text in texts)


# --- reading each source ----------------------------------------------------------------------


def build_parser(prog: str = "chathub", description: str = DESCRIPTION) -> argparse.ArgumentParser:
    """The flags: `--config`, one per setting (grouped as the table says), and `--version`.

    Only the flags given appear in the parsed namespace, as text; `load` converts them.
    """
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=EPILOG,
        argument_default=argparse.SUPPRESS,
        # A misspelt flag is refused, not taken for the one it abbreviates: `--max-rat` must
        # not quietly mean `--max-rate`, nor change meaning when a new flag is added.
        allow_abbrev=False,
    )
    parser.add_argument(
        "--config",
        metavar="PATH",
        help=f"read settings from this TOML file (default: ${CONFIG_VARIABLE}, else none)",
    )
    groups = {name: parser.add_argument_group(name, text) for name, text in GROUPS.items()}
    for row in rows().values():
        target = groups[row.info.group] if row.info.group else parser
        target.add_argument(
            row.flag,
            dest=row.key,
            metavar=row.info.metavar,
            action="append" if row.kind == "strings" else "store",
            # argparse formats help with %: a literal one must be doubled.
            help=f"{row.info.help} (default: {shown_default(row)})".replace("%", "%%"),
        )
    parser.add_argument("--version", action="version", version=f"chathub {__version__}")
    return parser


def shown_default(row: Row) -> str:
    return "none" if row.default in (None, ()) else str(row.default)


def from_flags(flags: Mapping[str, Any], known: Mapping[str, Row]) -> list[Given]:
    return [Given(key, raw, "flag", known[key].flag) for key, raw in flags.items()]


def from_environ(environ: Mapping[str, str], known: Mapping[str, Row]) -> list[Given]:
    by_variable = {row.variable: row for row in known.values()}
    given = []
    for name, text in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or name == CONFIG_VARIABLE:
            continue
        if name not in by_variable:
            hint = did_you_mean(name, [*by_variable, CONFIG_VARIABLE])
            raise ConfigError(f"unknown setting {name} in the environment{hint}")
        given.append(Given(by_variable[name].key, text, "env", name))
    return given


def from_file(path: str, known: Mapping[str, Row]) -> tuple[list[Given], dict[str, Any]]:
    """The file's settings, and its reserved tables (by name) as they were read."""
    data = read_toml(path)
    given: list[Given] = []
    reserved: dict[str, Any] = {}
    for key, raw in data.items():
        if key == "tokens":
            if not (isinstance(raw, list) and all(isinstance(item, dict) for item in raw)):
                raise ConfigError(f"tokens in {path} must be [[tokens]] tables")
            try:
                reserved[key] = parse_tokens(tuple(raw))
            except ValueError as problem:
                raise ConfigError(f"{problem} in {path}") from None
        elif key == "operators":
            try:
                reserved[key] = operator_names(raw)
            except ValueError as problem:
                raise ConfigError(f"{problem} in {path}") from None
        elif key in known:
            given.append(Given(key, raw, "file", path))
        else:
            raise ConfigError(f"unknown setting {key} in {path}{did_you_mean(key, known)}")
    return given, reserved


def read_toml(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as file:
            return tomllib.load(file)
    except OSError as problem:
        raise ConfigError(f"cannot read {path}: {problem.strerror or problem}") from None
    except tomllib.TOMLDecodeError as problem:
        raise ConfigError(f"{path} is not valid TOML: {problem}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text") from None


def did_you_mean(name: str, candidates: Sequence[str] | Mapping[str, Any]) -> str:
    """A hint naming the closest known name, if one is close (case aside)."""
    by_folded = {candidate.casefold(): candidate for candidate in candidates}
    close = difflib.get_close_matches(name.casefold(), list(by_folded), n=1)
    return f" (did you mean {by_folded[close[0]]}?)" if close else ""


# --- converting and checking ------------------------------------------------------------------


def from_text(kind: Kind, text: str) -> Any:
    """A value from a flag or an environment variable."""
    try:
        match kind:
            case "int":
                return int(text)
            case "float":
                return float(text)
            case "str":
                return text
            case "optional str":
                return text or None
            case "strings":
                return tuple(part.strip() for part in text.split(",") if part.strip())
    except ValueError:
        raise ValueError(NOT_A[kind]) from None


def from_toml(kind: Kind, value: Any) -> Any:
    """A value from the file: TOML already has types; a wrong one is refused, not coerced."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    match kind:
        case "int" if number and isinstance(value, int):
            return value
        case "float" if number:
            return float(value)
        case "str" if isinstance(value, str):
            return value
        case "optional str" if isinstance(value, str):
            return value or None
        case "strings" if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
    raise ValueError(NOT_A[kind])


NOT_A: dict[Kind, str] = {
    "int": "not a whole number",
    "float": "not a number",
    "str": "not a string",
    "optional str": "not a string",
    "strings": "not a list of strings",
}


def convert(row: Row, given: Given) -> Any:
    """The value `given` asks for, of the setting's type and past its check."""
    try:
        if given.where == "file":
            value = from_toml(row.kind, given.raw)
        elif isinstance(given.raw, list):  # a repeated flag: one entry each time
            value = tuple(given.raw)
        else:
            value = from_text(row.kind, given.raw)
        if value is not None and row.info.check is not None:
            value = row.info.check(value)
    except ValueError as problem:
        raise ConfigError(f"{given.describe()}: {problem}") from None
    return value


def load(
    argv: Sequence[str],
    environ: Mapping[str, str],
    parser: argparse.ArgumentParser | None = None,
) -> Loaded:
    """The configuration that the flags, the environment and the file ask for.

    Raises `ConfigError` (one line) when anything cannot be used; argparse itself exits 2 on
    an unknown flag or a flag without its value, and 0 after `--help` or `--version`.
    """
    known = rows()
    flags = dict(vars((parser or build_parser()).parse_args(argv)))
    path: str | None = flags.pop("config", None) or environ.get(CONFIG_VARIABLE) or None
    file_given, reserved = from_file(path, known) if path else ([], {})
    sources = {key: "default" for key in known}
    changes: dict[str, dict[str, Any]] = {}
    for given in [*file_given, *from_environ(environ, known), *from_flags(flags, known)]:
        row = known[given.key]
        changes.setdefault(row.section, {})[row.key] = convert(row, given)
        sources[row.key] = given.source
    defaults = Config()
    sections = {
        name: replace(getattr(defaults, name), **values) for name, values in changes.items()
    }
    return Loaded(replace(defaults, **sections, **reserved), sources, path)


# --- showing the configuration ----------------------------------------------------------------


def render(loaded: Loaded) -> str:
    """The configuration in effect as TOML (`chathub config`), each value followed by where it
    came from; a secret that is set is shown only as a comment."""
    lines = ["# chathub: the configuration in effect; after each value, where it came from"]
    if loaded.file:
        lines.append(f"# file: {loaded.file}")
    for row in rows().values():
        value = getattr(getattr(loaded.config, row.section), row.key)
        source = loaded.sources[row.key]
        if row.info.secret and value:
            lines.append(f"# {row.key} = (secret, not shown)  # {source}")
        else:
            shown = toml_value("" if value is None else value)  # "" leaves it unset
            lines.append(f"{row.key} = {shown}  # {source}")
    for token in loaded.config.tokens:
        rooms = ", ".join(token.rooms)
        lines.append(
            f"# token {token.name}: nick {token.nick}, rooms {rooms}, rate {token.rate:g}/s, "
            f"hash (secret, not shown)  # file {loaded.file}"
        )
    if loaded.config.operators:
        names = ", ".join(loaded.config.operators)
        lines.append(f"# server operators: {names}  # file {loaded.file}")
    return "\n".join(lines) + "\n"


def toml_value(value: Any) -> str:
    """`value` written as TOML (for `chathub config` and for error messages)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, str):
        # JSON's string escapes are TOML's, but TOML also wants DEL escaped.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        pairs = (f"{toml_value(str(key))} = {toml_value(item)}" for key, item in value.items())
        return "{" + ", ".join(pairs) + "}"
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return str(value)
