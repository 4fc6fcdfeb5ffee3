"""Block sites and fingerprints (what `psflow check` lists), and the report the code object carries.

Before/after pairs for the fingerprint argument of `.at()`, then the sites found:
name, line, what each block binds and reads.
"""

from __future__ import annotations

import hashlib
import marshal
from textwrap import dedent

import pytest

from psflow.transform import compile_script, report_of
from psflow.transform.sites import fingerprint


def text(source: str) -> str:
    """Dedented, without the newline after the opening quotes: line 1 is the first line written."""
    return dedent(source).removeprefix("\n")


def sha(block_text: str) -> str:
    """The fingerprint psflow gives a block whose (dedented) text is `block_text`."""
    return hashlib.sha256(text(block_text).encode()).hexdigest()[:16]


def sites(source: str) -> list[tuple]:
    return [(s.name, s.dynamic, s.line, s.binds, s.reads) for s in compile_script(text(source), "flow.py").sites]


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
            with block("Step1").at(1, ('rows',), (), '{STEP1}', given=('server',)) as __psflow_b1, __psflow_b1.body():
                rows = run_sql(server)
            if __psflow_b1.replaying:
                if 'rows' in __psflow_b1.saved: rows = __psflow_b1.saved['rows']
            del __psflow_b1
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
                with block(f"step-{{x}}").at(2, (), ('results',), '{STEP_X}', given=('x',)) as __psflow_b1, __psflow_b1.body():  # a comment is part of it
                    results.append(x)
                del __psflow_b1
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
            "base": base,
            "edited_b": edited_b,
            "commented": commented,
            "crlf": crlf,
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
    assert [(f.name, f.function) for f in compiled.functions] == [("fetch", "fetch"), (None, "other")]
