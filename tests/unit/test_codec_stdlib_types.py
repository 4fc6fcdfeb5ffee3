"""The codec's standard-library value types (psflow.codec.stdlib_types): Counter, OrderedDict,
defaultdict, deque, Fraction and timezone come back equal, of their exact type, shared where
they were; what they cannot hold is refused when saved; a forged payload is a ValueError."""

from __future__ import annotations

import collections
import datetime as dt
import fractions
from typing import Any

import pytest

from psflow.codec import UnsupportedValue, decode, encode, to_display

VALUES = {
    "Counter": collections.Counter("abracadabra"),
    "Counter of ints": collections.Counter([1, 1, 2]),
    "OrderedDict": collections.OrderedDict([("b", 1), ("a", [2])]),
    "defaultdict(list)": collections.defaultdict(list, {"k": [1]}),
    "defaultdict(None)": collections.defaultdict(None, {1: 2}),
    "deque": collections.deque([1, "two", [3]]),
    "deque with maxlen": collections.deque([1, 2], maxlen=3),
    "Fraction": fractions.Fraction(-3, 4),
    "big Fraction": fractions.Fraction(10**700, 3),
    "timezone.utc": dt.UTC,
    "named timezone": dt.timezone(dt.timedelta(hours=-5), "EST"),
    "unnamed timezone": dt.timezone(dt.timedelta(hours=5, minutes=30)),
}


@pytest.mark.parametrize("value", VALUES.values(), ids=VALUES.keys())
def test_round_trip_keeps_value_type_and_repr(value: Any) -> None:
    back = decode(encode(value))
    assert type(back) is type(value) and back == value and repr(back) == repr(value)


def test_defaultdict_keeps_its_factory_and_deque_its_maxlen() -> None:
    made = decode(encode(collections.defaultdict(set)))
    made["new"].add(1)
    assert made == {"new": {1}}
    queue = decode(encode(collections.deque([1, 2, 3], maxlen=3)))
    queue.append(4)
    assert list(queue) == [2, 3, 4]


def test_one_deque_reached_twice_comes_back_as_one() -> None:
    queue = collections.deque([1])
    back = decode(encode({"a": queue, "b": [queue]}))
    assert back["a"] is back["b"][0]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param(collections.defaultdict(lambda: 0), "default_factory is not a built-in type", id="factory"),
        pytest.param(type("MyCounter", (collections.Counter,), {})(), "would lose its type", id="subclass"),
    ],
)
def test_what_cannot_come_back_is_refused(value: Any, message: str) -> None:
    with pytest.raises(UnsupportedValue, match=message):
        encode(value)


def test_a_counter_with_attributes_is_refused() -> None:
    counter: Any = collections.Counter("a")
    counter.note = "kept?"
    with pytest.raises(UnsupportedValue, match="its attributes would be lost"):
        encode(counter)


@pytest.mark.parametrize(
    "text",
    [
        '{"$t":"defaultdict","v":["os.system",{}]}',
        '{"$t":"defaultdict","v":[null]}',
        '{"$t":"deque","v":[[1],"3"]}',
        '{"$t":"fraction","v":[1,0]}',
        '{"$t":"fraction","v":[1.5,2]}',
        '{"$t":"timezone","v":[90000000000]}',
        '{"$t":"counter","v":[1,2]}',
    ],
)
def test_forged_payloads_are_value_errors(text: str) -> None:
    with pytest.raises(ValueError, match="cannot decode"):
        decode(text)


def test_they_show_readably_without_decoding() -> None:
    shown = to_display(encode([collections.Counter("aa"), collections.deque([1]), fractions.Fraction(1, 3), dt.UTC]))
    assert shown == [{"__counter__": {"a": 2}}, {"__deque__": [1]}, "1/3", "UTC"]
