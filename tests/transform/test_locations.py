"""Compiled scripts report the user's file, lines and columns: tracebacks, carets, code objects.

The code runs with psflow.blocks in its plain mode (no recorder: blocks just run),
from a real file, so tracebacks can show the user's line and 3.11's carets.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from textwrap import dedent
from types import CodeType

import pytest

from psflow.errors import BlockNameError
from psflow.script import block, recorder, stop
from psflow.transform import Diagnostic, compile_script
from psflow.transform.locations import Insertion, Layer, located


@pytest.fixture(autouse=True)
def plain_mode() -> None:
    assert recorder.current is None, "these tests run blocks without a recorder"


@pytest.fixture
def script(tmp_path: Path):
    """Write dedented source to flow.py and return (path, compiled)."""

    def write(source: str):
        path = tmp_path / "flow.py"
        path.write_text(dedent(source).removeprefix("\n"), encoding="utf-8")
        return path, compile_script(path.read_text(encoding="utf-8"), str(path))

    return write


def run(path: Path, code: CodeType) -> BaseException:
    """Execute `code` as a script in plain mode; return the exception it must raise."""
    namespace = {"__name__": "__main__", "__file__": str(path), "block": block, "stop": stop}
    with pytest.raises(BaseException) as caught:
        exec(code, namespace)
    return caught.value


def last_frame(error: BaseException) -> traceback.FrameSummary:
    return traceback.extract_tb(error.__traceback__)[-1]


def shown(error: BaseException) -> list[str]:
    """The last frame as the user sees it: location line, source line, caret line (if any)."""
    frames = traceback.format_list([last_frame(error)])
    return frames[0].rstrip("\n").split("\n")


def underlined(caret_line: str) -> tuple[int, int]:
    """(start, width) of the `^`/`~` marks 3.11 prints under a source line (after its 4-space indent)."""
    marks = caret_line.rstrip()
    start = len(marks) - len(marks.lstrip())
    return start - 4, len(marks) - start


def assert_points_at(error: BaseException, path: Path, line: int, segment: str, occurrence: int = 1) -> None:
    """The innermost frame is `path`:`line`, with carets exactly under `segment`."""
    frame = last_frame(error)
    text = path.read_text(encoding="utf-8").splitlines()[line - 1]
    assert (frame.filename, frame.lineno) == (str(path), line)
    start = text.encode().index(segment.encode())
    for _ in range(occurrence - 1):
        start = text.encode().index(segment.encode(), start + 1)
    assert (frame.colno, frame.end_colno) == (start, start + len(segment.encode()))
    location, source, *carets = shown(error)
    assert location == f'  File "{path}", line {line}, in {frame.name}'
    assert source == "    " + text.strip()
    if len(segment) < len(text.strip()):  # 3.11 prints no carets under a whole line
        indent = len(text) - len(text.lstrip())
        column = len(text.encode()[:start].decode())
        assert [underlined(line) for line in carets] == [(column - indent, len(segment))]


def test_inside_a_block(script) -> None:
    path, compiled = script(
        """
        block "Step1":
            rows = [1, 2]
            total = rows[5] + 1
        """
    )
    error = run(path, compiled.code)
    assert isinstance(error, IndexError)
    assert_points_at(error, path, 3, "rows[5]")


def test_outside_and_after_blocks(script) -> None:
    """Lines after blocks move back up past the restore code the rewrite added."""
    path, compiled = script(
        """
        with block("A"):
            a = 1
        block "B":
            b = a + 1
        class C:
            block "C":
                c = 3
        after = {}["missing"]
        """
    )
    error = run(path, compiled.code)
    assert isinstance(error, KeyError)
    assert_points_at(error, path, 8, '{}["missing"]')


@pytest.mark.parametrize("nesting", [1, 2, 3])
def test_inside_a_rewritten_return(script, nesting: int) -> None:
    """`return X` became `return h.returning(X)`: the carets are still under X."""
    headers = "".join(f'{"    " * (level + 1)}block "b{level}":\n' for level in range(nesting))
    source = "def f(x):\n" + headers + "    " * (nesting + 1) + "return x / 0  # the end\nf(1)\n"
    path, compiled = script(source)
    error = run(path, compiled.code)
    assert isinstance(error, ZeroDivisionError)
    assert_points_at(error, path, nesting + 2, "x / 0")
    outer = traceback.extract_tb(error.__traceback__)[-2]
    assert (outer.lineno, outer.colno, outer.end_colno) == (nesting + 3, 0, 4)


def test_return_without_a_blank(script) -> None:
    """`return(X)` is rewritten `return h.returning((X))`: the added blank is not the user's either."""
    path, compiled = script(
        """
        def f(x):
            with block("a"):
                return(x / 0)
        f(1)
        """
    )
    error = run(path, compiled.code)
    assert_points_at(error, path, 3, "x / 0")


def test_inside_a_multiline_return(script) -> None:
    path, compiled = script(
        """
        def f():
            with block("a"):
                return (1,
                        2 / 0)
        f()
        """
    )
    error = run(path, compiled.code)
    assert_points_at(error, path, 4, "2 / 0")


def test_return_on_the_header_line(script) -> None:
    path, compiled = script(
        """
        def f(v):
            block "é": return "é" + v
        f(None)
        """
    )
    error = run(path, compiled.code)
    assert isinstance(error, TypeError)
    assert_points_at(error, path, 2, '"é" + v', occurrence=1)


def test_on_a_shorthand_header(script) -> None:
    path, compiled = script(
        """
        x = 1
        block f"{1/0}":
            pass
        """
    )
    error = run(path, compiled.code)
    assert isinstance(error, ZeroDivisionError)
    assert_points_at(error, path, 2, "1/0")


def test_bad_name_at_runtime_points_at_the_header(script) -> None:
    path, compiled = script(
        """
        block "" if False else 3:
            pass
        """
    )
    error = run(path, compiled.code)
    assert isinstance(error, BlockNameError)
    frame = traceback.extract_tb(error.__traceback__)[-2]  # the user's frame, calling block(...)
    assert (frame.filename, frame.lineno, frame.colno, frame.end_colno) == (str(path), 1, 0, 24)


@pytest.mark.parametrize(
    "header",
    [
        'with block("A"), open(missing) as fh:',
        'block "é" as b, open(missing) as fh:',
        'block "é", open(missing) as fh:',
    ],
)
def test_later_with_item(script, header: str) -> None:
    """Text after the block call on the header (`.at(…) as h, h.body()` was inserted before it)."""
    path, compiled = script(f"missing = '/no/such/file'\n{header}\n    data = fh.read()\n")
    error = run(path, compiled.code)
    assert isinstance(error, FileNotFoundError)
    assert_points_at(error, path, 2, "open(missing)")


def test_break_and_continue_lines(script) -> None:
    path, compiled = script(
        """
        for i in range(3):
            block f"loop-{i}":
                if i == 0: continue
                if i == 1: break
        block "after": x = i + None
        """
    )
    error = run(path, compiled.code)
    assert_points_at(error, path, 5, "i + None")


@pytest.mark.parametrize("indent", [" ", "  ", "\t", "    "], ids=["1-space", "2-spaces", "tab", "4-spaces"])
def test_inside_a_retried_block_at_any_indentation(script, indent: str) -> None:
    """The body of a retried block is printed two levels deeper: columns come back to the user's."""
    source = (
        "for i in range(1):\n"
        f"{indent}with block('Outer', retries=1):\n"
        f"{indent * 2}with block('Inner', retries=1):  # a comment\n"
        f"{indent * 3}rows = [1, 2]\n"
        f"{indent * 3}total = rows[5] + 1\n"
    )
    path, compiled = script(source)
    error = run(path, compiled.code)
    assert isinstance(error, IndexError)
    assert_points_at(error, path, 5, "rows[5]")


@pytest.mark.parametrize(
    "statement, line, segment",
    [
        pytest.param('text = """a\nb""" + str(1 / zero)', 4, "1 / zero", id="after-a-multiline-string"),
        pytest.param("total = (1 +\n  1 / zero)", 4, "1 / zero", id="bracket-continuation-outdented"),
        pytest.param("total = (1 +\n            1 / zero)", 4, "1 / zero", id="bracket-continuation-indented"),
        pytest.param("total = 1 + \\\n              1 / zero", 4, "1 / zero", id="backslash-continuation"),
    ],
)
def test_continuation_lines_of_a_retried_block(script, statement: str, line: int, segment: str) -> None:
    """Lines libcst copies as they are (in a string, after a backslash, outdented in brackets) are not re-indented."""
    path, compiled = script(f"zero = 0\nwith block('A', retries=1):\n    {statement}\n")
    error = run(path, compiled.code)
    assert isinstance(error, ZeroDivisionError)
    assert_points_at(error, path, line, segment)


def test_in_a_called_function(script) -> None:
    path, compiled = script(
        """
        def helper(v):
            with block(f"helper-{v}"):
                w = v * 2
            return w / 0
        block "main":
            r = helper(2)
        """
    )
    error = run(path, compiled.code)
    frames = traceback.extract_tb(error.__traceback__)[-2:]
    assert [(f.lineno, f.colno, f.end_colno) for f in frames] == [(6, 8, 17), (4, 11, 16)]


def test_class_body_block(script) -> None:
    path, compiled = script(
        """
        class Config:
            block "load":
                __secret = 1
                public = __secret + "x"
        """
    )
    error = run(path, compiled.code)
    assert_points_at(error, path, 4, '__secret + "x"')


def test_stop_in_plain_mode_exits_with_3(script) -> None:
    path, compiled = script(
        """
        block "approve":
            stop("Waiting", reason="approval pending")
        """
    )
    error = run(path, compiled.code)
    assert isinstance(error, SystemExit) and error.code == 3
    frame = traceback.extract_tb(error.__traceback__)[-2]  # the user's frame, calling stop(...)
    assert (frame.filename, frame.lineno, frame.colno, frame.end_colno) == (str(path), 2, 4, 46)


def code_objects(code: CodeType):
    yield code
    for constant in code.co_consts:
        if isinstance(constant, CodeType):
            yield from code_objects(constant)


SAMPLE = '''\
"""A sample with every kind of rewrite."""
import os
server = os.environ.get("SQL_SERVER", "db01")

block "Step1":
    rows = [server] * 2
    print(rows)

with block("VerifyApproval") as b:
    approved = len(rows) == 2

def deploy(hosts):
    done = []
    for host in hosts:
        block f"deploy-{host}":
            if host == "skip":
                continue
            if host == "stop":
                break
            if host == "return":
                return done
            done.append(host)
    else:
        with block("in-else"):
            tail = 1
    return done

class Settings:
    block "settings":
        __private = 1
        public = [__private]

    def method(self):
        with block("method"):
            self.value = 2
            return self.value

@staticmethod
def decorated():
    return 1

result = deploy(["a", "skip", "b", "return", "c"])
block "Finish":
    finished = (result,
                Settings().method())
'''


def test_every_line_in_the_code_is_a_line_of_the_file(tmp_path: Path) -> None:
    compiled = compile_script(SAMPLE, "sample.py")
    count = len(SAMPLE.splitlines())
    assert len(compiled.text.splitlines()) > count  # restore code was added
    for code in code_objects(compiled.code):
        lines = {line for _, _, line in code.co_lines() if line is not None}
        allowed = set(range(1, count + 1)) | ({0} if code is compiled.code else set())  # module RESUME: line 0
        assert lines <= allowed, code.co_name


def test_every_position_is_inside_its_line() -> None:
    compiled = compile_script(SAMPLE, "sample.py")
    lines = [line.encode() for line in SAMPLE.splitlines()]
    for code in code_objects(compiled.code):
        for line, end_line, column, end_column in code.co_positions():
            if line is None or line == 0 or column is None:
                continue
            assert 1 <= line <= (end_line or line) <= len(lines)
            assert 0 <= column <= len(lines[line - 1])
            if end_line == line:
                assert column <= end_column <= len(lines[line - 1]), (code.co_name, line, column, end_column)


def test_first_lines_of_functions_and_classes() -> None:
    compiled = compile_script(SAMPLE, "sample.py")
    first = {code.co_name: code.co_firstlineno for code in code_objects(compiled.code)}
    expected = {"deploy": 12, "Settings": 28, "method": 33, "decorated": 38}
    assert {name: first[name] for name in expected} == expected


def test_plain_run_of_the_sample(tmp_path: Path) -> None:
    compiled = compile_script(SAMPLE, "sample.py")
    namespace: dict = {"__name__": "__main__", "block": block}
    exec(compiled.code, namespace)
    assert namespace["result"] == ["a", "b"]
    assert namespace["finished"] == (["a", "b"], 2)
    assert namespace["Settings"].public == [1] and namespace["Settings"]._Settings__private == 1
    assert not [name for name in vars(namespace["Settings"]) if "psflow" in name]  # no handle left in the class


# ---- Layer: what a pass inserted, by line and column of its input ----------------------------------


def test_a_layer_maps_output_columns_back_to_input_columns() -> None:
    # `return x` → `return h.returning(x)`: 12 characters before `x` (input column 7), 1 after it (column 8).
    layer = Layer([Insertion(1, 8, 1), Insertion(1, 7, 12)])
    output = "return h.returning(x)"
    assert layer.undo(1, output) == "return x"
    assert [layer.column(1, column) for column in (0, 6, 7, 12, 19, 20, 21)] == [0, 6, 7, 7, 7, 8, 8]
    assert 1 in layer and 2 not in layer and layer.lines() == frozenset({1})


def test_insertions_at_one_column_are_one_run_in_any_order() -> None:
    one, other = Insertion(1, 4, 3), Insertion(1, 4, 5)
    forward, backward = Layer([one, other]), Layer([other, one])
    text = "abcd" + "-" * 8 + "efg"
    assert forward.undo(1, text) == backward.undo(1, text) == "abcdefg"
    assert [forward.column(1, c) for c in range(15)] == [backward.column(1, c) for c in range(15)]


def test_tentative_insertions_are_kept_only_where_the_line_shows_them() -> None:
    layer = Layer([Insertion(1, 4, 8, tentative=True), Insertion(2, 4, 8, tentative=True), Insertion(2, 9, 2)])
    outputs = {1: " " * 12 + "x = 1", 2: "    y = f" + "__" + "()"}  # line 2 was not re-indented
    users = {1: "    x = 1", 2: "    y = f()"}
    settled = layer.settled(lambda line, with_them: len(with_them.undo(line, outputs[line])) == len(users[line]))
    assert settled.undo(1, outputs[1]) == users[1] and settled.column(1, 12) == 4
    assert settled.undo(2, outputs[2]) == users[2] and settled.column(2, 11) == 9


def test_located_diagnostics_carry_the_users_line_and_shorthand_columns() -> None:
    source = 'block "A" as b:\n    pass\n'
    shorthand = Layer([Insertion(1, 0, 5), Insertion(1, 10, 1), Insertion(1, 9, 1)])  # `with `, `(`, `)`
    far = Diagnostic("error", "flow.py", 9, 3, "unexpected EOF")
    near = Diagnostic("error", "flow.py", 1, 12, "at the name")
    assert [(d.line, d.column, d.source_line) for d in located([near, far], source, shorthand)] == [
        (1, 7, 'block "A" as b:'),
        (2, 9, "    pass"),
    ]
