"""The `block "Name":` shorthand: before/after pairs, and everything it must leave alone."""

from __future__ import annotations

from textwrap import dedent

import pytest

from psflow.transform.shorthand import expand_shorthand


def expand(source: str) -> str:
    """Expand dedented `source`, holding the rule every case shares: no line moves."""
    source = dedent(source)
    text, layer = expand_shorthand(source)
    assert len(text.splitlines()) == len(source.splitlines())
    for number, (before, after) in enumerate(zip(source.splitlines(), text.splitlines(), strict=True), 1):
        # Only insertions (`with `, `(`, `)`), plus the blank after `block` turned into the `(`.
        assert layer.undo(number, after) in (before, before.replace("block ", "block(", 1))
    return text


@pytest.mark.parametrize(
    ("before", "after"),
    [
        pytest.param(
            """
            block "Step1":
                rows = 1
            """,
            """
            with block("Step1"):
                rows = 1
            """,
            id="simple",
        ),
        pytest.param(
            """
            block "Step1" as b:
                rows = b.name
            """,
            """
            with block("Step1") as b:
                rows = b.name
            """,
            id="as",
        ),
        pytest.param(
            """
            for host in hosts:
                block f"deploy-{host}":
                    deploy(host)
            """,
            """
            for host in hosts:
                with block(f"deploy-{host}"):
                    deploy(host)
            """,
            id="f-string-nested",
        ),
        pytest.param(
            """
            block "a" "b" f"-{x}":
                pass
            """,
            """
            with block("a" "b" f"-{x}"):
                pass
            """,
            id="implicit-concatenation",
        ),
        pytest.param(
            """
            def f():
                if x:
                    block "deep":
                        block "deeper":
                            pass
            """,
            """
            def f():
                if x:
                    with block("deep"):
                        with block("deeper"):
                            pass
            """,
            id="nested-indented",
        ),
        pytest.param(
            """
            block f"x-{h(1)}" + suffix(2, (3,)):
                pass
            """,
            """
            with block(f"x-{h(1)}" + suffix(2, (3,))):
                pass
            """,
            id="calls-and-parentheses",
        ),
        pytest.param(
            """
            block f"{d['k']:>{w}}" if c else "other" as b:
                pass
            """,
            """
            with block(f"{d['k']:>{w}}" if c else "other") as b:
                pass
            """,
            id="colon-inside-brackets",
        ),
        pytest.param(
            """
            block "read", open(path) as fh:
                data = fh.read()
            """,
            """
            with block("read"), open(path) as fh:
                data = fh.read()
            """,
            id="later-with-item",
        ),
        pytest.param(
            """
            block f"{a}-{b}" if (a, b) else "x", lock:
                pass
            """,
            """
            with block(f"{a}-{b}" if (a, b) else "x"), lock:
                pass
            """,
            id="comma-inside-brackets",
        ),
        pytest.param(
            """
            block "Step1":  # block "not this one":
                pass  # block "nor this":
            """,
            """
            with block("Step1"):  # block "not this one":
                pass  # block "nor this":
            """,
            id="trailing-comment",
        ),
        pytest.param(
            """
            block "one-line": x = 1; y = 2
            """,
            """
            with block("one-line"): x = 1; y = 2
            """,
            id="one-line-body",
        ),
        pytest.param(
            """
            block"tight":
                pass
            """,
            """
            with block("tight"):
                pass
            """,
            id="no-blank",
        ),
        pytest.param(
            """
            block "a" \\
                  "b":
                pass
            """,
            """
            with block("a" \\
                  "b"):
                pass
            """,
            id="backslash-continuation",
        ),
        pytest.param(
            '''
            block """multi
            line""":
                pass
            ''',
            '''
            with block("""multi
            line"""):
                pass
            ''',
            id="triple-quoted-name",
        ),
        pytest.param(
            """
            block "é-ü" as b:
                pass
            """,
            """
            with block("é-ü") as b:
                pass
            """,
            id="non-ascii",
        ),
        pytest.param(
            """
            class C:
                block "in-class":
                    x = 1
            """,
            """
            class C:
                with block("in-class"):
                    x = 1
            """,
            id="class-body",
        ),
    ],
)
def test_expands_headers(before: str, after: str) -> None:
    assert expand(before) == dedent(after)


@pytest.mark.parametrize(
    "source",
    [
        pytest.param('x = "block \\"a\\":"\ny = \'block "b":\'\n', id="in-strings"),
        pytest.param('# block "a":\nx = 1  # block "b":\n', id="in-comments"),
        pytest.param('def f():\n    """\n    block "a":\n        pass\n    """\n', id="in-docstring"),
        pytest.param("block = 3\nblock += 1\n", id="assignment"),
        pytest.param('block("x")\nwith block("y"):\n    pass\n', id="call"),
        pytest.param("block.attr\nblock.attr = 2\n", id="attribute"),
        pytest.param('x = block "a"\n', id="not-at-statement-start"),
        pytest.param("print(block)\nblock\n", id="name"),
        pytest.param("block: int = 3\n", id="annotation"),
        pytest.param('block ("a"):\n    pass\n', id="parenthesised-name"),
        pytest.param('f(block "a")\n', id="inside-call"),
        pytest.param('x = 1; block "a": pass\n', id="after-semicolon"),
        pytest.param('if x: block "a": pass\n', id="after-compound-colon"),
        pytest.param('x = 1 \\\n  block "a"\n', id="continued-line"),
        pytest.param('lambda: block "a"\n', id="lambda"),
        pytest.param("", id="empty"),
        pytest.param('block "a"', id="no-colon"),
    ],
)
def test_leaves_alone(source: str) -> None:
    assert expand_shorthand(source)[0] == source


@pytest.mark.parametrize(
    ("source", "expanded"),
    [
        pytest.param('block "a":\n    x = (\n', 'with block("a"):\n    x = (\n', id="unclosed-bracket"),
        pytest.param('block "a":\n    x = """\n', 'with block("a"):\n    x = """\n', id="unterminated-string"),
        pytest.param('block "a":\n  x\n y\n', 'with block("a"):\n  x\n y\n', id="bad-dedent"),
        pytest.param('x = (\nblock "a":\n    pass\n', 'x = (\nblock "a":\n    pass\n', id="inside-open-bracket"),
        pytest.param('block "a" + (:\n    pass\n', 'block "a" + (:\n    pass\n', id="header-never-ends"),
    ],
)
def test_expands_headers_up_to_where_tokenizing_stops(source: str, expanded: str) -> None:
    """So the parser reports the real error, not `invalid syntax` at an unexpanded header."""
    assert expand_shorthand(source)[0] == expanded


def test_edits_stay_on_lines_split_like_the_tokenizer() -> None:
    """str.splitlines() also splits at \\f, \\x1c, \\u2028…: the header is still found on its own line."""
    for odd in ("\x0c", "\u2028", "\x1c", "\x85", "\v"):
        source = f'x = "{odd}"  # {odd}\nblock "a":\n    pass\n'
        assert expand_shorthand(source)[0] == f'x = "{odd}"  # {odd}\nwith block("a"):\n    pass\n'


def test_keeps_line_endings() -> None:
    assert expand_shorthand('block "a":\r\n    pass\r\n')[0] == 'with block("a"):\r\n    pass\r\n'


@pytest.mark.parametrize(
    ("source", "user_columns"),
    [
        # text of the expanded header → column of the user's line it came from
        ('block "a":\n', {'"a"': 6, "block": 0, ":": 9}),
        ('    block   "é" as b:\n', {'"é"': 12, "block": 4, "b:": 19}),
        ('block"a":\n', {'"a"': 5, "block": 0}),
    ],
)
def test_columns_map_back_to_the_header(source: str, user_columns: dict[str, int]) -> None:
    text, layer = expand_shorthand(source)
    for fragment, column in user_columns.items():
        assert layer.column(1, text.index(fragment)) == column
