"""Where settings come from: flags, CHATHUB_* variables, a TOML file, defaults; and their errors."""

import tomllib
from dataclasses import replace

import pytest

from chathub import options
from chathub.options import ConfigError, load, render, toml_value


def write(tmp_path, text: str, name: str = "chathub.toml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def value_of(loaded: options.Loaded, key: str):
    row = options.rows()[key]
    return getattr(getattr(loaded.config, row.section), key)


# --- precedence -------------------------------------------------------------------------------

# key, (file's TOML value, variable's text, flag's texts) and the values they give.
LAYERS = [
    ("max_rate", ("1", "2", ["3"]), (1.0, 2.0, 3.0)),
    ("motd", ('"from file"', "from env", ["from flag"]), ("from file", "from env", "from flag")),
    (
        "allow_origin",
        ('["https://file.example"]', "https://env.example, null", ["*", "https://f.example"]),
        (("https://file.example",), ("https://env.example", "null"), ("*", "https://f.example")),
    ),
]


@pytest.mark.parametrize(("key", "given", "expected"), LAYERS)
def test_a_flag_beats_the_environment_which_beats_the_file_which_beats_the_default(
    tmp_path, key, given, expected
):
    """For a number, a string and a list: each source overrides the ones below it."""
    file_value, env_text, flag_texts = given
    row = options.rows()[key]
    path = write(tmp_path, f"{key} = {file_value}\n")
    flags = [part for text in flag_texts for part in (row.flag, text)]
    layers = [
        ([], {}, row.default, "default"),
        (["--config", path], {}, expected[0], f"file {path}"),
        (["--config", path], {row.variable: env_text}, expected[1], f"env {row.variable}"),
        (["--config", path, *flags], {row.variable: env_text}, expected[2], f"flag {row.flag}"),
    ]
    for argv, environ, value, source in layers:
        loaded = load(argv, environ)
        assert (value_of(loaded, key), loaded.sources[key]) == (value, source)


def test_settings_not_given_keep_their_defaults_and_say_so(tmp_path):
    """A key no source names keeps its default, and its source is `default`."""
    loaded = load(["--burst", "4"], {"CHATHUB_REPLAY": "7"})
    assert loaded.config.store.db == "chathub.db"
    assert loaded.sources["db"] == "default"
    assert (loaded.config.flow.burst, loaded.config.hub.replay) == (4, 7)


def test_chathub_config_variable_names_the_file_and_config_flag_beats_it(tmp_path):
    """CHATHUB_CONFIG names the file like --config; --config wins when both are given."""
    by_variable = write(tmp_path, "replay = 1\n", "a.toml")
    by_flag = write(tmp_path, "replay = 2\n", "b.toml")
    assert load([], {"CHATHUB_CONFIG": by_variable}).config.hub.replay == 1
    loaded = load(["--config", by_flag], {"CHATHUB_CONFIG": by_variable})
    assert (loaded.config.hub.replay, loaded.file) == (2, by_flag)


def test_a_toml_integer_is_a_fine_float_and_an_empty_string_unsets_an_optional_one(tmp_path):
    """`max_rate = 5` is 5.0; `ports_file = ""` (or CHATHUB_PORTS_FILE=) leaves it unset."""
    path = write(tmp_path, 'max_rate = 5\nports_file = ""\n')
    loaded = load(["--config", path], {})
    assert (loaded.config.flow.max_rate, loaded.config.listen.ports_file) == (5.0, None)
    assert load([], {"CHATHUB_PORTS_FILE": ""}).config.listen.ports_file is None


HASH = "sha256:" + "ab" * 32
TOKEN = f'[[tokens]]\nname = "ci"\nnick = "ci-bot"\nrooms = ["dev"]\nrate = 2\nhash = "{HASH}"\n'


def test_tokens_and_operators_are_read(tmp_path):
    """[[tokens]] become checked Token entries; `operators` (an array, or a table of
    NAME = true) the server operators' account names."""
    path = write(tmp_path, TOKEN + "\n[operators]\nalice = true\nbob = false\n")
    config = load(["--config", path], {}).config
    (token,) = config.tokens
    assert (token.name, token.nick, token.rooms, token.rate, token.hash) == (
        "ci", "ci-bot", ("dev",), 2.0, HASH,
    )  # fmt: skip
    assert config.operators == ("alice",)
    listed = write(tmp_path, 'operators = ["alice", "bob"]\n', "list.toml")
    assert load(["--config", listed], {}).config.operators == ("alice", "bob")


@pytest.mark.parametrize(
    "text", ['operators = ["no way"]\n', "operators = 3\n", '[operators]\nalice = "yes"\n']
)
def test_bad_operators_name_the_file(tmp_path, text):
    """An operator that is not an account name, or a shape that is neither, stops loading."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as problem:
        load(["--config", path], {})
    assert "operators" in str(problem.value) and path in str(problem.value)


@pytest.mark.parametrize(
    ("table", "error"),
    [
        ('name = "x"\nnick = "bad nick"\nhash = "' + HASH + '"', "token x: nick 'bad nick'"),
        ('name = "x"\nnick = "x"\nsecret = "s"', "unknown key secret"),
        ('name = "x"\nnick = "x"\nhash = "md5:1"', "token x: hash must be"),
        ('name = "x"\nnick = "x"\nrate = 0\nhash = "' + HASH + '"', "rate must be"),
        ('name = "x"\nnick = "x"\nrooms = ["no way"]\nhash = "' + HASH + '"', "not a valid room"),
    ],
)
def test_a_bad_token_names_itself_and_the_file(tmp_path, table, error):
    """A token with a bad field stops loading with one line naming the token and the file."""
    path = write(tmp_path, "[[tokens]]\n" + table + "\n")
    with pytest.raises(ConfigError) as problem:
        load(["--config", path], {})
    assert error in str(problem.value) and path in str(problem.value)


# --- errors -----------------------------------------------------------------------------------

FILE_ERRORS = [
    ("max_rat = 10\n", "unknown setting max_rat in {path} (did you mean max_rate?)"),
    ("[hub]\nreplay = 1\n", "unknown setting hub in {path}"),
    ('max_rate = "fast"\n', 'max_rate = "fast" in {path}: not a number'),
    ("burst = 1.5\n", "burst = 1.5 in {path}: not a whole number"),
    ("burst = true\n", "burst = true in {path}: not a whole number"),
    ("motd = 5\n", "motd = 5 in {path}: not a string"),
    ('allow_origin = "*"\n', 'allow_origin = "*" in {path}: not a list of strings'),
    ("max_rate = -1\n", "max_rate = -1 in {path}: -1 is not 0 or more"),
    ("retain_days = inf\n", "retain_days = inf in {path}: inf is not a finite number"),
    ('allow_origin = ["a.example"]\n', "allow_origin = [\"a.example\"] in {path}: 'a.example' "
     "is not scheme://host[:port], null or *"),
    ('telnet = " "\n', 'telnet = " " in {path}: must not be empty'),
    ("tokens = 5\n", "tokens in {path} must be [[tokens]] tables"),
    ('operators = "alice"\n', "operators must be an array of account names or a table in {path}"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "message"), FILE_ERRORS)
def test_a_bad_file_entry_is_one_line_naming_key_value_and_file(tmp_path, text, message):
    """An unknown key, a wrong type or a value its check refuses: one line, with the file."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load(["--config", path], {})
    assert str(error.value) == message.format(path=path)


ENV_ERRORS = [
    ({"CHATHUB_MAX_RAT": "1"}, "unknown setting CHATHUB_MAX_RAT in the environment "
     "(did you mean CHATHUB_MAX_RATE?)"),
    ({"CHATHUB_max_rate": "1"}, "unknown setting CHATHUB_max_rate in the environment "
     "(did you mean CHATHUB_MAX_RATE?)"),
    ({"CHATHUB_MAX_RATE": "abc"}, "CHATHUB_MAX_RATE=abc: not a number"),
    ({"CHATHUB_MAX_RATE": "-1"}, "CHATHUB_MAX_RATE=-1: -1 is not 0 or more"),
    ({"CHATHUB_BURST": "0"}, "CHATHUB_BURST=0: 0 is not 1 or more"),
    ({"CHATHUB_ALLOW_ORIGIN": "https://ok.example,bad"},
     "CHATHUB_ALLOW_ORIGIN=https://ok.example,bad: 'bad' is not scheme://host[:port], null or *"),
    ({"CHATHUB_MOTD": ""}, None),  # an empty message of the day is allowed
]  # fmt: skip


@pytest.mark.parametrize(("environ", "message"), ENV_ERRORS)
def test_a_bad_variable_is_one_line_naming_it_and_its_value(environ, message):
    """An unknown CHATHUB_* variable or a bad value: one line naming the variable."""
    if message is None:
        load([], environ)
        return
    with pytest.raises(ConfigError) as error:
        load([], environ)
    assert str(error.value) == message


FLAG_ERRORS = [
    (["--max-rate", "-1"], "--max-rate -1: -1 is not 0 or more"),
    (["--max-rate", "nan"], "--max-rate nan: nan is not a finite number"),
    (["--burst", "2.5"], "--burst 2.5: not a whole number"),
    (["--web", "  "], "--web '  ': must not be empty"),
    (["--allow-origin", "*", "--allow-origin", "x"],
     "--allow-origin '*' --allow-origin x: 'x' is not scheme://host[:port], null or *"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "message"), FLAG_ERRORS)
def test_a_bad_flag_is_one_line_naming_it_and_its_value(argv, message):
    """A flag's value goes through the same conversion and check as every other source."""
    with pytest.raises(ConfigError) as error:
        load(argv, {})
    assert str(error.value) == message


def test_a_bad_value_is_refused_even_when_a_higher_source_overrides_it(tmp_path):
    """Every value given is checked: a bad file entry is an error despite a good flag."""
    path = write(tmp_path, "max_rate = -1\n")
    with pytest.raises(ConfigError, match="max_rate = -1 in"):
        load(["--config", path, "--max-rate", "5"], {})


def test_a_missing_file_is_one_line(tmp_path):
    """--config naming no file: `cannot read PATH: No such file or directory`."""
    path = str(tmp_path / "nowhere.toml")
    with pytest.raises(ConfigError) as error:
        load(["--config", path], {})
    assert str(error.value) == f"cannot read {path}: No such file or directory"


def test_an_unreadable_file_is_one_line(tmp_path):
    """--config naming a directory: `cannot read PATH: Is a directory`."""
    with pytest.raises(ConfigError) as error:
        load(["--config", str(tmp_path)], {})
    assert str(error.value) == f"cannot read {tmp_path}: Is a directory"


@pytest.mark.parametrize("text", ["max_rate = \n", "max_rate = 1\nmax_rate = 2\n", "[x\n"])
def test_malformed_toml_is_one_line_naming_the_file_and_where(tmp_path, text):
    """A file that is not TOML: one line with its path and TOML's line and column."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load(["--config", path], {})
    message = str(error.value)
    assert message.startswith(f"{path} is not valid TOML: ") and "line" in message
    assert "\n" not in message


def test_a_file_that_is_not_utf8_is_one_line(tmp_path):
    """Bytes that are not UTF-8 are refused with a line naming the file."""
    path = tmp_path / "latin1.toml"
    path.write_bytes('motd = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match=f"^{path} is not UTF-8 text$"):
        load(["--config", str(path)], {})


# --- chathub config ---------------------------------------------------------------------------


def test_render_lists_every_setting_with_its_value_and_source(tmp_path):
    """One line per setting, `key = value  # source`, in the table's order."""
    path = write(tmp_path, "burst = 4\n")
    loaded = load(["--config", path, "--allow-origin", "*"], {"CHATHUB_MAX_RATE": "5"})
    lines = render(loaded).splitlines()
    settings = [line for line in lines if not line.startswith("#")]
    assert [line.split(" = ")[0] for line in settings] == list(options.rows())
    assert "max_rate = 5.0  # env CHATHUB_MAX_RATE" in lines
    assert f"burst = 4  # file {path}" in lines
    assert 'allow_origin = ["*"]  # flag --allow-origin' in lines
    assert 'ports_file = ""  # default' in lines
    assert f"# file: {path}" in lines


def test_render_output_is_a_config_file_that_gives_the_same_configuration(tmp_path):
    """What `chathub config` prints, read back as --config, is the same configuration."""
    motd = 'say "hi"\\ \t\n\x7f\x1b 日本語 👋🏽'
    loaded = load(["--motd", motd, "--allow-origin", "null", "--retain-days", "0.25"], {})
    path = write(tmp_path, render(loaded))
    assert load(["--config", path], {}).config == loaded.config


def test_a_secret_is_masked(monkeypatch):
    """A setting marked secret shows as a comment without its value; an unset one shows as is."""
    real_rows = options.rows

    def rows_with_a_secret():
        rows = real_rows()
        for key in ("motd", "ports_file"):
            rows[key] = replace(rows[key], info=replace(rows[key].info, secret=True))
        return rows

    monkeypatch.setattr(options, "rows", rows_with_a_secret)
    text = render(load(["--motd", "hunter2"], {}))
    assert "hunter2" not in text
    assert "# motd = (secret, not shown)  # flag --motd" in text.splitlines()
    assert 'ports_file = ""  # default' in text.splitlines()


def test_render_lists_tokens_without_their_hash(tmp_path):
    """`chathub config` names each token, its nick and rooms, and masks its hash."""
    path = write(tmp_path, TOKEN + "\n[operators]\nalice = true\n")
    text = render(load(["--config", path], {}))
    assert (
        f"# token ci: nick ci-bot, rooms dev, rate 2/s, hash (secret, not shown)  # file {path}"
        in text
    )
    assert HASH not in text and f"# server operators: alice  # file {path}" in text


@pytest.mark.parametrize(
    "value", [0, -3, 2.5, 1e-7, "plain", 'q"b\\', "\x00\x7f\n", ("a", "b"), [], True]
)
def test_toml_value_writes_what_tomllib_reads_back(value):
    """toml_value(v) is TOML for v: numbers, strings with any character, lists, booleans."""
    expected = list(value) if isinstance(value, tuple) else value
    assert tomllib.loads(f"v = {toml_value(value)}")["v"] == expected
