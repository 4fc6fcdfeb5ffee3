"""Rule block_statements: a `with` that uses psflow's `block` in a way psflow cannot run is an error."""

from __future__ import annotations

import pytest
from rule_support import raised

from psflow.transform import check_script


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param(
            'with block("a"), block("b"): pass',
            (1, 18, "one block per `with` statement; nest them instead"),
            id="two-blocks-in-one-with",
        ),
        pytest.param(
            """
            async def g():
                async with block("a"):
                    pass
            """,
            (2, 5, "`async with block(...)` is not supported; use a plain `with`"),
            id="async-with-block",
        ),
        pytest.param(
            """
            block = make_block
            block "a":
                pass
            """,
            (2, 1, '`block` here is a name of this script, not psflow\'s: rename it to use `block "Name":`'),
            id="shorthand-with-a-user-block",
        ),
    ],
)
def test_refused(source: str, expected: tuple[int, int, str]) -> None:
    assert raised(source) == [expected]


@pytest.mark.parametrize(
    ("source", "message", "fix"),
    [
        pytest.param(
            'with block("a"), block("b"): pass',
            "one block per `with` statement",
            "nest them instead",
            id="two",
        ),
        pytest.param(
            'async def g():\n    async with block("a"):\n        pass\n',
            "`async with block(...)` is not supported",
            "use a plain `with`",
            id="async",
        ),
        pytest.param(
            'block = make_block\nblock "a":\n    pass\n',
            '`block` here is a name of this script, not psflow\'s: rename it to use `block "Name":`',
            "rename the script's own `block`, so that `block \"Name\":` is psflow's",
            id="shadowed",
        ),
    ],
)
def test_psflow_check_shows_each_with_its_fix(source: str, message: str, fix: str) -> None:
    [diagnostic] = check_script(source, "flow.py").diagnostics
    assert (diagnostic.severity, diagnostic.message, diagnostic.fix) == ("error", message, fix)


def test_a_user_block_without_the_shorthand_is_the_users_own() -> None:
    """Plain `with block(...)` on a name the script binds is its own context manager: nothing to refuse."""
    assert check_script("block = make_block\nwith block('a'):\n    pass\n", "flow.py").diagnostics == ()
