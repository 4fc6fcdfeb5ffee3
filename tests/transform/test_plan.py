"""psflow.transform.plan: the one pass. Each block planned once (site, effects, surroundings), each exit
mapped to the blocks it leaves, metadata resolved once per compile."""

from __future__ import annotations

from textwrap import dedent

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper

from psflow.transform import compile_script, effects
from psflow.transform import plan as plan_module
from psflow.transform.plan import ScriptPlan, plan_script
from psflow.transform.shorthand import expand_shorthand


def planned(source: str) -> ScriptPlan:
    expanded, shorthand = expand_shorthand(dedent(source).removeprefix("\n"))
    return plan_script(cst.parse_module(expanded), expanded, "flow.py", shorthand.lines())


def test_each_block_in_source_order_with_its_site_and_effects() -> None:
    plan = planned(
        """
        block "A":
            rows = fetch()
            results.append(rows)
            with block(f"B-{rows}") as b:
                del rows
        """
    )
    outer, inner = plan.blocks
    assert [(b.number, b.handle, b.line, b.column, b.literal) for b in plan.blocks] == [
        (1, "__psflow_b1", 1, 12, "A"),
        (2, "__psflow_b2", 4, 16, None),  # columns of the expanded text
    ]
    assert outer.site is not None and (outer.site.name, outer.site.dynamic, outer.site.end_line) == ("A", False, 5)
    assert inner.site is not None and (inner.site.name, inner.site.dynamic) == ('f"B-{rows}"', True)
    assert (outer.effects.binds, outer.effects.mutates, inner.effects.deletes) == (["rows", "b"], ["results"], ["rows"])
    assert inner.enclosing == (outer,) and outer.enclosing == ()
    assert plan.sites == [outer.site, inner.site]


@pytest.mark.parametrize(
    ("name", "literal", "listed"),
    [
        pytest.param('"A"', "A", True, id="literal"),
        pytest.param('"A" "B"', "AB", True, id="concatenated"),
        pytest.param("f'{x}'", None, True, id="dynamic"),
        pytest.param("3", None, False, id="int: refused, not listed"),
        pytest.param("1 + 2j", None, False, id="a constant that is no str"),
        pytest.param("", None, False, id="no name"),
    ],
)
def test_which_blocks_have_a_site(name: str, literal: str | None, listed: bool) -> None:
    [block] = planned(f"with block({name}):\n    pass\n").blocks
    assert (block.literal, block.site is not None) == (literal, listed)


def test_headers_are_every_with_that_uses_psflows_block_or_was_written_as_shorthand() -> None:
    shadowed = planned('block = mine\nblock "Shadowed":\n    pass\nwith open(f) as fh:\n    pass\n')
    assert [(shadowed.positions[h.node].start.line, h.calls, h.shorthand) for h in shadowed.headers] == [(2, (), True)]
    assert shadowed.blocks == []
    refused = planned('with block("A"), block("B"):\n    pass\nasync def f():\n    async with block("C"): pass\n')
    assert [len(h.calls) for h in refused.headers] == [2, 1] and refused.blocks == []


def test_exits_map_to_the_blocks_they_leave() -> None:
    plan = planned(
        """
        def f(items):
            with block("A"):
                for item in items:
                    with block(f"B-{item}"):
                        if item:
                            continue
                        for other in item:
                            break
                    if item:
                        break
                return 1
            return 2
        """
    )
    a, b = plan.blocks
    left = {plan.positions[node].start.line: blocks for node, blocks in plan.exits.items()}
    assert left == {6: (b,), 11: (a,)}  # a `break` of a loop opened inside the block leaves none
    assert (a.exits, b.exits) == ({"return"}, {"continue"})
    assert b.loop is not None and b.loop.line == 3 and b.left_by_loop_exits() == ()


def test_a_break_after_an_inner_block_leaves_the_outer_ones_inside_the_loop() -> None:
    plan = planned(
        """
        for x in xs:
            with block(f"A-{x}"):
                with block(f"B-{x}"):
                    break
        """
    )
    a, b = plan.blocks
    assert b.enclosing == (a,) and b.left_by_loop_exits() == (a,)
    assert a.exits == b.exits == {"break"}


def test_scopes_know_where_names_live_and_how_they_are_mangled() -> None:
    plan = planned(
        """
        x = 1
        class C:
            y = 2
            def m(self):
                global x
                x = 3
                return y
        """
    )
    module, cls, method = plan.scopes
    assert (module.kind, cls.kind, method.kind) == ("module", "class", "function")
    assert method.owner("x") is module and method.owner("y") is None and cls.owner("y") is cls
    assert [b.line for b in module.bindings["x"]] == [1, 6]
    assert method.mangle("__secret") == "_C__secret" and method.mangle("__dunder__") == "__dunder__"
    assert module.mangle("__secret") == "__secret"


def test_a_compile_resolves_metadata_once_and_analyses_each_block_once(monkeypatch: pytest.MonkeyPatch) -> None:
    wrapped: list[int] = []
    analysed: list[int] = []
    wrap, analyse_body = MetadataWrapper.__init__, effects.analyse_body

    def counting_wrap(self: MetadataWrapper, *args: object, **kwargs: object) -> None:
        wrapped.append(1)
        wrap(self, *args, **kwargs)  # type: ignore[arg-type]

    def counting_analyse(nodes: list[cst.CSTNode]) -> effects.BodyEffects:
        analysed.append(1)
        return analyse_body(nodes)

    monkeypatch.setattr(MetadataWrapper, "__init__", counting_wrap)
    monkeypatch.setattr(plan_module, "analyse_body", counting_analyse)
    source = 'with block("A"):\n    with block("B"):\n        x = 1\n    return_value = 2\nwith block("C"):\n    pass\n'
    compiled = compile_script(source, "flow.py")
    assert compiled.block_count == 3
    assert (len(wrapped), len(analysed)) == (1, 3)
