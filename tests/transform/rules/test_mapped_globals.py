"""Rule mapped_globals: an `@block` function run by `map` that declares a global or nonlocal name is a warning."""

from __future__ import annotations

from rule_support import text

from psflow.transform import check_script


def test_a_mapped_function_that_rebinds_a_global_is_a_warning() -> None:
    result = check_script(
        text(
            """
            total = 0

            @block("Deploy")
            def deploy(host):
                global total
                total += 1

            deploy.map(hosts)
            """
        ),
        "flow.py",
    )
    assert [(d.severity, d.line, d.column, d.fix) for d in result.diagnostics] == [
        ("warning", 4, 5, "return the value instead: map gives the calls' results back in order")
    ]
    assert "'Deploy'" not in result.diagnostics[0].message
    assert "@block function 'deploy' is run by deploy.map" in result.diagnostics[0].message
    assert "declares total global or nonlocal" in result.diagnostics[0].message


def test_no_warning_without_map_or_without_declarations() -> None:
    result = check_script(
        text(
            """
            count = 0

            @block("Once")
            def once():
                global count
                count += 1

            @block("Pure")
            def pure(host):
                def inner():
                    global count
                return host

            once()
            pure.map(hosts)
            """
        ),
        "flow.py",
    )
    assert result.diagnostics == ()
