"""Rule (error): a `block(...)` call psflow cannot rewrite.

A block has one name, a str where it is a literal, and only the options `retries=`
(an int of 0 or more), `backoff=` (seconds of 0 or more, or a timedelta) and `timeout=`
(seconds more than 0, a timedelta, or None) where they are literals; with `retries=`,
its body is on the lines below the header.
The first kind of problem found in a call is the one reported.
"""

from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from psflow import keys
from psflow.transform.diagnostics import Diagnostic
from psflow.transform.matchers import OPTIONS, is_negative, is_zero, keyword, literal_kind, str_value
from psflow.transform.plan import BlockPlan, ScriptPlan


def check(plan: ScriptPlan) -> Iterator[Diagnostic]:
    for block in plan.blocks:
        for problems in (_arguments, _name, _options, _body):
            found = problems(plan, block)
            if found:
                yield from found
                break


def _arguments(plan: ScriptPlan, block: BlockPlan) -> list[Diagnostic]:
    for arg in block.call.args:
        if arg.star:
            return [plan.error(arg, f"write the block's name and options out in full, not `{arg.star}…`")]
        if keyword(arg) not in (None, "name", *OPTIONS):
            message = f"block() has no option {keyword(arg)!r}"
            return [plan.error(arg, message, fix="its options are retries=, backoff= and timeout=")]
    return []


def _name(plan: ScriptPlan, block: BlockPlan) -> list[Diagnostic]:
    if block.name is None:
        return [
            plan.error(
                block.call,
                'a block needs exactly one name: block("Name")',
                fix='give the block one name: block("Step1")',
                fix_when_raised="omitted",
            )
        ]
    kind = literal_kind(block.name)
    if kind is not None and kind != "str":
        return [
            plan.error(
                block.name,
                f"block name must be a str, not {kind}",
                fix='name the block with a str: block("Step1"), or block(f"step-{item}") in a loop',
                fix_when_raised="omitted",
            )
        ]
    value = str_value(block.name)
    problem = keys.block_name_problem(value) if value is not None else None
    if problem is not None:
        return [plan.error(block.name, f"block name {value!r} {problem}", fix_when_raised="omitted")]
    return []


def _options(plan: ScriptPlan, block: BlockPlan) -> list[Diagnostic]:
    """`retries=` an int of 0 or more, `backoff=` seconds of 0 or more, `timeout=` seconds more than 0
    or None, where they are literals."""
    found = []
    for arg in block.call.args:
        option = keyword(arg)
        if option not in OPTIONS:
            continue
        kind, negative = literal_kind(arg.value), is_negative(arg.value)
        got = "a negative number" if negative else kind if kind in ("None", "True", "False") else f"a {kind}"
        if option == "retries" and (kind not in (None, "int") or negative):
            found.append(
                plan.error(
                    arg.value,
                    f"retries must be an int of 0 or more, not {got}",
                    fix="give retries= how many times to try again, such as 3",
                    fix_when_raised="omitted",
                )
            )
        zero = is_zero(arg.value)
        if option == "timeout" and (kind not in (None, "int", "float", "None") or negative or zero):
            found.append(
                plan.error(
                    arg.value,
                    f"timeout must be seconds (more than 0), a timedelta or None, not {'0' if zero else got}",
                    fix="give timeout= the most seconds one run of the body may take, such as 600",
                    fix_when_raised="omitted",
                )
            )
        if option == "backoff" and (kind not in (None, "int", "float") or negative):
            found.append(
                plan.error(
                    arg.value,
                    f"backoff must be seconds (0 or more) or a timedelta, not {got}",
                    fix="give backoff= the seconds to wait before the first retry, such as 2.0",
                    fix_when_raised="omitted",
                )
            )
    return found


def _body(plan: ScriptPlan, block: BlockPlan) -> list[Diagnostic]:
    if block.retried and not isinstance(block.node.body, cst.IndentedBlock):
        return [
            plan.error(
                block.node.body,
                "a block with retries needs its body on the lines below the `with`",
                fix="put the body on its own indented lines",
                fix_when_raised="omitted",
            )
        ]
    return []
