"""psflow.cli.render.shown: the one escape every printer uses for stored strings."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from psflow.cli.render import shown


@pytest.mark.parametrize(
    ("stored", "printed"),
    [
        ("plain name", "plain name"),
        ("clear\x1b[2J", "clear\\x1b[2J"),
        ("line\nbreak\ttab\rback", "line\\nbreak\\ttab\\rback"),
        ("nul\x00 del\x7f csi\x9b", "nul\\x00 del\\x7f csi\\x9b"),
        ("\u202eevil\u2066\u2069\u200f", "\\u202eevil\\u2066\\u2069\\u200f"),
        ("para\u2028graph", "para\\u2028graph"),
        ("[bold]markup[/] C:\\temp\\new", "[bold]markup[/] C:\\temp\\new"),  # not control characters
        ("café 日本 🙂 a\u00a0b", "café 日本 🙂 a\u00a0b"),
    ],
)
def test_control_characters_show_as_python_escapes(stored, printed):
    assert shown(stored) == printed


def test_keep_leaves_the_named_characters():
    assert shown("a\nb\tc\x1b[0m\r", keep="\n\t") == "a\nb\tc\\x1b[0m\\r"


@given(st.text())
def test_shown_text_is_printable_and_stable(text):
    once = shown(text)
    assert shown(once) == once
    assert not any(unicodedata.category(char) in ("Cc", "Zl", "Zp") for char in once)
