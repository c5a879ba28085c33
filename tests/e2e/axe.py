"""axe-core in a Playwright page: inject it, run it, return what it finds.

axe-core is not a Python package: .ci/run fetches a pinned copy with npm into .ci/node/
(gitignored), and `AXE_CORE_JS` may name another copy of axe.min.js. Without it the tests that
use it skip on a laptop and fail under CI. The page's Content-Security-Policy allows only
scripts from 'self', so an injected <script> tag may be blocked: then the source is evaluated
through the DevTools protocol, which the policy does not govern.
"""

import contextlib
import os
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ci

VERSION = "4.14.1"  # the version .ci/run installs
DEFAULT = Path(__file__).resolve().parents[2] / ".ci/node/node_modules/axe-core/axe.min.js"
SERIOUS = ("serious", "critical")


def axe_script() -> Path:
    """The path of axe.min.js; skips the test (fails it under CI) when there is none."""
    path = Path(os.environ.get("AXE_CORE_JS", DEFAULT))
    if not path.is_file():
        fetch = f"npm install --prefix .ci/node axe-core@{VERSION}"
        why = f"axe-core is missing ({path}); fetch it: {fetch}"
        if ci():
            pytest.fail(why + ", and CI must run the accessibility tests")
        pytest.skip(why)
    return path


def inject(page: Any) -> None:
    """Load axe into the page (once)."""
    if page.evaluate("() => typeof window.axe === 'object'"):
        return
    path = axe_script()
    with contextlib.suppress(Exception):  # a tag the CSP blocks: tried another way below
        page.add_script_tag(path=str(path))
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(path.read_text(encoding="utf-8") + "\n;undefined")
    assert page.evaluate("() => typeof window.axe === 'object'"), "axe-core did not load"


def violations(page: Any, impacts: tuple[str, ...] = SERIOUS) -> list[dict[str, Any]]:
    """axe.run over the whole page: the violations of the given impacts, each with its rule
    id, impact, help text and the selectors and summaries of its nodes."""
    inject(page)
    found: list[dict[str, Any]] = page.evaluate(
        """async () => {
            const result = await window.axe.run(document, { resultTypes: ["violations"] });
            return result.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map((n) => ({
                    target: n.target.join(" "), summary: n.failureSummary,
                })),
            }));
        }"""
    )
    return [violation for violation in found if violation["impact"] in impacts]


def describe(found: list[dict[str, Any]]) -> str:
    """The violations as readable lines, for an assertion message."""
    lines = []
    for violation in found:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"]:
            lines.append(f"    {node['target']}: {node['summary']}".replace("\n", " "))
    return "\n".join(lines)
