"""Keys of `@block` calls (psflow.keys, psflow.runtime.call_keys): what identifies a call, the same everywhere."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import hashlib
import json
import re
import subprocess
import sys
import threading
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from psflow import codec, keys
from psflow.domain import ExitKind
from psflow.runtime.call_keys import _argument, _Canonical, call_leaf
from psflow.script.block import _arguments
from psflow.store import BlockRecord


@dataclasses.dataclass
class Point:
    x: int
    y: list[int]


def leaf(*args, **kwargs) -> str:
    key, unencodable = call_leaf("Fetch", args, kwargs)
    assert unencodable == []
    return key


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        ((), {}, "Fetch()"),
        ((1,), {}, "Fetch(1)"),
        (("web1",), {}, "Fetch('web1')"),
        ((None, True, -3), {}, "Fetch(None, True, -3)"),
        (("it's",), {"b": 2, "a": "x"}, "Fetch(\"it's\", a='x', b=2)"),  # keywords sorted
    ],
)
def test_a_few_short_literals_are_shown(args, kwargs, expected) -> None:
    assert leaf(*args, **kwargs) == expected


@pytest.mark.parametrize(
    "args",
    [(1.5,), ("x" * 41,), ("tab\there",), ([1],), ({"a": 1},), (b"x",), tuple(range(30)), (Point(1, [2]),)],
)
def test_other_arguments_are_a_digest(args) -> None:
    key = leaf(*args)
    assert key.startswith("Fetch(#") and key.endswith(")") and len(key) == len("Fetch(#)") + 16


def test_arguments_are_bound_to_the_signature_first() -> None:
    def fetch(n, retries=3, *rest, timeout=None, **options): ...

    def key(*args, **kwargs) -> str:
        return call_leaf("Fetch", *_arguments(fetch, [], args, kwargs))[0]

    assert key(1) == key(n=1) == "Fetch(1)"
    assert key(1, retries=3) == key(1, 3) == "Fetch(1, 3)"  # given, not defaulted: part of the key
    assert key(1, timeout=5, b=1, a=2) == key(a=2, n=1, b=1, timeout=5) == "Fetch(1, a=2, b=1, timeout=5)"
    assert _arguments(fetch, [], (), {"wrong": 1}) == ((), {"wrong": 1})  # the call itself will fail


def test_types_tell_calls_apart() -> None:
    assert len({leaf(1), leaf(True), leaf("1"), leaf(1.0), leaf(None), leaf([1]), leaf((1,))}) == 7


def test_order_of_dict_keys_and_set_items_and_sharing_do_not() -> None:
    item = [1]
    assert leaf({"a": 1, "b": 2}) == leaf({"b": 2, "a": 1})
    assert leaf({1: "x", 2: "y"}) == leaf({2: "y", 1: "x"})
    assert leaf({("b", 2), ("a", 1)}) == leaf({("a", 1), ("b", 2)})
    assert leaf({frozenset({"a": 1}.items())}) == leaf({frozenset([("a", 1)])})
    assert leaf([item, item]) == leaf([[1], [1]])
    assert leaf({"a": 1, "b": 2}) != leaf({"a": 2, "b": 1})


def test_an_argument_that_cannot_be_encoded_is_known_by_its_type() -> None:
    first, unencodable = call_leaf("Use", (threading.Lock(), 1), {})
    again, _ = call_leaf("Use", (threading.Lock(), 1), {})
    other, _ = call_leaf("Use", (threading.Lock(), 2), {})
    assert unencodable == ["_thread.lock"]
    assert first == again != other


def test_the_digest_is_the_same_in_another_process() -> None:
    """No hash randomisation, no id(), no set order: a fresh interpreter computes the same key."""
    value = "{'s': {'b', 'a', 'c'}, 'd': dt.date(2026, 1, 2), 'n': decimal.Decimal('1.50'), 'u': uuid.UUID(int=7)}"
    program = (
        "import datetime as dt, decimal, uuid\n"
        "from psflow.runtime.call_keys import call_leaf\n"
        f"print(call_leaf('Fetch', ({value},), {{}})[0])\n"
    )
    keys_seen = {
        subprocess.run(
            [sys.executable, "-c", program],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed},
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert keys_seen == {leaf(eval(value, {"dt": dt, "decimal": decimal, "uuid": uuid}))}


def test_the_digest_is_pinned() -> None:
    """The same on Python 3.11, 3.12 and 3.13 (checked when written). A change to how arguments are
    encoded changes the keys of jobs already running, whose completed calls would then run again."""
    value = {"s": {"b", "a", "c"}, "d": dt.date(2026, 1, 2), "n": decimal.Decimal("1.50"), "u": uuid.UUID(int=7)}
    key, _ = call_leaf("Fetch", (value, [1.5, "é", (1, 2)]), {"k": {3: "x"}})
    assert key == "Fetch(#a0c68edefb31e44f)"


VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=50)
    | st.binary(max_size=10)
    | st.dates(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=5), inner, max_size=4)
        | st.frozensets(st.integers() | st.text(max_size=5), max_size=4)
    ),
    max_leaves=12,
)


@given(VALUES, VALUES)
def test_equal_arguments_give_equal_keys_and_different_ones_different_keys(a, b) -> None:
    """Different arguments never share a key (equal ones of other types, 1 and True, do not either)."""
    assert leaf(a) == leaf(codec.decode(codec.encode(a)))  # the same value, built again
    assert leaf(a) != leaf([a])
    if leaf(a) == leaf(b) or leaf(a, b) == leaf(b, a):
        assert a == b


@given(VALUES)
def test_the_shortcut_for_plain_arguments_writes_what_the_full_walk_writes(value) -> None:
    full = json.dumps(
        _Canonical().walk(json.loads(codec.encode(value))), sort_keys=True, separators=(",", ":"), ensure_ascii=True
    )
    assert _argument(value, []) == full


@given(st.lists(VALUES, max_size=3), st.dictionaries(st.sampled_from("abc"), VALUES, max_size=3))
def test_keys_fit_and_look_like_call_keys(args, kwargs) -> None:
    key, _ = call_leaf("Fetch", tuple(args), kwargs)
    scoped = keys.nth(keys.scoped("A" * 250, key), 99)
    assert len(scoped) <= keys.MAX_NAME_LENGTH
    assert keys.is_call_of(key, "Fetch") and keys.is_call_of(scoped, "Fetch")
    assert keys.block_name_problem(scoped) is not None  # no `with block` can be named so


def test_scopes_and_occurrences() -> None:
    assert keys.scoped(None, "Fetch(1)") == "Fetch(1)"
    assert keys.scoped("A", "Fetch(1)") == "A/Fetch(1)"
    assert keys.nth(keys.scoped("A", "Fetch(1)"), 2) == "A/Fetch(1)#2"
    long = keys.scoped("B" * 240, "Fetch(1)")
    assert long.endswith("/Fetch(1)") and "~" in long and len(long) <= keys.MAX_NAME_LENGTH - 26


def test_timer_keys_are_unchanged() -> None:
    """Jobs waiting in a timer keep its key: `B/sleep`, and a long B shortened as before."""
    assert keys.timer_scope(None) == "sleep"
    assert keys.timer_scope("B") == "B/sleep"
    assert keys.timer_scope("x" * 223) == "x" * 223 + "/sleep"
    digest = hashlib.sha256(b"x" * 224).hexdigest()[:12]
    assert keys.timer_scope("x" * 224) == "x" * 207 + f"~{digest}/sleep"


@pytest.mark.parametrize(
    ("key", "name", "expected"),
    [
        ("Fetch(1)", "Fetch", True),
        ("A/Fetch(1)#2", "Fetch", True),
        ("Fib(3)/Fib(2)", "Fib", True),
        ("Fetch#2", "Fetch", True),  # begun by an earlier psflow
        ("Fetcher(1)", "Fetch", False),
        ("Fetch", "Fetcher", False),
        ("Deploy[web1]", "Deploy", True),
        ("Outer/Deploy[3]#2", "Deploy", True),
    ],
)
def test_is_call_of(key: str, name: str, expected: bool) -> None:
    assert keys.is_call_of(key, name) is expected


@pytest.mark.parametrize(
    ("name", "refused"),
    [
        ("deploy(web1)", True),
        ("x)#2", True),
        ("deploy-web1", False),
        ("a/b", False),
        ("(draft) notes", False),
        ("Deploy[web1]", True),  # a map's call key
        ("Deploy[3]#2", True),
        ("[bold red]loud[/]", False),  # no map key ends in a `/`
        ("list[]", False),
    ],
)
def test_block_names_shaped_like_call_keys_are_refused(name: str, refused: bool) -> None:
    assert (keys.block_name_problem(name) is not None) is refused


@pytest.mark.parametrize(
    ("name", "refused"), [("Fetch", False), ("fetch-web", False), ("a/b", True), ("f(x", True), ("D[x", True)]
)
def test_callable_names_that_would_make_ambiguous_keys_are_refused(name: str, refused: bool) -> None:
    assert (keys.callable_name_problem(name) is not None) is refused
    assert keys.callable_name_problem("F" * (keys.MAX_CALLABLE_NAME + 1)) is not None


def test_map_calls_are_keyed_by_item_when_every_item_can_be_shown() -> None:
    assert keys.map_leaves("Deploy", ["web1", 2], 2) == ["Deploy[web1]", "Deploy[2]"]


@pytest.mark.parametrize(
    "items",
    [
        ["web1", "web1"],  # the same key twice
        ["web1", 1.5],  # not a str or int
        ["a/b", "c"],  # a scope separator
        ["x]#2", "y"],
        [" padded", "y"],
        ["x" * 41, "y"],
        [True, False],  # bool is not int here: True and 1 would meet
    ],
)
def test_map_calls_are_keyed_by_position_when_any_item_cannot(items: list) -> None:
    assert keys.map_leaves("Deploy", items, 2) == ["Deploy[0]", "Deploy[1]"]


def test_map_labels_from_key_must_be_short_distinct_str_or_int() -> None:
    assert keys.map_label_problem(["a", 1]) is None
    assert "items 0 and 2" in (keys.map_label_problem(["a", "b", "a"]) or "")
    assert "item 1" in (keys.map_label_problem(["a", None]) or "")


def _record(fingerprint: str | None, exit_kind: str) -> BlockRecord:
    return BlockRecord(
        "Fetch", "Completed", None, None, exit_kind, "1", None, None, 0.0, 0.0, 1, "h", 1, 1, fingerprint
    )


def test_a_job_is_order_keyed_only_by_a_call_record_under_the_bare_name() -> None:
    assert keys.order_keyed("Fetch", {"Fetch": _record(None, ExitKind.RETURN)})
    assert not keys.order_keyed("Fetch", {"Fetch(1)": _record(None, ExitKind.RETURN)})
    assert not keys.order_keyed("Fetch", {"Fetch": _record("f1", ExitKind.RETURN)})  # a `with block("Fetch")`
    assert not keys.order_keyed("sleep", {"sleep": _record(None, ExitKind.RETURN)})  # a timer


# ---- child jobs: start() and wait_jobs() records, and the ids of the children ---------------


def test_start_and_wait_jobs_records_are_markers_counted_per_block() -> None:
    assert [keys.nth(keys.start_scope(None), n) for n in (1, 2)] == ["job:start", "job:start#2"]
    assert keys.nth(keys.wait_jobs_scope("Deploy"), 3) == "Deploy/job:wait#3"
    assert all(keys.is_marker(key) for key in ("job:start", "B/job:start#2", "job:wait", "B/job:wait#9"))
    assert not any(keys.is_marker(key) for key in ("start", "job", "Deploy/job:started"))


@given(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}", fullmatch=True), st.integers(1, 10_000))
def test_a_child_s_default_id_is_a_valid_job_id_that_follows_from_its_record(parent: str, count: int) -> None:
    top, inside = keys.nth("job:start", count), keys.nth("Deploy/job:start", count)
    ids = {keys.child_id(parent, top), keys.child_id(parent, inside)}

    assert len(ids) == 2 and all(len(child) <= keys.MAX_JOB_ID for child in ids)
    assert all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}", child) for child in ids)
    assert keys.child_id(parent, top) == keys.child_id(parent, top)  # the next attempt finds it again
    if len(parent) < 50:
        assert keys.child_id(parent, top) == f"{parent}.{count}"
