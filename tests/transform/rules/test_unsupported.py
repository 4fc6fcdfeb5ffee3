"""Rule unsupported: what a block cannot replay (def, class, yield, await, `import *`) is an error."""

from __future__ import annotations

import pytest
from rule_support import raised, text

from psflow.transform import check_script, compile_script


@pytest.mark.parametrize(
    ("source", "line", "column", "message"),
    [
        pytest.param(
            """
            def g():
                block "a":
                    yield 1
            """,
            3,
            9,
            "`yield` inside a block cannot be replayed; move it out of the block",
            id="yield",
        ),
        pytest.param(
            """
            def g():
                with block("a"):
                    x = yield
            """,
            3,
            13,
            "`yield` inside a block cannot be replayed; move it out of the block",
            id="yield-expression",
        ),
        pytest.param(
            """
            async def g():
                with block("a"):
                    await x
            """,
            3,
            9,
            "`await` inside a block is not supported yet; move it out of the block",
            id="await",
        ),
        pytest.param(
            """
            async def g():
                with block("a"):
                    async for x in y:
                        pass
            """,
            3,
            9,
            "`async for` inside a block is not supported yet; move it out of the block",
            id="async-for",
        ),
        pytest.param(
            """
            async def g():
                with block("a"):
                    async with lock:
                        pass
            """,
            3,
            9,
            "`async with` inside a block is not supported yet; move it out of the block",
            id="async-with-inside",
        ),
        pytest.param(
            """
            block "a":
                def helper():
                    pass
            """,
            2,
            5,
            "a function defined inside a block cannot be saved; define it before the block",
            id="def",
        ),
        pytest.param(
            """
            block "a":
                class Helper:
                    pass
            """,
            2,
            5,
            "a class defined inside a block cannot be saved; define it before the block",
            id="class",
        ),
        pytest.param(
            """
            with block("a"):
                from os.path import *
            """,
            2,
            5,
            "`from … import *` inside a block binds unknown names; import them by name",
            id="import-star",
        ),
    ],
)
def test_unsupported_in_a_block(source: str, line: int, column: int, message: str) -> None:
    assert raised(source) == [(line, column, message)]


def test_yield_inside_a_lambda_belongs_to_the_lambda() -> None:
    assert "__psflow_b1.body()" in compile_script("with block('a'):\n    f = lambda: (yield)\n", "flow.py").text


def test_psflow_check_shows_the_fix_apart() -> None:
    [diagnostic] = check_script(text('block "A":\n    def helper():\n        pass\n'), "flow.py").diagnostics
    assert (diagnostic.message, diagnostic.fix) == (
        "a function defined inside a block cannot be saved",
        "define it before the block",
    )


def test_each_block_it_is_in_reports_it() -> None:
    """A def in nested blocks is in both bodies; each block refuses it (as psflow always has)."""
    found = raised(
        """
        with block("A"):
            with block("B"):
                def helper():
                    pass
        """
    )
    assert found == [(3, 9, "a function defined inside a block cannot be saved; define it before the block")] * 2


def test_reported_also_when_the_block_call_is_refused() -> None:
    assert raised("with block(1):\n    def helper():\n        pass\n") == [
        (1, 12, "block name must be a str, not int"),
        (2, 5, "a function defined inside a block cannot be saved; define it before the block"),
    ]
