"""The bench package's import rules (`chathub/bench/__init__.py`): it is a client of chathub, so
it never imports the command line or the server, and importing the package itself is cheap.
Each check runs in a fresh interpreter, so nothing another test imported can hide a cycle."""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "chathub" / "bench"
# Every bench module but the baseline, which is a Twisted server run as its own process.
CLIENT_MODULES = [
    f"chathub.bench.{path.stem}"
    for path in sorted(BENCH.glob("*.py"))
    if path.stem not in ("__init__", "baseline")
]


def modules_after(*imports: str) -> set[str]:
    """The modules loaded in a fresh interpreter after importing `imports`."""
    code = "import json, sys\n"
    code += "".join(f"import {name}\n" for name in imports)
    code += "print(json.dumps(sorted(sys.modules)))\n"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, check=True, cwd=ROOT, env=env
    )
    return set(json.loads(done.stdout))


def test_importing_the_bench_imports_neither_the_command_line_nor_the_hub() -> None:
    """`import chathub.bench` loads no chathub module outside it, nor Twisted."""
    loaded = modules_after("chathub.bench")
    assert "chathub.cli" not in loaded
    assert "chathub.hub" not in loaded
    assert {name for name in loaded if name.startswith("chathub.")} == {"chathub.bench"}
    assert "twisted" not in loaded


def test_the_bench_reads_only_the_settings_table_of_chathub() -> None:
    """Every client module of the bench loaded together brings in no more of chathub than
    `chathub.config` does on its own: no cli, no hub, no adapter, no service, no Twisted."""
    assert "chathub.bench.run" in CLIENT_MODULES
    loaded = modules_after(*CLIENT_MODULES)
    outside = {name for name in loaded if name.startswith("chathub.")} - set(CLIENT_MODULES)
    outside.discard("chathub.bench")
    assert "chathub.cli" not in outside
    assert "chathub.hub" not in outside
    assert outside <= modules_after("chathub.config")
    assert "twisted" not in loaded


def test_no_bench_module_imports_chathub_beyond_the_settings_table_even_lazily() -> None:
    """Every import statement in the bench, at the top or inside a function, names only
    `chathub.bench`, `chathub.config` or `chathub.tokens` (which `chathub.config` imports) of
    chathub (a lazy import of `chathub.cli` was how the bench and the command line used to
    import each other)."""
    named: dict[str, set[str]] = {}
    for path in sorted(BENCH.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = {node.module}
            else:
                continue
            named.setdefault(path.name, set()).update(
                name for name in names if name == "chathub" or name.startswith("chathub.")
            )
    allowed = {"chathub.config", "chathub.tokens"}
    assert "chathub.tokens" in modules_after("chathub.config")
    for module, names in named.items():
        assert {n for n in names if not n.startswith("chathub.bench")} <= allowed, module
