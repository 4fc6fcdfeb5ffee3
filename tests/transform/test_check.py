"""Block sites, fingerprints and the static checks of psflow.transform.check (what `psflow check` reports).

Before/after pairs for the fingerprint argument of `.at()`, then (line, message)
pairs for each error and warning, and what each rule deliberately leaves alone.
"""

from __future__ import annotations

import hashlib
import marshal
from textwrap import dedent

import pytest

from psflow.transform import TransformError, check_script, compile_script, report_of
from psflow.transform.sites import fingerprint


def text(source: str) -> str:
    """Dedented, without the newline after the opening quotes: line 1 is the first line written."""
    return dedent(source).removeprefix("\n")


def sha(block_text: str) -> str:
    """The fingerprint psflow gives a block whose (dedented) text is `block_text`."""
    return hashlib.sha256(text(block_text).encode()).hexdigest()[:16]


def sites(source: str) -> list[tuple]:
    return [
        (s.name, s.dynamic, s.line, s.binds, s.reads) for s in compile_script(text(source), "flow.py").sites
    ]


def found(source: str, severity: str) -> list[tuple[int, str]]:
    """(line, message) of each diagnostic of `severity` that `psflow check` reports for `source`."""
    return [
        (d.line, d.message) for d in check_script(text(source), "flow.py").diagnostics if d.severity == severity
    ]


def errors(source: str) -> list[tuple[int, str]]:
    return found(source, "error")


def warnings(source: str) -> list[tuple[int, str]]:
    return found(source, "warning")


# ---- the fingerprint argument: before/after ---------------------------------------------------

STEP1 = sha('with block("Step1"):\n    rows = run_sql(server)\n')
STEP_X = sha('with block(f"step-{x}"):  # a comment is part of it\n    results.append(x)\n')


@pytest.mark.parametrize(
    ("before", "after"),
    [
        pytest.param(
            """
            block "Step1":
                rows = run_sql(server)
            """,
            f"""
            with block("Step1").at(1, ('rows',), (), '{STEP1}') as __psflow_b1, __psflow_b1.body():
                rows = run_sql(server)
            if __psflow_b1.replaying:
                if 'rows' in __psflow_b1.saved: rows = __psflow_b1.saved['rows']
            """,
            id="shorthand: fingerprint of the expanded text",
        ),
        pytest.param(
            """
            def step(x):
                with block(f"step-{x}"):  # a comment is part of it
                    results.append(x)
            """,
            f"""
            def step(x):
                with block(f"step-{{x}}").at(2, (), ('results',), '{STEP_X}') as __psflow_b1, __psflow_b1.body():  # a comment is part of it
                    results.append(x)
            """,
            id="function: dedented",
        ),
    ],
)
def test_at_gets_the_fingerprint(before: str, after: str) -> None:
    assert compile_script(text(before), "flow.py").text == text(after)


def test_fingerprint_is_the_blocks_own_text_dedented() -> None:
    base = """
        with block("A"):
            a = 1
        with block("B"):
            b = 2
    """
    edited_b = base.replace("b = 2", "b = 3")
    nested = "def f():\n" + "".join("    " + line + "\n" for line in text(base).splitlines())
    commented = base.replace("a = 1", "a = 1  # why")
    crlf = text(base).replace("\n", "\r\n")

    prints = {
        name: [s.fingerprint for s in compile_script(text(source) if name != "crlf" else source, "f.py").sites]
        for name, source in {
            "base": base, "edited_b": edited_b, "commented": commented, "crlf": crlf,
        }.items()
    }
    prints["nested"] = [s.fingerprint for s in compile_script(nested, "f.py").sites]

    a, b = prints["base"]
    assert prints["edited_b"][0] == a and prints["edited_b"][1] != b  # only the edited block changes
    assert prints["nested"] == [a, b]  # indentation does not count
    assert prints["crlf"] == [a, b]  # nor do line endings
    assert prints["commented"][0] != a  # comments do
    assert a == fingerprint(text(base).splitlines(keepends=True), 1, 2) == sha('with block("A"):\n    a = 1\n')


def test_an_outer_blocks_fingerprint_covers_the_blocks_inside_it() -> None:
    source = """
        with block("Outer"):
            with block("Inner"):
                x = 1
    """
    outer, inner = compile_script(text(source), "f.py").sites
    edited_outer, edited_inner = compile_script(text(source).replace("x = 1", "x = 2"), "f.py").sites
    assert outer.fingerprint != edited_outer.fingerprint and inner.fingerprint != edited_inner.fingerprint
    assert (outer.line, outer.end_line, inner.line, inner.end_line) == (1, 3, 2, 3)


# ---- block sites ----------------------------------------------------------------------------


def test_sites_in_source_order_with_names_binds_and_reads() -> None:
    assert sites(
        """
        import os
        server = os.environ.get("SQL_SERVER", "db01")
        block "Step1":
            rows = run_sql(server)
            print(f"{rows} rows")
        for host in hosts:
            with block(f"deploy-{host}"):
                count = count + 1
                done = [h for h in hosts if h != host]
        with block("Con" "cat"), open(path) as fh:
            data = fh.read()
        with block(name=f"plain"):
            key = lambda item: item[weight]
        """
    ) == [
        ("Step1", False, 3, ("rows",), ("run_sql", "server")),
        ('f"deploy-{host}"', True, 7, ("count", "done"), ("host", "count", "hosts")),
        ("Concat", False, 10, ("fh", "data"), ("path",)),
        ("plain", False, 12, ("key",), ("weight",)),
    ]


def test_builtins_and_psflow_names_are_not_reads_unless_the_script_binds_them() -> None:
    [site] = sites(
        """
        len = my_len
        with block("A"):
            n = len(items) + max(items)
            print(job.id)
        """
    )
    assert site[4] == ("len", "items")


def test_no_blocks_no_sites_and_no_report_in_the_code() -> None:
    compiled = compile_script("x = 1\n", "f.py")
    assert compiled.sites == () and report_of(compiled.code).sites == ()


def test_the_report_travels_with_the_code_through_marshal() -> None:
    """The code cache is a marshalled code object: the sites and warnings must survive it."""
    compiled = compile_script(text('for h in hosts:\n    with block("A"):\n        pass\n'), "f.py")
    report = report_of(marshal.loads(marshal.dumps(compiled.code)))
    assert report.sites == compiled.sites and report.warnings == compiled.warnings
    assert [w.line for w in report.warnings] == [2] and report.warnings[0].fix
    namespace: dict = {"hosts": [], "block": None}
    exec(compiled.code, namespace)  # the extra constant changes nothing at run time


def test_callables_are_the_names_of_block_decorated_functions() -> None:
    compiled = compile_script(
        text(
            """
            @block("fetch")
            def fetch(url):
                return url
            @block(name_for(1))
            def other():
                pass
            with block("A"):
                pass
            """
        ),
        "f.py",
    )
    assert compiled.callables == ("fetch", None)


# ---- errors --------------------------------------------------------------------------------


TWICE = "block name 'A' is used twice on one path (first at line {}): when both run in one attempt, the second fails"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param('with block("A"):\n    pass\nwith block("A"):\n    pass\n', [(3, TWICE.format(1))], id="sequence"),
        pytest.param(
            'if x:\n    with block("A"): pass\nwith block("A"): pass\n', [(3, TWICE.format(2))], id="if-then-after"
        ),
        pytest.param(
            'with block("A"):\n    with block("A"): pass\n', [(2, TWICE.format(1))], id="nested"
        ),
        pytest.param(
            'try:\n    with block("A"): pass\nexcept E:\n    with block("A"): pass\n', [(4, TWICE.format(2))],
            id="try-body-and-handler",
        ),
        pytest.param(
            'def f():\n    with block("A"): pass\n    if x:\n        with block("A"): pass\n', [(4, TWICE.format(2))],
            id="in-one-function",
        ),
        pytest.param(
            'block "A":\n    pass\nblock "A":\n    pass\nblock "A":\n    pass\n',
            [(3, TWICE.format(1)), (5, TWICE.format(1))], id="each-repeat-once",
        ),
    ],
)
def test_same_literal_name_twice_on_one_path_is_an_error(source: str, expected: list) -> None:
    assert errors(source) == expected
    with pytest.raises(TransformError) as caught:
        compile_script(source, "flow.py")
    assert [(d.line, d.message) for d in caught.value.diagnostics] == expected
    assert all(d.fix.startswith("give each block its own name") for d in caught.value.diagnostics)


@pytest.mark.parametrize(
    "source",
    [
        pytest.param('if x:\n    with block("A"): pass\nelse:\n    with block("A"): pass\n', id="if-else"),
        pytest.param(
            'if x:\n    with block("A"): pass\nelif y:\n    with block("A"): pass\nelse:\n    with block("A"): pass\n',
            id="if-elif-else",
        ),
        pytest.param(
            'match x:\n    case 1:\n        with block("A"): pass\n    case _:\n        with block("A"): pass\n',
            id="match-cases",
        ),
        pytest.param(
            'try:\n    pass\nexcept E:\n    with block("A"): pass\nexcept F:\n    with block("A"): pass\n'
            'else:\n    with block("A"): pass\n',
            id="handlers-and-else",
        ),
        pytest.param(
            'def f():\n    with block("A"): pass\ndef g():\n    with block("A"): pass\nwith block("A"): pass\n',
            id="different-functions",
        ),
        pytest.param('with block("A"): pass\nwith block("a"): pass\n', id="case-sensitive"),
        pytest.param('with block(f"A-{x}"): pass\nwith block(f"A-{x}"): pass\n', id="dynamic-names"),
    ],
)
def test_exclusive_or_separate_places_may_share_a_name(source: str) -> None:
    assert errors(source) == []
    compile_script(source, "flow.py")


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
        (1, "error", "block name must be a str, not int",
         'name the block with a str: block("Step1"), or block(f"step-{item}") in a loop'),
        (4, "error", "a function defined inside a block cannot be saved", "define it before the block"),
    ]
    assert [site.name for site in result.sites] == ["B"]


def test_syntax_errors_are_reported_not_raised() -> None:
    result = check_script("with block('A'):\nx = 1\n", "flow.py")
    [diagnostic] = result.diagnostics
    assert diagnostic.severity == "error" and diagnostic.message.startswith("syntax error")
    assert diagnostic.fix and result.sites == ()


# ---- warnings: a literal name in a loop -------------------------------------------------------------


def test_literal_name_inside_a_loop_is_a_warning_with_the_loop_variable_in_the_fix() -> None:
    result = check_script(
        text(
            """
            for host in hosts:
                with block("Deploy"):
                    deploy(host)
            while more():
                block "Poll":
                    poll()
            """
        ),
        "flow.py",
    )
    assert [(d.line, d.column, d.message, d.fix) for d in result.diagnostics] == [
        (2, 16, "block name 'Deploy' is the same on every pass of the loop at line 1: "
         "the second pass reaches it again and fails", 'give each pass its own name, e.g. block(f"Deploy-{host}")'),
        (5, 11, "block name 'Poll' is the same on every pass of the loop at line 4: "
         "the second pass reaches it again and fails", 'give each pass its own name, e.g. block(f"Poll-{i}")'),
    ]


@pytest.mark.parametrize(
    "source",
    [
        pytest.param('for h in hosts:\n    with block(f"Deploy-{h}"): pass\n', id="dynamic"),
        pytest.param('for h in hosts:\n    pass\nelse:\n    with block("Done"): pass\n', id="loop-else"),
        pytest.param('for h in hosts:\n    def f():\n        with block("A"): pass\n', id="function-in-loop"),
    ],
)
def test_no_loop_warning(source: str) -> None:
    assert warnings(source) == []


# ---- warnings: outer objects a block changes but psflow cannot save ---------------------------------------


def _changes(name: str, what: str, line: int, block: str = "'A'") -> str:
    return (
        f"block {block} changes `{name}` in place, but `{name}` ({what} at line {line}) is not a list, dict, set, "
        f"bytearray or dataclass: psflow cannot save the change, and a replay leaves `{name}` as it was before the block"
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param('log = open("run.log", "a")\nwith block("A"):\n    log.write("x")\n', [(2, _changes("log", "open()", 1))], id="open"),
        pytest.param(
            'import socket as so\ns = so.socket()\nwith block("A"):\n    s.connect(addr)\n',
            [(3, _changes("s", "socket.socket()", 2))], id="socket-alias",
        ),
        pytest.param(
            'from sqlite3 import connect\ndb = connect("x")\nwith block("A"):\n    db.execute("q")\n',
            [(3, _changes("db", "sqlite3.connect()", 2))], id="from-import",
        ),
        pytest.param('f = lambda: 1\nwith block("A"):\n    f.calls = 1\n', [(2, _changes("f", "a lambda", 1))], id="lambda"),
        pytest.param(
            'with open(p) as fh:\n    with block("A"):\n        fh.seek(0)\n', [(2, _changes("fh", "open()", 1))],
            id="with-as",
        ),
        pytest.param(
            'def f():\n    cur = conn.cursor()\n    with block("A"):\n        cur.execute("q")\n',
            [(3, _changes("cur", "conn.cursor()", 2))], id="method-in-function",
        ),
        pytest.param(
            'db = pool[0].cursor()\nwith block("A"):\n    db.execute("q")\n', [(2, _changes("db", "cursor()", 1))],
            id="method-of-no-name",
        ),
        pytest.param(
            'fh = open(p)\nwith block("A"):\n    with block("B"):\n        fh.write("x")\n',
            [(2, _changes("fh", "open()", 1))], id="nested-reported-once",
        ),
    ],
)
def test_changing_an_unsaveable_outer_object_is_a_warning(source: str, expected: list) -> None:
    assert warnings(source) == expected


@pytest.mark.parametrize(
    "source",
    [
        pytest.param('results = []\nwith block("A"):\n    results.append(1)\n', id="list"),
        pytest.param('config = load()\nwith block("A"):\n    config["k"] = 1\n', id="unknown-call"),
        pytest.param('def f(conn):\n    with block("A"):\n        conn.execute("q")\n', id="parameter"),
        pytest.param('with block("A"):\n    fh = open(p)\n    fh.write("x")\n', id="bound-in-the-block"),
        pytest.param('log = logging.getLogger()\nwith block("A"):\n    log.info("x")\n', id="logger"),
    ],
)
def test_no_mutation_warning(source: str) -> None:
    assert warnings(source) == []


# ---- warnings: attempt-dependent values that decide which blocks run ------------------------------


DECIDES = "this {} test uses {}, which differs on every attempt, and decides which blocks run: a resumed job may take another path"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param(
            'import random\npick = random.choice(xs)\nif pick:\n    with block("A"): pass\n',
            [(3, DECIDES.format("if", "`pick` (from random.choice() at line 2)"))], id="random-module",
        ),
        pytest.param(
            'from random import randint as r\nn = r(1, 6)\nbig = n > 3\nif big:\n    with block("A"): pass\n',
            [(4, DECIDES.format("if", "`big` (from random.randint() at line 2)"))], id="from-import-and-derived",
        ),
        pytest.param(
            'from datetime import datetime\nnow = datetime.now()\nwhile now.hour < 6:\n    with block(f"p{x}"): pass\n',
            [(3, DECIDES.format("while", "`now` (from datetime.datetime.now() at line 2)"))], id="datetime-now",
        ),
        pytest.param(
            'import datetime as dt\nif dt.date.today().day == 1:\n    with block("A"): pass\n',
            [(2, DECIDES.format("if", "datetime.date.today()"))], id="direct-call-in-test",
        ),
        pytest.param(
            'import time\nt = time.time()\ndef go():\n    with block("A"): pass\nif t % 2:\n    go()\n',
            [(5, DECIDES.format("if", "`t` (from time.time() at line 2)"))], id="calls-a-function-with-blocks",
        ),
        pytest.param(
            'import time\nt = time.time()\ndef f():\n    if t:\n        with block("A"): pass\n',
            [(4, DECIDES.format("if", "`t` (from time.time() at line 2)"))], id="global-read-in-function",
        ),
        pytest.param(
            'import random\nif x:\n    pass\nelif random.random() < .5:\n    with block("A"): pass\n',
            [(4, DECIDES.format("if", "random.random()"))], id="elif",
        ),
    ],
)
def test_attempt_dependent_value_deciding_which_blocks_run_is_a_warning(source: str, expected: list) -> None:
    assert warnings(source) == expected


def test_attempt_dependent_block_name_is_a_warning() -> None:
    assert warnings('import uuid\nrun_id = uuid.uuid4()\nwith block(f"load-{run_id}"):\n    pass\n') == [
        (3, 'block name f"load-{run_id}" uses `run_id` (from uuid.uuid4() at line 2), which differs on every '
            "attempt: a resumed job will not find the block it completed, and runs it again"),
    ]


@pytest.mark.parametrize(
    "source",
    [
        pytest.param('import random\nwith block("Pick"):\n    pick = random.choice(xs)\nif pick:\n    with block("A"): pass\n', id="saved-in-a-block"),
        pytest.param('import random\npick = random.choice(xs)\nif pick:\n    print("no blocks here")\n', id="no-block-decided"),
        pytest.param('import time\nstart = time.time()\nif time.time() - start > 5:\n    stop("Waiting")\nwith block("A"): pass\n', id="stop-is-not-a-block"),
        pytest.param('import random\nrandom.seed(1)\nx = random.Random(1)\nif x:\n    with block("A"): pass\n', id="seeded-generator"),
        pytest.param('with block("A"):\n    import random\n    if random.random():\n        with block("B"): pass\n', id="test-inside-a-block"),
    ],
)
def test_no_attempt_dependence_warning(source: str) -> None:
    assert warnings(source) == []


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
    assert [(w.line, w.column, w.severity) for w in compiled.warnings] == [(4, 16, "warning"), (4, 16, "warning"), (6, 4, "warning")]
    assert compiled.block_count == 2
