"""The browser UI writes what the server sends (a refusal's message, an asset, a level) as
text, never as HTML or code: a message carrying markup cannot run in the page. Every
module of the page is read for the ways a string becomes markup or code."""

from __future__ import annotations

import re
from pathlib import Path

import tradepro.web

STATIC_JS = Path(tradepro.web.__file__).parent / "static" / "js"
SINKS = re.compile(
    r"\.innerHTML\b|\.outerHTML\b|insertAdjacentHTML|document\.write|\beval\(|new Function\("
    r"|setTimeout\(\s*[\"'`]|setInterval\(\s*[\"'`]|createContextualFragment"
)


def test_no_module_of_the_page_turns_a_string_into_markup_or_code() -> None:
    modules = sorted(STATIC_JS.glob("*.js"))
    assert len(modules) > 20  # the page's modules, not an empty folder
    found = [
        f"{module.name}:{number}: {line.strip()}"
        for module in modules
        for number, line in enumerate(module.read_text(encoding="utf-8").splitlines(), 1)
        if SINKS.search(line)
    ]
    assert not found, found


def test_the_sinks_are_recognised() -> None:
    """The pattern finds each way it must refuse (a test that cannot fail proves nothing)."""
    lines = [
        "node.innerHTML = message;", "row.outerHTML = x", "el.insertAdjacentHTML('beforeend', t)",
        "document.write(t)", "eval(text)", "new Function(body)", "setTimeout('go()', 5)",
        "range.createContextualFragment(t)",
    ]  # fmt: skip
    assert all(SINKS.search(line) for line in lines)
    assert not SINKS.search("setText(node, message); setTimeout(() => go(), 5);")
