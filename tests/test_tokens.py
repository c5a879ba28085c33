"""API tokens: the `[[tokens]]` tables, secrets and their hashes, and `chathub token`."""

import hashlib
import math
import os
import tomllib
from pathlib import Path
from typing import Any

import pytest

from chathub import cli
from chathub.options import load
from chathub.tokens import (
    ANY_ROOM,
    DEFAULT_RATE,
    PREFIX,
    Token,
    TokenTable,
    config_entry,
    hash_secret,
    new_secret,
    parse_tokens,
)

HASH = "sha256:" + "ab" * 32


def table(**fields: Any) -> dict[str, Any]:
    """A valid `[[tokens]]` table with `fields` changed (a value of None drops the key)."""
    base: dict[str, Any] = {"name": "deploy", "nick": "deploy-bot", "rooms": ["dev"], "hash": HASH}
    base.update(fields)
    return {key: value for key, value in base.items() if value is not None}


# --- secrets and hashes -------------------------------------------------------------------------


def test_a_new_secret_is_prefixed_random_and_url_safe() -> None:
    """`new_secret` is `chathub_` then 43 URL-safe characters (32 random bytes), new each time."""
    secrets = {new_secret() for _ in range(100)}
    assert len(secrets) == 100
    for secret in secrets:
        assert secret.startswith(PREFIX)
        body = secret[len(PREFIX) :]
        assert len(body) == 43
        assert all(c.isascii() and (c.isalnum() or c in "-_") for c in body)


def test_the_hash_is_sha256_of_the_secret() -> None:
    """`hash_secret` is `sha256:` and the hex SHA-256 of the secret's UTF-8 bytes."""
    assert hash_secret("chathub_x") == "sha256:" + hashlib.sha256(b"chathub_x").hexdigest()
    assert len(hash_secret(new_secret())) == 71


def test_a_token_table_finds_a_token_by_its_secret_only() -> None:
    """The table finds the token whose hash the presented secret has, and nothing else."""
    secret = new_secret()
    (token,) = parse_tokens((table(hash=hash_secret(secret)),))
    tokens = TokenTable((token,))
    assert tokens.find(secret) is token
    assert tokens.find(secret + "x") is None
    assert tokens.find(hash_secret(secret)) is None  # the hash is not the secret
    assert tokens.find("") is None


def test_bot_nicks_are_keyed_by_their_skeleton() -> None:
    """The hub reserves each bot's nick under its skeleton (case and lookalikes folded)."""
    (token,) = parse_tokens((table(nick="Deploy-Bot"),))
    assert TokenTable((token,)).bot_nicks() == {"deploy-bot": "deploy"}


# --- parse_tokens --------------------------------------------------------------------------------


def test_a_table_becomes_a_token_with_normalized_rooms() -> None:
    """Rooms are normalized (`#Dev` is `dev`); rate defaults to 10 a second."""
    (token,) = parse_tokens((table(rooms=["#Dev", "ops"]),))
    assert token == Token("deploy", "deploy-bot", ("dev", "ops"), DEFAULT_RATE, HASH)
    assert token.allows("dev") and token.allows("ops") and not token.allows("lobby")


def test_rooms_default_to_any_and_star_allows_every_room() -> None:
    """Without `rooms` (or with `["*"]`) a token may publish anywhere."""
    for fields in ({"rooms": None}, {"rooms": [ANY_ROOM]}):
        (token,) = parse_tokens((table(**fields),))
        assert token.rooms == (ANY_ROOM,)
        assert token.allows("anything")


def test_an_uppercase_hash_is_accepted_as_the_same_hash() -> None:
    """Hex digits in either case name the same hash (a pasted hash may have been upper-cased)."""
    secret = new_secret()
    upper = "sha256:" + hash_secret(secret)[7:].upper()
    (token,) = parse_tokens((table(hash=upper),))
    assert TokenTable((token,)).find(secret) is token


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"secret": "s"}, "[[tokens]] number 1: unknown key secret"),
        ({"name": None}, "[[tokens]] number 1: name must be a non-empty string"),
        ({"name": "  "}, "name must be a non-empty string"),
        ({"name": 5}, "name must be a non-empty string"),
        ({"nick": None}, "token deploy: nick None is not a valid nick"),
        ({"nick": "bad nick"}, "token deploy: nick 'bad nick' is not a valid nick"),
        ({"nick": "9lives"}, "nick '9lives' is not a valid nick"),
        ({"nick": "x" * 25}, "is not a valid nick"),
        ({"rooms": []}, "token deploy: rooms must be a list"),
        ({"rooms": "dev"}, "rooms must be a list"),
        ({"rooms": [1]}, "rooms must be a list"),
        ({"rooms": ["no way"]}, "token deploy: 'no way' is not a valid room"),
        ({"rooms": ["x" * 33]}, "is not a valid room"),
        ({"rate": 0}, "token deploy: rate must be a number above 0"),
        ({"rate": -1}, "rate must be a number above 0"),
        ({"rate": True}, "rate must be a number above 0"),
        ({"rate": "5"}, "rate must be a number above 0"),
        ({"rate": math.nan}, "rate must be a number above 0"),
        ({"rate": math.inf}, "rate must be a number above 0"),
        ({"hash": None}, "token deploy: hash must be the sha256:... line"),
        ({"hash": "md5:1"}, "hash must be the sha256:... line"),
        ({"hash": "sha256:" + "ab" * 31}, "hash must be the sha256:... line"),
        ({"hash": "sha256:" + "zz" * 32}, "hash must be the sha256:... line"),
    ],
)
def test_a_bad_table_is_refused_naming_the_token_and_the_problem(
    fields: dict[str, Any], error: str
) -> None:
    """Each malformed field is a ValueError that names the token (or its position) and the field."""
    with pytest.raises(ValueError) as problem:
        parse_tokens((table(**fields),))
    assert error in str(problem.value)


def test_two_tokens_may_not_share_a_name() -> None:
    """A name declared twice is refused."""
    with pytest.raises(ValueError, match="token deploy: declared twice"):
        parse_tokens((table(), table(nick="other", hash="sha256:" + "cd" * 32)))


def test_two_tokens_may_not_share_a_nick_or_a_lookalike_of_it() -> None:
    """Two bots may not have one nick, in any case or with lookalike characters."""
    with pytest.raises(ValueError, match="token second: nick DEPL0Y-BOT belongs to another"):
        parse_tokens((table(), table(name="second", nick="DEPL0Y-BOT", hash="sha256:" + "cd" * 32)))


def test_two_tokens_may_not_share_a_hash() -> None:
    """One secret cannot stand for two tokens: the second would never be found."""
    with pytest.raises(ValueError, match="token second: hash is also token deploy's"):
        parse_tokens((table(), table(name="second", nick="other")))


# --- config_entry round-trips ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        Token("deploy", "deploy-bot", ("dev", "ops"), 5.0, HASH),
        Token("ci", "ci", (ANY_ROOM,), 0.25, HASH),
        Token("fast", "Fast_Bot", ("a",), 1234567.0, HASH),
        Token("tiny", "tiny", ("a",), 1e-7, HASH),
        Token("third", "third", ("a",), 1 / 3, HASH),
        Token('the "deploy" job\\1', "q", ("a",), 10.0, HASH),
        Token("Zürich ✓ 🚀", "z", ("a",), 10.0, HASH),
        Token("tab\tand\nnewline", "t", ("a",), 10.0, HASH),
    ],
)
def test_a_config_entry_reads_back_as_the_same_token(token: Token) -> None:
    """What `config_entry` prints is TOML that `parse_tokens` turns into the same token."""
    data = tomllib.loads(config_entry(token))
    assert parse_tokens(tuple(data["tokens"])) == (token,)


def test_a_config_entry_shows_a_whole_rate_as_a_whole_number() -> None:
    """`rate = 5`, as the README shows it, not `rate = 5.0`."""
    entry = config_entry(Token("deploy", "deploy-bot", ("dev",), 5.0, HASH))
    assert 'name = "deploy"\nnick = "deploy-bot"\nrooms = ["dev"]\nrate = 5\n' in entry


# --- `chathub token` ------------------------------------------------------------------------------


@pytest.fixture
def no_chathub_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in os.environ if name.startswith("CHATHUB_")]:
        monkeypatch.delenv(name)


def run_token_command(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["token", *argv])
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def test_chathub_token_prints_a_secret_and_an_entry_that_loads(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, no_chathub_environment: None
) -> None:
    """`chathub token deploy --rooms a,b`: the printed entry, pasted into a configuration file,
    loads as a token for rooms a and b that the printed secret unlocks."""
    code, out, err = run_token_command(capsys, "deploy", "--rooms", "a,b")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    secret = lines[lines.index(next(x for x in lines if x.startswith("# The secret"))) + 1]
    assert secret.startswith(PREFIX)
    entry = out[out.index("[[tokens]]") :]
    assert secret not in entry  # only the hash goes into the file
    config_file = tmp_path / "chathub.toml"
    config_file.write_text("max_rate = 5\n\n" + entry)
    config = load(["--config", str(config_file)], {}).config
    (token,) = config.tokens
    assert (token.name, token.nick, token.rooms, token.rate) == (
        "deploy", "deploy-bot", ("a", "b"), DEFAULT_RATE,
    )  # fmt: skip
    assert TokenTable(config.tokens).find(secret) == token


def test_chathub_token_takes_a_nick_and_a_rate(
    capsys: pytest.CaptureFixture[str], no_chathub_environment: None
) -> None:
    """`--nick` and `--rate` go into the entry; rooms default to any."""
    code, out, _ = run_token_command(capsys, "ci", "--nick", "CI", "--rate", "2.5")
    assert code == 0
    (token,) = parse_tokens(tuple(tomllib.loads(out[out.index("[[tokens]]") :])["tokens"]))
    assert (token.nick, token.rate, token.rooms) == ("CI", 2.5, (ANY_ROOM,))


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["deploy", "--rooms", "no way"], "chathub token: token deploy: 'no way' is not a valid"),
        (["deploy", "--rooms", ","], "chathub token: token deploy: rooms must be a list"),
        (["deploy", "--rate", "0"], "rate must be a number above 0"),
        (["has space"], "nick 'has space-bot' is not a valid nick"),
    ],
)
def test_chathub_token_refuses_what_would_not_load(
    capsys: pytest.CaptureFixture[str], argv: list[str], error: str, no_chathub_environment: None
) -> None:
    """A token the configuration would refuse is refused at once (exit 1), with no secret shown."""
    code, out, err = run_token_command(capsys, *argv)
    assert code == 1
    assert out == ""
    assert error in err
