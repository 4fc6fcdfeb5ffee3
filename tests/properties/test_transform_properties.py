"""Property tests for psflow.transform: generated programs, run and compared.

(a) the shorthand pass edits headers only; (b) block-free programs come back
byte-identical and rewritten text is a fixed point; (c) programs with blocks
compile to code whose every position is in the user's file (every node of the
original keeps its exact place), run in plain mode exactly like the original, and
give the same end state when their blocks are replayed (all of them, or any
subset) by a minimal in-memory recorder.
"""

from __future__ import annotations

import ast
import copy
import importlib.util
import io
import tokenize
from collections import Counter
from dataclasses import dataclass, field
from types import CodeType
from typing import Any

import libcst as cst
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from psflow.script import block as Block
from psflow.script import recorder
from psflow.script.scope import MISSING, lookup
from psflow.transform import TransformError, compile_script
from psflow.transform.locations import Layer, mapped_tree
from psflow.transform.plan import plan_script
from psflow.transform.rewriter import rewrite
from psflow.transform.shorthand import expand_shorthand

HAVE_HYPOTHESMITH = importlib.util.find_spec("hypothesmith") is not None  # in the `test` extra; else one test skips

# ---------------------------------------------------------------------------
# (a) the shorthand pass
# ---------------------------------------------------------------------------

NAMES = ['"x"', "'y'", 'f"n-{i}"', '"a" "b"', '"é"', "f\"{d['k']:>3}\"", '"s" + str(1)']
DISTRACTORS = [
    's = "block \\"x\\":"',
    "s = 'block \"x\": pass'",
    '# block "x":\n{indent}pass',
    "block = 3",
    "print(block)",
    'block("x")',
    "x = [block,\n{indent}     block]",
    'd = """\n{indent}block "x":\n{indent}"""',
    'x = (1 +\n{indent}     2)  # block "y":',
]


@st.composite
def shorthand_programs(draw: st.DrawFn, indent: str = "", depth: int = 0, headers: bool = True) -> tuple[str, str]:
    """(source with shorthand headers, the same source written with `with block(...)`)."""
    short, plain = [], []
    for _ in range(draw(st.integers(1, 4))):
        if depth < 3 and draw(st.booleans()):
            body_short, body_plain = draw(shorthand_programs(indent + "    ", depth + 1, headers))
            if headers and draw(st.booleans()):
                name = draw(st.sampled_from(NAMES))
                tail = draw(st.sampled_from(["", " as b"])) + ":" + draw(st.sampled_from(["", '  # block "c":']))
                short.append(f"{indent}block {name}{tail}\n{body_short}")
                plain.append(f"{indent}with block({name}){tail}\n{body_plain}")
            else:
                short.append(f"{indent}if x:\n{body_short}")
                plain.append(f"{indent}if x:\n{body_plain}")
        else:
            line = indent + draw(st.sampled_from(DISTRACTORS)).format(indent=indent) + "\n"
            short.append(line)
            plain.append(line)
    return "".join(short), "".join(plain)


def _tokens(source: str) -> list[tuple[int, str]]:
    return [(t.type, t.string) for t in tokenize.generate_tokens(io.StringIO(source).readline)]


def _without_inserted(tokens: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Drop each header's `with`, and the `(`…`)` put around its name."""
    kept, closing, depth = [], [], 0
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token == (tokenize.NAME, "with") and tokens[index + 1 : index + 3] == [
            (tokenize.NAME, "block"),
            (tokenize.OP, "("),
        ]:
            kept.append(tokens[index + 1])
            closing.append(depth)
            depth += 1
            index += 3
            continue
        if token[0] == tokenize.OP and token[1] in "([{":
            depth += 1
        elif token[0] == tokenize.OP and token[1] in ")]}":
            depth -= 1
            if closing and closing[-1] == depth:
                closing.pop()
                index += 1
                continue
        kept.append(token)
        index += 1
    return kept


@given(shorthand_programs())
def test_shorthand_edits_only_headers(program: tuple[str, str]) -> None:
    short, plain = program
    expanded, _ = expand_shorthand(short)
    assert expanded == plain
    assert len(expanded.splitlines()) == len(short.splitlines())
    for before, after in zip(short.splitlines(), expanded.splitlines(), strict=True):
        if not before.lstrip().startswith("block "):
            assert after == before
    # Every token of the original is kept, in order; only `with`, `(` and `)` are new.
    assert _without_inserted(_tokens(expanded)) == _tokens(short)


# ---------------------------------------------------------------------------
# (b) programs without blocks, and fixed points
# ---------------------------------------------------------------------------


def _any_python() -> st.SearchStrategy[str]:
    import hypothesmith

    return st.one_of(hypothesmith.from_grammar(), hypothesmith.from_node())


# Deferred: importing hypothesmith and building its grammar take seconds, paid only by the worker that runs the test.
_ANY_PYTHON = st.deferred(_any_python if HAVE_HYPOTHESMITH else st.nothing)


@pytest.mark.skipif(not HAVE_HYPOTHESMITH, reason="needs hypothesmith")
@given(_ANY_PYTHON)
@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])  # hypothesmith rejects a lot
def test_any_python_compiles_or_is_diagnosed_and_without_blocks_is_unchanged(source: str) -> None:
    try:
        compiled = compile_script(source, "generated.py")
    except TransformError as error:  # valid grammar, but the compiler's own checks refuse it
        assert error.diagnostics and all(d.message and d.line >= 1 for d in error.diagnostics)
        return
    if compiled.block_count == 0:
        assert compiled.text == source
    assert compile_script(compiled.text, "generated.py").text == compiled.text


@given(shorthand_programs(headers=False).map(lambda program: program[0]))
def test_programs_using_the_name_block_but_no_blocks_come_back_byte_identical(source: str) -> None:
    """`block` as a variable, in strings, comments and calls: through libcst and back, untouched."""
    compiled = compile_script(source, "generated.py")
    assert (compiled.text, compiled.block_count) == (source, 0)
    assert compile_script(compiled.text, "generated.py").text == compiled.text


# ---------------------------------------------------------------------------
# (c) programs with blocks
# ---------------------------------------------------------------------------

VARIABLES = ("a", "b", "c", "g")


@dataclass
class _Context:
    indent: str = ""
    depth: int = 0
    function: bool = False
    loop: bool = False
    in_block: bool = False
    annotatable: bool = True  # outside blocks, or only nested in blocks: see `annotate` below
    suffix: list[str] = field(default_factory=list)  # loop variables (and `p`) that keep block names unique

    def inner(self, **changes: Any) -> _Context:
        values = {**self.__dict__, "indent": self.indent + "    ", "depth": self.depth + 1}
        values["annotatable"] = not self.in_block  # under `if`/loops in a block: no longer
        values.update(changes)
        values["suffix"] = list(values["suffix"])
        return _Context(**values)


class _Writer:
    """Draws one program, written twice: with shorthand headers, and all in `with block(...)` form."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw
        self.short: list[str] = []
        self.plain: list[str] = []
        self.ids = 0

    def line(self, context: _Context, text: str, plain: str | None = None) -> None:
        self.short.append(context.indent + text)
        self.plain.append(context.indent + (text if plain is None else plain))

    def new_id(self) -> int:
        self.ids += 1
        return self.ids

    def expression(self) -> str:
        draw = self.draw
        return draw(
            st.sampled_from(
                [
                    str(draw(st.integers(-3, 9))),
                    f"{draw(st.sampled_from(VARIABLES))} + {draw(st.integers(0, 5))}",
                    "len(acc)",
                ]
            )
        )

    def body(self, context: _Context) -> None:
        for _ in range(self.draw(st.integers(1, 3))):
            self.statement(context)

    def statement(self, context: _Context) -> None:
        draw = self.draw
        kinds = ["assign", "augment", "append", "delete", "walrus", "continued"]
        # Replay gives back `x: T` made directly in a block (or in blocks directly in it) that ran to its
        # end; one under `if`/loops, or before a `break` out of the block, is not (in functions none matter).
        if context.function or not context.in_block or (context.annotatable and not context.loop):
            kinds.append("annotate")
        if context.depth < 3:
            kinds += ["if", "for", "while", "block", "block"]
        if context.loop:
            kinds += ["break", "continue"]
        if context.function:
            kinds += ["return"]
        kind = draw(st.sampled_from(kinds))
        variable = draw(st.sampled_from(VARIABLES))
        if kind == "assign":
            self.line(context, f"{variable} = {self.expression()}")
        elif kind == "augment":
            self.line(context, f"{variable} += {draw(st.integers(1, 4))}")
        elif kind == "append":
            self.line(context, f"acc.append({variable})")
        elif kind == "delete":
            self.line(context, f"t = {draw(st.integers(0, 5))}")
            self.line(context, "del t")
        elif kind == "annotate":  # not `g`: functions declare it global, and a global cannot be annotated
            self.line(context, f"{draw(st.sampled_from(VARIABLES[:3]))}: int = {self.expression()}")
        elif kind == "continued":  # lines the rewriter may not re-indent: inside a string, after `\\`, in brackets
            more = draw(st.sampled_from(["", " ", context.indent + "  ", context.indent + "            "]))
            self.line(
                context,
                draw(
                    st.sampled_from(
                        [
                            f's = """x\n{more}y""" + str({variable})',
                            f"s = {variable} + \\\n{more}1",
                            f"acc.append(({variable},\n{more}{self.expression()}))",
                        ]
                    )
                ),
            )
        elif kind == "walrus":
            self.line(context, f"zs = [(w := j + {variable}) for j in range({draw(st.integers(1, 3))})]")
        elif kind == "if":
            self.line(context, f"if {variable} > {draw(st.integers(-1, 6))}:")
            self.body(context.inner())
            if draw(st.booleans()):
                self.line(context, "else:")
                self.body(context.inner())
        elif kind == "for":
            counter = f"i{self.new_id()}"
            self.line(context, f"for {counter} in range({draw(st.integers(1, 3))}):")
            self.body(context.inner(loop=True, suffix=[*context.suffix, counter]))
            if draw(st.booleans()):  # a `break` here belongs to the enclosing loop
                self.line(context, "else:")
                self.body(context.inner())
        elif kind == "while":
            counter = f"i{self.new_id()}"
            self.line(context, f"{counter} = 0")
            self.line(context, f"while {counter} < {draw(st.integers(1, 3))}:")
            inner = context.inner(loop=True, suffix=[*context.suffix, counter])
            self.line(inner, f"{counter} += 1")
            self.body(inner)
        elif kind == "block":
            self.block(context)
        elif kind in ("break", "continue"):
            self.line(context, kind)
        elif kind == "return":
            returns = ["return (a, b, c)", "return", "return a + len(acc)", "return(a, b)", "return  [c]"]
            self.line(context, draw(st.sampled_from(returns)))

    def block(self, context: _Context, body: Any = None) -> None:
        draw = self.draw
        number = self.new_id()
        name = 'f"b' + str(number) + "".join(f"-{{{part}}}" for part in context.suffix) + '"'
        handle = f" as h{number}" if draw(st.booleans()) else ""
        if draw(st.booleans()):  # retried: the body runs in a loop two levels deeper (no shorthand for it)
            plain = text = f"with block({name}, retries=1){handle}:"
        else:
            plain = f"with block({name}){handle}:"
            text = f"block {name}{handle}:" if draw(st.booleans()) else plain
        self.line(context, text, plain)
        inner = context.inner(in_block=True, annotatable=context.annotatable)
        (body or self.body)(inner)

    def function(self, number: int) -> None:
        top = _Context()
        self.line(top, f"def f{number}(p):")
        context = top.inner(function=True, suffix=["p"])
        self.line(context, "global g")
        self.line(context, "a = b = c = t = 0")
        if self.draw(st.booleans()):
            self.line(context, "def inner():")
            nested = context.inner()
            self.line(nested, "nonlocal a")
            self.block(nested, lambda body: self.line(body, "a += 10"))
            self.line(context, "inner()")
        self.body(context)
        self.line(context, "return (a, b, c)")

    def klass(self, number: int) -> None:
        top = _Context()
        self.line(top, f"class K{number}:")
        context = top.inner()
        self.line(context, "plain = 1")

        def body(inner: _Context) -> None:
            self.line(inner, f"__private = {self.draw(st.integers(0, 9))}")
            self.line(inner, "public: int = __private + 1")
            self.line(inner, "declared: str")

        self.block(context, body)

    def program(self) -> tuple[str, str]:
        top = _Context()
        self.line(top, "a = b = c = g = t = 0")
        self.line(top, "acc = []")
        functions = self.draw(st.integers(0, 2))
        for number in range(1, functions + 1):
            self.function(number)
        if self.draw(st.booleans()):
            self.klass(1)
        self.body(top)
        for number in range(1, functions + 1):  # calls only here: a replayed block never skips one
            self.line(top, f"r{number} = f{number}({number})")
        self.body(top)
        return "\n".join(self.short) + "\n", "\n".join(self.plain) + "\n"


@st.composite
def block_programs(draw: st.DrawFn) -> tuple[str, str]:
    return _Writer(draw).program()


class _PlainBlock:
    """`block` as a plain context manager, for running the original program."""

    def __init__(self, name: str, **options: Any) -> None:
        self.name = name

    def __enter__(self) -> _PlainBlock:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None


class _MemoryRecorder:
    """The smallest recorder: keeps completed blocks in memory and replays the ones it is given."""

    job_id, number = "property", 1

    def __init__(self, replay: dict[str, dict[str, Any]] | None = None) -> None:
        self.replay = replay or {}
        self.completed: dict[str, dict[str, Any]] = {}

    def enter(self, handle: Block, frame: Any) -> None:
        assert handle.name not in self.completed, f"block {handle.name} reached twice"
        record = self.replay.get(handle.name)
        if record is not None:
            handle.replaying, handle.record = True, record
            handle.saved = copy.deepcopy(record["saved"])
            handle.exit, handle.returned = record["exit"], copy.deepcopy(record["returned"])

    def complete(self, handle: Block, frame: Any) -> None:
        def values(keys: tuple[str, ...]) -> dict[str, Any]:
            found = {key: lookup(frame, key) for key in keys}
            return {key: copy.deepcopy(value) for key, value in found.items() if value is not MISSING}

        self.completed[handle.name] = {
            "saved": values(handle.binds),
            "mutated": values(handle.mutates),
            "exit": handle.exit,
            "returned": copy.deepcopy(handle.returned),
        }

    def replayed(self, handle: Block, frame: Any) -> None:
        self.completed[handle.name] = handle.record
        for key, value in handle.record["mutated"].items():
            target = lookup(frame, key)
            if isinstance(target, list):
                target[:] = copy.deepcopy(value)

    def begin_try(self, handle: Block) -> None:
        assert handle.tries == 1, "no body fails in these programs"

    def failed_try(self, handle: Block, error: BaseException, delay: float) -> None:
        raise AssertionError(f"block {handle.name} failed a try: {error!r}")

    def interrupted(self, handle: Block) -> None:
        raise AssertionError("no block is interrupted in these programs")

    def failed(self, handle: Block, error: BaseException) -> None:
        raise AssertionError(f"block {handle.name} failed: {error!r}")

    def call_key(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], where: tuple[str, int]) -> str:
        return name


def _state(namespace: dict[str, Any]) -> dict[str, Any]:
    """What a program leaves behind, comparable across runs (handles by name, classes by contents)."""

    def value(item: Any) -> Any:
        if isinstance(item, (Block, _PlainBlock)):
            return ("block", item.name)
        if isinstance(item, type):
            kept = {k: v for k, v in vars(item).items() if k == "__annotations__" or not k.startswith(("__", "@"))}
            return {k: value(v) for k, v in kept.items()}
        if callable(item):
            return ("function", item.__name__)
        return item

    return {
        name: value(item)
        for name, item in namespace.items()
        if name == "__annotations__" or (not name.startswith(("__", "@")) and name != "block")
    }


def _run(code: CodeType, memory: _MemoryRecorder | None = None) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "__main__", "block": Block}
    recorder.activate(memory)
    try:
        exec(code, namespace)
    finally:
        recorder.activate(None)
    return _state(namespace)


def _code_objects(code: CodeType):
    yield code
    for constant in code.co_consts:
        if isinstance(constant, CodeType):
            yield from _code_objects(constant)


@given(block_programs())
def test_positions_are_in_the_users_file(program: tuple[str, str]) -> None:
    source, _ = program
    compiled = compile_script(source, "generated.py")
    lines = [line.encode() for line in source.splitlines()]
    for code in _code_objects(compiled.code):
        for line, end_line, column, end_column in code.co_positions():
            if line is None or (line == 0 and code is compiled.code):  # module RESUME
                continue
            assert 1 <= line <= (end_line or line) <= len(lines), (code.co_name, line)
            if column is not None and end_line == line:
                assert 0 <= column <= end_column <= len(lines[line - 1]), (code.co_name, line, column, end_column)
    assert compile_script(compiled.text, "generated.py").text == compiled.text


def _spans(tree: ast.AST) -> Counter[tuple[str, int, int, int | None, int | None]]:
    return Counter(
        (type(node).__name__, node.lineno, node.col_offset, node.end_lineno, node.end_col_offset)
        for node in ast.walk(tree)
        if hasattr(node, "lineno") and not (isinstance(node, ast.Name) and node.id.startswith("@"))
    )


@given(block_programs())
def test_every_node_of_the_original_keeps_its_position(program: tuple[str, str]) -> None:
    """Each node of the user's own AST is in the rewritten AST at exactly its own place."""
    _, plain = program  # all `with block(...)`: the original is then plain Python, and its AST the reference
    expanded, shorthand = expand_shorthand(plain)
    module = cst.parse_module(expanded)
    rewritten, insertions = rewrite(module, plan_script(module, expanded, "generated.py", shorthand.lines()))
    tree = mapped_tree(rewritten.code, "generated.py", plain, Layer(insertions), shorthand)
    assert not _spans(ast.parse(plain)) - _spans(tree)


@given(block_programs())
def test_plain_mode_runs_like_the_original(program: tuple[str, str]) -> None:
    source, plain = program
    original: dict[str, Any] = {"__name__": "__main__", "block": _PlainBlock}
    exec(compile(plain, "original.py", "exec", dont_inherit=True), original)
    assert _run(compile_script(source, "generated.py").code) == _state(original)


@given(block_programs(), st.data())
def test_replaying_blocks_gives_the_same_end_state(program: tuple[str, str], data: st.DataObject) -> None:
    source, _ = program
    code = compile_script(source, "generated.py").code
    first = _MemoryRecorder()
    expected = _run(code, first)
    assert _run(code, _MemoryRecorder(first.completed)) == expected
    names = sorted(first.completed)
    some = data.draw(st.lists(st.sampled_from(names), unique=True) if names else st.just([]), label="replayed")
    assert _run(code, _MemoryRecorder({name: first.completed[name] for name in some})) == expected
