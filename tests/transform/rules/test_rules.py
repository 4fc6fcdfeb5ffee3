"""The rules together: every problem at once, errors stop the compile, warnings come in line order."""

from __future__ import annotations

from rule_support import raised, text

from psflow.transform import check_script, compile_script
from psflow.transform.rules import RULES


def test_every_problem_is_reported_at_once() -> None:
    found = raised(
        """
        with block(1):
            pass
        def g():
            with block("b"):
                yield 2
        """
    )
    assert [(line, column) for line, column, _ in found] == [(1, 12), (5, 9)]


def test_raised_errors_come_in_line_order() -> None:
    found = raised(
        """
        with block("A"):
            with block("B"):
                def helper():
                    pass
            def other():
                pass
        with block("A"):
            pass
        """
    )
    assert [(line, column) for line, column, _ in found] == [(3, 9), (3, 9), (5, 5), (7, 12)]


def test_one_rule_per_module_each_a_function() -> None:
    assert [rule.__module__.rsplit(".", 1)[-1] for rule in RULES] == [
        "block_statements",
        "block_calls",
        "unsupported",
        "duplicate_names",
        "loop_names",
        "nondeterminism",
        "unsaveable_mutations",
        "process_state",
        "class_factories",
        "mapped_globals",
    ]


def test_warnings_do_not_stop_compiling_and_come_in_line_order() -> None:
    compiled = compile_script(
        text(
            """
            import random
            fh = open("log")
            for host in hosts:
                with block("Deploy"):
                    fh.write(host)
            if random.random() > .5:
                with block("Maybe"):
                    pass
            """
        ),
        "flow.py",
    )
    assert [(w.line, w.column, w.severity) for w in compiled.warnings] == [
        (4, 16, "warning"),
        (4, 16, "warning"),
        (6, 4, "warning"),
    ]
    assert compiled.warnings[0].message.startswith("block name 'Deploy' is the same on every pass")
    assert compiled.warnings[1].message.startswith("block 'Deploy' changes `fh` in place")
    assert compiled.block_count == 2


def test_rewriter_errors_are_reported_with_a_fix_and_the_sites_found() -> None:
    result = check_script(
        text(
            """
            with block(3):
                pass
            with block("B"):
                def helper():
                    pass
            """
        ),
        "flow.py",
    )
    assert [(d.line, d.severity, d.message, d.fix) for d in result.diagnostics] == [
        (
            1,
            "error",
            "block name must be a str, not int",
            'name the block with a str: block("Step1"), or block(f"step-{item}") in a loop',
        ),
        (4, "error", "a function defined inside a block cannot be saved", "define it before the block"),
    ]
    assert [site.name for site in result.sites] == ["B"]
