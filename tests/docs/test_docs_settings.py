"""The reference pages keep up with the code (datasette's documentation meta-tests).

Every setting an installed plugin declares is in ``docs/configuration.md``, and every
hook slipstream calls is described somewhere under ``docs/plugins/``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from slipstream.plugins.hookspecs import ListenerSpecs, SlipstreamSpecs
from slipstream.plugins.manager import PluginManager

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _settings_table() -> set[str]:
    """The ``section.key`` names in the first column of configuration.md's tables."""
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\| `([a-z0-9_\-]+\.[a-z0-9_\-]+)` \|", text, flags=re.MULTILINE))


def _hooks(spec: type) -> list[str]:
    return sorted(name for name in vars(spec) if name.startswith(("slipstream_", "on_", "before_")))


SETTINGS = sorted(PluginManager(load_entrypoints=True).settings())
HOOKS = _hooks(SlipstreamSpecs) + _hooks(ListenerSpecs)


@pytest.mark.parametrize("dotted", SETTINGS)
def test_setting_is_documented(dotted: str) -> None:
    assert dotted in _settings_table(), (
        f"setting {dotted} is declared by an installed plugin but missing from the table "
        f"in docs/configuration.md"
    )


def test_documented_settings_exist() -> None:
    stale = _settings_table() - set(SETTINGS)
    assert not stale, f"docs/configuration.md lists settings no plugin declares: {sorted(stale)}"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented(hook: str) -> None:
    pages = "\n".join(
        page.read_text(encoding="utf-8") for page in sorted((DOCS / "plugins").glob("*.md"))
    )
    assert re.search(rf"`{hook}`", pages), f"hook {hook} is not described in docs/plugins/"
