"""BlockRewriter: before/after pairs of dedented source (libcst codemod-test style)."""

from __future__ import annotations

import re
from textwrap import dedent

import pytest

from psflow.transform import compile_script


def text(source: str) -> str:
    """Dedented, without the newline after the opening quotes: line 1 is the first line written."""
    return dedent(source).removeprefix("\n")


def rewritten(source: str) -> str:
    """The rewritten text, without each `.at()`'s fingerprint argument (tests/transform/test_sites.py has those)."""
    return re.sub(r", '[0-9a-f]{16}'", "", compile_script(text(source), "flow.py").text)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        pytest.param(
            """
            block "Step1":
                rows = run_sql(server)
                print(rows)
            """,
            """
            with block("Step1").at(1, ('rows',), (), given=('server',)) as __psflow_b1, __psflow_b1.body():
                rows = run_sql(server)
                print(rows)
            if __psflow_b1.replaying:
                if 'rows' in __psflow_b1.saved: rows = __psflow_b1.saved['rows']
            del __psflow_b1
            """,
            id="module-shorthand",
        ),
        pytest.param(
            """
            def step(x):
                with block(f"step-{x}"):
                    y = x + 1
                return y
            """,
            """
            def step(x):
                with block(f"step-{x}").at(2, ('y',), ()) as __psflow_b1, __psflow_b1.body():
                    y = x + 1
                if __psflow_b1.replaying:
                    if 'y' in __psflow_b1.saved: y = __psflow_b1.saved['y']
                del __psflow_b1
                return y
            """,
            id="function",
        ),
        pytest.param(
            """
            if ready:
                with block("A"):
                    a = 1
            for i in range(3):
                with block(f"B-{i}"):
                    b = i
            while more():
                with block(name()):
                    c = 3
            """,
            """
            if ready:
                with block("A").at(2, ('a',), ()) as __psflow_b1, __psflow_b1.body():
                    a = 1
                if __psflow_b1.replaying:
                    if 'a' in __psflow_b1.saved: a = __psflow_b1.saved['a']
                del __psflow_b1
            for i in range(3):
                with block(f"B-{i}").at(5, ('b',), (), given=('i',)) as __psflow_b2, __psflow_b2.body():
                    b = i
                if __psflow_b2.replaying:
                    if 'b' in __psflow_b2.saved: b = __psflow_b2.saved['b']
                del __psflow_b2
            while more():
                with block(name()).at(8, ('c',), ()) as __psflow_b3, __psflow_b3.body():
                    c = 3
                if __psflow_b3.replaying:
                    if 'c' in __psflow_b3.saved: c = __psflow_b3.saved['c']
                del __psflow_b3
            """,
            id="if-for-while",
        ),
        pytest.param(
            """
            def f(items):
                for item in items:
                    with block(f"check-{item}"):
                        if item.bad:
                            continue
                        if item.last:
                            break
                        if item.found:
                            return item
                        seen = item
                return None
            """,
            """
            def f(items):
                for item in items:
                    with block(f"check-{item}").at(3, ('seen',), (), given=('item',)) as __psflow_b1, __psflow_b1.body():
                        if item.bad:
                            __psflow_b1.leaving('continue'); continue
                        if item.last:
                            __psflow_b1.leaving('break'); break
                        if item.found:
                            return __psflow_b1.returning(item)
                        seen = item
                    if __psflow_b1.replaying:
                        if 'seen' in __psflow_b1.saved: seen = __psflow_b1.saved['seen']
                        if __psflow_b1.exit == 'return': return __psflow_b1.returned
                        if __psflow_b1.exit == 'break': break
                        if __psflow_b1.exit == 'continue': continue
                    del __psflow_b1
                return None
            """,
            id="return-break-continue",
        ),
        pytest.param(
            """
            def f():
                with block("outer"):
                    with block("inner"):
                        return
            """,
            """
            def f():
                with block("outer").at(2, (), ()) as __psflow_b1, __psflow_b1.body():
                    with block("inner").at(3, (), ()) as __psflow_b2, __psflow_b2.body():
                        return __psflow_b1.returning(__psflow_b2.returning(None))
                    if __psflow_b2.replaying:
                        if __psflow_b2.exit == 'return': return __psflow_b1.returning(__psflow_b2.returned)
                    del __psflow_b2
                if __psflow_b1.replaying:
                    if __psflow_b1.exit == 'return': return __psflow_b1.returned
                del __psflow_b1
            """,
            id="bare-return-nested",
        ),
        pytest.param(
            """
            def f():
                for i in range(3):
                    with block("outer"):
                        for j in range(3):
                            with block("inner"):
                                if j:
                                    break
                                continue
            """,
            """
            def f():
                for i in range(3):
                    with block("outer").at(3, ('j',), ()) as __psflow_b1, __psflow_b1.body():
                        for j in range(3):
                            with block("inner").at(5, (), ()) as __psflow_b2, __psflow_b2.body():
                                if j:
                                    __psflow_b2.leaving('break'); break
                                __psflow_b2.leaving('continue'); continue
                            if __psflow_b2.replaying:
                                if __psflow_b2.exit == 'break': break
                                if __psflow_b2.exit == 'continue': continue
                            del __psflow_b2
                    if __psflow_b1.replaying:
                        if 'j' in __psflow_b1.saved: j = __psflow_b1.saved['j']
                    del __psflow_b1
            """,
            id="nested-loops",
        ),
        pytest.param(
            """
            for i in range(3):
                for j in range(3):
                    pass
                else:
                    with block("in-else"):
                        break
            """,
            """
            for i in range(3):
                for j in range(3):
                    pass
                else:
                    with block("in-else").at(5, (), ()) as __psflow_b1, __psflow_b1.body():
                        __psflow_b1.leaving('break'); break
                    if __psflow_b1.replaying:
                        if __psflow_b1.exit == 'break': break
                    del __psflow_b1
            """,
            id="break-in-else-of-inner-loop",
        ),
        pytest.param(
            """
            for i in range(3):
                with block("around"):
                    for j in range(3):
                        pass
                    else:
                        break
            """,
            """
            for i in range(3):
                with block("around").at(2, ('j',), ()) as __psflow_b1, __psflow_b1.body():
                    for j in range(3):
                        pass
                    else:
                        __psflow_b1.leaving('break'); break
                if __psflow_b1.replaying:
                    if 'j' in __psflow_b1.saved: j = __psflow_b1.saved['j']
                    if __psflow_b1.exit == 'break': break
                del __psflow_b1
            """,
            id="break-in-else-inside-block",
        ),
        pytest.param(
            """
            with block("A"):
                del temp
                del a.b, c[0]
            """,
            """
            with block("A").at(1, ('temp',), ('a', 'c')) as __psflow_b1, __psflow_b1.body():
                del temp
                del a.b, c[0]
            if __psflow_b1.replaying:
                if 'temp' in __psflow_b1.saved: temp = __psflow_b1.saved['temp']
                elif __psflow_b1.bound('temp'): del temp
            del __psflow_b1
            """,
            id="del",
        ),
        pytest.param(
            """
            G = 0
            def f():
                global G
                total = 0
                def g():
                    nonlocal total
                    with block("A"):
                        total += 1
                with block("B"):
                    G = 2
            """,
            """
            G = 0
            def f():
                global G
                total = 0
                def g():
                    nonlocal total
                    with block("A").at(7, ('total',), ()) as __psflow_b1, __psflow_b1.body():
                        total += 1
                    if __psflow_b1.replaying:
                        if 'total' in __psflow_b1.saved: total = __psflow_b1.saved['total']
                    del __psflow_b1
                with block("B").at(9, ('G',), ()) as __psflow_b2, __psflow_b2.body():
                    G = 2
                if __psflow_b2.replaying:
                    if 'G' in __psflow_b2.saved: G = __psflow_b2.saved['G']
                del __psflow_b2
            """,
            id="global-nonlocal",
        ),
        pytest.param(
            """
            with block("A"):
                ys = [y for y in range(3)]
                zs = [(last := z) for z in range(3) if (seen := z)]
                pairs = {k: v for k, v in [(1, 2)]}
                f = lambda n: (m := n)
                flat = [x for row in rows for x in row if (hit := x)]
            """,
            """
            with block("A").at(1, ('ys', 'zs', 'last', 'seen', 'pairs', 'f', 'flat', 'hit'), ()) as __psflow_b1, __psflow_b1.body():
                ys = [y for y in range(3)]
                zs = [(last := z) for z in range(3) if (seen := z)]
                pairs = {k: v for k, v in [(1, 2)]}
                f = lambda n: (m := n)
                flat = [x for row in rows for x in row if (hit := x)]
            if __psflow_b1.replaying:
                if 'ys' in __psflow_b1.saved: ys = __psflow_b1.saved['ys']
                if 'zs' in __psflow_b1.saved: zs = __psflow_b1.saved['zs']
                if 'last' in __psflow_b1.saved: last = __psflow_b1.saved['last']
                if 'seen' in __psflow_b1.saved: seen = __psflow_b1.saved['seen']
                if 'pairs' in __psflow_b1.saved: pairs = __psflow_b1.saved['pairs']
                if 'f' in __psflow_b1.saved: f = __psflow_b1.saved['f']
                if 'flat' in __psflow_b1.saved: flat = __psflow_b1.saved['flat']
                if 'hit' in __psflow_b1.saved: hit = __psflow_b1.saved['hit']
            del __psflow_b1
            """,
            id="comprehensions",
        ),
        pytest.param(
            """
            with block("A"):
                first, *rest = data
                for i, (k, v) in enumerate(pairs):
                    pass
                with open(path) as fh, lock:
                    pass
                try:
                    pass
                except OSError as err:
                    pass
                import os.path
                import a.b.c as abc
                from x import y, z as w
            """,
            """
            with block("A").at(1, ('first', 'rest', 'i', 'k', 'v', 'fh', 'err'), (), given=('data', 'pairs', 'path', 'lock')) as __psflow_b1, __psflow_b1.body():
                first, *rest = data
                for i, (k, v) in enumerate(pairs):
                    pass
                with open(path) as fh, lock:
                    pass
                try:
                    pass
                except OSError as err:
                    pass
                import os.path
                import a.b.c as abc
                from x import y, z as w
            if __psflow_b1.replaying:
                import os.path
                import a.b.c as abc
                from x import y, z as w
                if 'first' in __psflow_b1.saved: first = __psflow_b1.saved['first']
                if 'rest' in __psflow_b1.saved: rest = __psflow_b1.saved['rest']
                if 'i' in __psflow_b1.saved: i = __psflow_b1.saved['i']
                if 'k' in __psflow_b1.saved: k = __psflow_b1.saved['k']
                if 'v' in __psflow_b1.saved: v = __psflow_b1.saved['v']
                if 'fh' in __psflow_b1.saved: fh = __psflow_b1.saved['fh']
                if 'err' in __psflow_b1.saved: err = __psflow_b1.saved['err']
                elif __psflow_b1.bound('err'): del err
            del __psflow_b1
            """,
            id="binding-forms",
        ),
        pytest.param(
            """
            with block("A"):
                import json
                json = wrap(json)
                if fast:
                    import ujson
                os.environ["X"] = "1"
                import os
            """,
            """
            with block("A").at(1, ('json', 'ujson'), ()) as __psflow_b1, __psflow_b1.body():
                import json
                json = wrap(json)
                if fast:
                    import ujson
                os.environ["X"] = "1"
                import os
            if __psflow_b1.replaying:
                import json
                import os
                if 'json' in __psflow_b1.saved: json = __psflow_b1.saved['json']
                if 'ujson' in __psflow_b1.saved: ujson = __psflow_b1.saved['ujson']
            del __psflow_b1
            """,
            id="imports-run-again-and-names-they-alone-bind-are-not-saved",
        ),
        pytest.param(
            """
            class Config:
                block "load":
                    __secret = read()
                    public = 1
            """,
            """
            class Config:
                with block("load").at(2, ('_Config__secret', 'public'), ()) as __psflow_b1, __psflow_b1.body():
                    __secret = read()
                    public = 1
                if __psflow_b1.replaying:
                    if '_Config__secret' in __psflow_b1.saved: __secret = __psflow_b1.saved['_Config__secret']
                    if 'public' in __psflow_b1.saved: public = __psflow_b1.saved['public']
                del __psflow_b1
            """,
            id="class-body",
        ),
        pytest.param(
            """
            with block("A"), open(path) as fh:
                data = fh.read()
            """,
            """
            with block("A").at(1, ('fh', 'data'), (), given=('path',)) as __psflow_b1, __psflow_b1.body(), open(path) as fh:
                data = fh.read()
            if __psflow_b1.replaying:
                if 'fh' in __psflow_b1.saved: fh = __psflow_b1.saved['fh']
                if 'data' in __psflow_b1.saved: data = __psflow_b1.saved['data']
            del __psflow_b1
            """,
            id="block-first-with-item",
        ),
        pytest.param(
            """
            with open(path) as fh, block("A"):
                data = fh.read()
            """,
            """
            with open(path) as fh, block("A").at(1, ('data',), ('fh',)) as __psflow_b1, __psflow_b1.body():
                data = fh.read()
            if __psflow_b1.replaying:
                if 'data' in __psflow_b1.saved: data = __psflow_b1.saved['data']
            del __psflow_b1
            """,
            id="block-later-with-item",
        ),
        pytest.param(
            """
            from psflow import block as step
            with step("A"):
                a = 1
            """,
            """
            from psflow import block as step
            with step("A").at(2, ('a',), ()) as __psflow_b1, __psflow_b1.body():
                a = 1
            if __psflow_b1.replaying:
                if 'a' in __psflow_b1.saved: a = __psflow_b1.saved['a']
            del __psflow_b1
            """,
            id="alias-from-import",
        ),
        pytest.param(
            """
            import psflow as p
            with p.block("A"):
                a = 1
            """,
            """
            import psflow as p
            with p.block("A").at(2, ('a',), ()) as __psflow_b1, __psflow_b1.body():
                a = 1
            if __psflow_b1.replaying:
                if 'a' in __psflow_b1.saved: a = __psflow_b1.saved['a']
            del __psflow_b1
            """,
            id="module-alias",
        ),
        pytest.param(
            """
            from psflow.script import block
            with block("A"):
                a = 1
            """,
            """
            from psflow.script import block
            with block("A").at(2, ('a',), ()) as __psflow_b1, __psflow_b1.body():
                a = 1
            if __psflow_b1.replaying:
                if 'a' in __psflow_b1.saved: a = __psflow_b1.saved['a']
            del __psflow_b1
            """,
            id="psflow-blocks",
        ),
        pytest.param(
            """
            def f(block):
                with block("A"):
                    a = 1
            """,
            """
            def f(block):
                with block("A"):
                    a = 1
            """,
            id="parameter-named-block",
        ),
        pytest.param(
            """
            def block(name):
                return open(name)
            with block("A"):
                a = 1
            """,
            """
            def block(name):
                return open(name)
            with block("A"):
                a = 1
            """,
            id="function-named-block",
        ),
        pytest.param(
            """
            def f():
                with block("A") as b:
                    x = 1
                return b.name, x
            """,
            """
            def f():
                with block("A").at(2, ('x',), ()) as __psflow_b1, __psflow_b1.body() as b:
                    x = 1
                if __psflow_b1.replaying:
                    b = __psflow_b1
                    if 'x' in __psflow_b1.saved: x = __psflow_b1.saved['x']
                del __psflow_b1
                return b.name, x
            """,
            id="as-handle",
        ),
        pytest.param(
            """
            with block("A"):
                print("side effect only")
            """,
            """
            with block("A").at(1, (), ()) as __psflow_b1, __psflow_b1.body():
                print("side effect only")
            del __psflow_b1
            """,
            id="no-trailer",
        ),
        pytest.param(
            """
            class Box:
                def fill(self):
                    with block("fill"):
                        self.__items = []
                        __count = 1
                        self.items.append(__count)
            """,
            """
            class Box:
                def fill(self):
                    with block("fill").at(3, ('_Box__count',), ('self',)) as __psflow_b1, __psflow_b1.body():
                        self.__items = []
                        __count = 1
                        self.items.append(__count)
                    if __psflow_b1.replaying:
                        if '_Box__count' in __psflow_b1.saved: __count = __psflow_b1.saved['_Box__count']
                    del __psflow_b1
            """,
            id="method-mangling",
        ),
        pytest.param(
            """
            with (block("A") as b, open(path) as fh):
                pass
            """,
            """
            with (block("A").at(1, ('fh',), (), given=('path',)) as __psflow_b1, __psflow_b1.body() as b, open(path) as fh):
                pass
            if __psflow_b1.replaying:
                b = __psflow_b1
                if 'fh' in __psflow_b1.saved: fh = __psflow_b1.saved['fh']
            del __psflow_b1
            """,
            id="parenthesized-with-items",
        ),
        pytest.param(
            """
            async def main():
                with block("A"):
                    result = compute()
                await publish(result)
            """,
            """
            async def main():
                with block("A").at(2, ('result',), ()) as __psflow_b1, __psflow_b1.body():
                    result = compute()
                if __psflow_b1.replaying:
                    if 'result' in __psflow_b1.saved: result = __psflow_b1.saved['result']
                del __psflow_b1
                await publish(result)
            """,
            id="async-def",
        ),
        pytest.param(
            """
            with block("A"):
                match command:
                    case ["go", *where]:
                        pass
                    case {"x": x, **others}:
                        pass
                    case Point(x=px) as point:
                        pass
            """,
            """
            with block("A").at(1, ('where', 'others', 'x', 'point', 'px'), ()) as __psflow_b1, __psflow_b1.body():
                match command:
                    case ["go", *where]:
                        pass
                    case {"x": x, **others}:
                        pass
                    case Point(x=px) as point:
                        pass
            if __psflow_b1.replaying:
                if 'where' in __psflow_b1.saved: where = __psflow_b1.saved['where']
                if 'others' in __psflow_b1.saved: others = __psflow_b1.saved['others']
                if 'x' in __psflow_b1.saved: x = __psflow_b1.saved['x']
                if 'point' in __psflow_b1.saved: point = __psflow_b1.saved['point']
                if 'px' in __psflow_b1.saved: px = __psflow_b1.saved['px']
            del __psflow_b1
            """,
            id="match",
        ),
        pytest.param(
            """
            try:
                with block("A"):
                    a = 1
            except ValueError:
                with block("B"):
                    b = 2
            finally:
                with block("C"):
                    c = 3
            """,
            """
            try:
                with block("A").at(2, ('a',), ()) as __psflow_b1, __psflow_b1.body():
                    a = 1
                if __psflow_b1.replaying:
                    if 'a' in __psflow_b1.saved: a = __psflow_b1.saved['a']
                del __psflow_b1
            except ValueError:
                with block("B").at(5, ('b',), ()) as __psflow_b2, __psflow_b2.body():
                    b = 2
                if __psflow_b2.replaying:
                    if 'b' in __psflow_b2.saved: b = __psflow_b2.saved['b']
                del __psflow_b2
            finally:
                with block("C").at(8, ('c',), ()) as __psflow_b3, __psflow_b3.body():
                    c = 3
                if __psflow_b3.replaying:
                    if 'c' in __psflow_b3.saved: c = __psflow_b3.saved['c']
                del __psflow_b3
            """,
            id="try-except-finally",
        ),
        pytest.param(
            """
            @dataclass
            class Settings:
                block "load":
                    host: str = read_host()
                    port: int
                    if secure:
                        cert: str = read_cert()
            for attempt in range(3):
                with block(f"try-{attempt}"):
                    if failed():
                        continue
                    result: dict = fetch()
            def f():
                with block("local"):
                    x: int = 1
            """,
            """
            @dataclass
            class Settings:
                with block("load").at(3, ('host', 'cert'), ()) as __psflow_b1, __psflow_b1.body():
                    host: str = read_host()
                    port: int
                    if secure:
                        cert: str = read_cert()
                if __psflow_b1.replaying:
                    if 'host' in __psflow_b1.saved: host = __psflow_b1.saved['host']
                    if 'cert' in __psflow_b1.saved: cert = __psflow_b1.saved['cert']
                    host: str
                    port: int
                del __psflow_b1
            for attempt in range(3):
                with block(f"try-{attempt}").at(9, ('result',), ()) as __psflow_b2, __psflow_b2.body():
                    if failed():
                        __psflow_b2.leaving('continue'); continue
                    result: dict = fetch()
                if __psflow_b2.replaying:
                    if 'result' in __psflow_b2.saved: result = __psflow_b2.saved['result']
                    if __psflow_b2.exit == 'normal':
                        result: dict
                    if __psflow_b2.exit == 'continue': continue
                del __psflow_b2
            def f():
                with block("local").at(14, ('x',), ()) as __psflow_b3, __psflow_b3.body():
                    x: int = 1
                if __psflow_b3.replaying:
                    if 'x' in __psflow_b3.saved: x = __psflow_b3.saved['x']
                del __psflow_b3
            """,
            id="annotations",
        ),
        pytest.param(
            """
            for item in items:
                with block(f"step-{item}", retries=2, backoff=1):  # flaky
                    if item == 1:
                        continue
                    with block(f"inner-{item}", retries=1):
                        if item == 2:
                            break
                        rows = [item]
            """,
            """
            for item in items:
                with block(f"step-{item}", retries=2, backoff=1).at(2, ('rows',), ()) as __psflow_b1, __psflow_b1.body():  # flaky
                    while __psflow_b1.next_try():
                        with __psflow_b1.trying():
                            if item == 1:
                                __psflow_b1.leaving('continue'); continue
                            with block(f"inner-{item}", retries=1).at(5, ('rows',), ()) as __psflow_b2, __psflow_b2.body():
                                while __psflow_b2.next_try():
                                    with __psflow_b2.trying():
                                        if item == 2:
                                            __psflow_b2.leaving('break'); __psflow_b1.leaving('break'); break
                                        rows = [item]
                                if __psflow_b2.exit == 'break': break
                            if __psflow_b2.replaying:
                                if 'rows' in __psflow_b2.saved: rows = __psflow_b2.saved['rows']
                                if __psflow_b2.exit == 'break': __psflow_b1.leaving('break'); break
                            del __psflow_b2
                    if __psflow_b1.exit == 'break': break
                    if __psflow_b1.exit == 'continue': continue
                if __psflow_b1.replaying:
                    if 'rows' in __psflow_b1.saved: rows = __psflow_b1.saved['rows']
                    if __psflow_b1.exit == 'break': break
                    if __psflow_b1.exit == 'continue': continue
                del __psflow_b1
            """,
            id="retried-blocks-break-and-continue-issued-again",
        ),
    ],
)
def test_rewrite(before: str, after: str) -> None:
    assert rewritten(before) == text(after)


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("x = 1\n", id="plain"),
        pytest.param("", id="empty"),
        pytest.param("# only a comment", id="comment-no-newline"),
        pytest.param("def block(n):\n    return n\nblock(3)\n", id="block-as-function"),
        pytest.param("def f():\n    block = make()\n    with block('A'):\n        x = 1\n", id="local-named-block"),
        pytest.param("for block in blocks:\n    with block('A'):\n        pass\n", id="loop-variable-named-block"),
        pytest.param("from psflow import block\n@block('A')\ndef f():\n    return 1\n", id="decorator"),
        pytest.param("with open(f) as block:\n    pass\n", id="with-target-named-block"),
        pytest.param("x  =  'block'   # spacing kept\r\ny = 2\r\n", id="crlf-and-spacing"),
        pytest.param('s = "\u2028"\x0c\nblock = 1\n', id="odd-line-breaks"),
    ],
)
def test_no_blocks_comes_back_byte_identical(source: str) -> None:
    compiled = compile_script(source, "flow.py")
    assert (compiled.text, compiled.block_count) == (source, 0)


def test_rewritten_text_is_a_fixed_point() -> None:
    """`psflow show` output is plain Python that psflow leaves as it is (and can run)."""
    once = rewritten(
        """
        def f(items):
            for item in items:
                block f"check-{item}" as b:
                    if item:
                        return item
                    seen = item
        """
    )
    assert compile_script(once, "flow.py").text == once
