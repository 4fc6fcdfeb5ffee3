"""Objects through psflow.codec: rebuilt from their state without running their code, shared
objects coming back shared, saving that reads state without running user code, and values that
would not come back the same refused when they are saved."""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import sys
import threading
import types
from typing import Any, NamedTuple

import pytest

from psflow.codec import UnsupportedValue, decode, encode

# ---- objects are rebuilt from their state: no __init__, __post_init__ or __new__ runs ----------


@dataclasses.dataclass
class Scaled:
    value: int
    factor: dataclasses.InitVar[int] = 10

    def __post_init__(self, factor: int) -> None:
        self.value *= factor


@dataclasses.dataclass
class Counted:
    """A non-idempotent __post_init__: running it again on restore changes the value."""

    n: int
    runs = 0

    def __post_init__(self) -> None:
        Counted.runs += 1
        self.n += 1


@dataclasses.dataclass(slots=True)
class Slotted:
    a: int
    b: list[int] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True, slots=True)
class FrozenSlotted:
    a: int
    b: Any = None


class Base:
    __slots__ = ("note",)


@dataclasses.dataclass
class WithBaseSlot(Base):
    a: int


@dataclasses.dataclass(frozen=True)
class Frozen:
    a: int


class Trapped:
    """Records every call a restore must not make."""

    calls: list[str] = []


@dataclasses.dataclass
class Guarded(Trapped):
    a: int

    def __new__(cls, *args: object, **kwargs: object) -> Guarded:
        Trapped.calls.append("new")
        return super().__new__(cls)

    def __init__(self, a: int) -> None:
        Trapped.calls.append("init")
        self.a = a

    def __setattr__(self, name: str, value: object) -> None:
        Trapped.calls.append("setattr")
        object.__setattr__(self, name, value)


class GuardedPair(NamedTuple):
    a: int
    b: int


class GuardedPairSub(GuardedPair):
    __slots__ = ()

    def __new__(cls, *args: object) -> GuardedPairSub:
        Trapped.calls.append("new")
        return super().__new__(cls, *args)


@dataclasses.dataclass
class Cached:
    a: int

    @functools.cached_property
    def double(self) -> int:
        return self.a * 2


@dataclasses.dataclass
class Finalized:
    a: int

    def __del__(self) -> None:
        Trapped.calls.append("del")


@dataclasses.dataclass
class ListBased(list):  # type: ignore[type-arg]
    a: int = 0


class Perm(enum.Flag):
    R = 1
    W = 2
    X = 4

    @classmethod
    def _missing_(cls, value: object) -> Any:
        Trapped.calls.append("missing")
        return super()._missing_(value)


def back(value: object) -> Any:
    return decode(encode(value))


def test_a_dataclass_with_an_initvar_comes_back() -> None:
    restored = back([Scaled(2), Scaled(3, factor=2)])
    assert restored == [Scaled(2), Scaled(3, factor=2)] and [s.value for s in restored] == [20, 6]


def test_post_init_does_not_run_again() -> None:
    Counted.runs = 0
    restored = back(Counted(1))
    assert (restored.n, Counted.runs) == (2, 1)


@pytest.mark.parametrize(
    "value", [Slotted(1, [2]), FrozenSlotted(1, (2, 3)), Frozen(4)], ids=["slots", "frozen slots", "frozen"]
)
def test_slots_and_frozen_dataclasses_come_back(value: object) -> None:
    restored = back(value)
    assert type(restored) is type(value) and restored == value


def test_attributes_that_are_not_fields_are_kept() -> None:
    point = Slotted(1)
    with_note = WithBaseSlot(1)
    with_note.note = "slot of a base class"
    cached = Cached(3)
    assert cached.double == 6
    frozen = Frozen(1)
    object.__setattr__(frozen, "later", [1])
    restored = back([with_note, cached, frozen, point])
    assert restored[0].note == "slot of a base class"
    assert restored[1].__dict__ == {"a": 3, "double": 6}
    assert restored[2].later == [1]
    assert not hasattr(restored[3], "__dict__")


def test_restoring_calls_no_new_init_or_setattr() -> None:
    original = [Guarded(1), GuardedPairSub(1, 2)]
    Trapped.calls.clear()
    restored = back(original)
    assert Trapped.calls == []
    assert (restored[0].a, tuple(restored[1]), type(restored[1])) == (1, (1, 2), GuardedPairSub)


def test_a_composite_flag_is_restored_without_calling_the_class() -> None:
    text = encode([Perm.R | Perm.X, Perm(0)])
    Perm._value2member_map_.pop(5)  # as in a fresh process
    Trapped.calls.clear()
    restored = back(decode(text))
    assert restored == [Perm.R | Perm.X, Perm(0)] and Trapped.calls == []


def test_a_class_with_a_finalizer_is_not_saved() -> None:
    with pytest.raises(UnsupportedValue, match=r"finalizer \(__del__\)") as info:
        encode({"f": Finalized(1)})
    assert info.value.type_name.endswith("Finalized")


def test_a_dataclass_with_a_builtin_base_is_not_saved() -> None:
    with pytest.raises(UnsupportedValue, match="built-in base class would be lost"):
        encode(ListBased([1, 2]))


def test_a_namedtuple_with_other_attributes_is_not_saved() -> None:
    class Loose(GuardedPair):  # no __slots__: instances have a dict
        pass

    Loose.__qualname__ = "Loose"
    globals()["Loose"] = Loose
    try:
        value = Loose(1, 2)
        value.extra = 3  # type: ignore[attr-defined]
        with pytest.raises(UnsupportedValue, match="attributes besides the fields"):
            encode(value)
        assert back(Loose(1, 2)) == (1, 2)
    finally:
        del globals()["Loose"]


# ---- the same object comes back as the same object ---------------------------------------------


def test_names_bound_to_one_list_stay_one_list() -> None:
    x = y = []  # type: ignore[var-annotated]
    restored = back({"x": x, "y": y})
    assert restored["x"] is restored["y"]
    restored["x"].append(1)
    assert restored["y"] == [1]


def test_a_row_used_twice_is_one_row() -> None:
    row = {"id": 1}
    table = [row, row, {"id": 1}]
    restored = back(table)
    assert restored[0] is restored[1] and restored[2] is not restored[0]
    assert restored == table


def test_every_kind_of_mutable_object_keeps_its_sharing() -> None:
    items: list[Any] = [Slotted(1), {"k": 1}, {1, 2}, bytearray(b"x"), [1], Guarded(2)]
    value = {"first": items, "again": tuple(items), "nested": [{"deep": items[::-1]}]}
    restored = back(value)
    for i, item in enumerate(restored["first"]):
        assert item is restored["again"][i] is restored["nested"][0]["deep"][len(items) - 1 - i]


def test_an_object_shared_as_dict_key_and_value() -> None:
    key = Frozen(1)
    restored = back({key: key, "list": [key]})
    [first] = [k for k in restored if isinstance(k, Frozen)]
    assert first is restored[first] is restored["list"][0]


def test_unshared_values_are_stored_as_before() -> None:
    assert encode({"a": [1], "b": [1]}) == '{"a":[1],"b":[1]}'
    assert json.loads(encode([[], []])) == [[], []]
    shared: list[int] = []
    assert json.loads(encode([shared, shared])) == [{"$t": "shared", "v": [0, []]}, {"$t": "ref", "v": 0}]


def test_a_parent_and_child_pointing_at_each_other_are_refused_as_a_cycle() -> None:
    parent = Slotted(1)
    child = {"parent": parent}
    parent.b = [child]  # type: ignore[list-item]
    with pytest.raises(UnsupportedValue, match=r"Slotted field 'b' -> list index 0 -> dict key 'parent': cycle"):
        encode({"tree": parent})


# ---- saving reads state, and runs no user code -------------------------------------------------


@dataclasses.dataclass
class Nosy:
    a: int
    reads = 0

    def __getattribute__(self, name: str) -> Any:
        Nosy.reads += 1
        return object.__getattribute__(self, name)

    def __getattr__(self, name: str) -> Any:
        Nosy.reads += 1
        raise AttributeError(name)

    @property
    def computed(self) -> int:
        Nosy.reads += 1
        return 1


def test_saving_an_object_does_not_call_its_getattribute_or_properties() -> None:
    Nosy.reads = 0
    text = encode([Nosy(1), {"n": Nosy(2)}])
    assert Nosy.reads == 0
    assert [n.a for n in decode(text)[:1]] == [1]  # type: ignore[index]


class LyingMeta(type):
    """A metaclass that claims every attribute, and lies about the class's __dict__ and __mro__."""

    def __getattr__(cls, name: str) -> Any:
        return ("a", "b") if name == "_fields" else {"x": dataclasses.field()}

    @property
    def __dict__(cls) -> Any:  # type: ignore[override]
        return {"__dataclass_fields__": {"x": None}}

    def __hash__(cls) -> int:
        raise RuntimeError("metaclass hash")

    def __eq__(cls, other: object) -> bool:
        raise RuntimeError("metaclass eq")


class Liar(metaclass=LyingMeta):
    pass


class ClassLiar:
    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return dict


class RaisingEq:
    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq")

    def __hash__(self) -> int:
        return 1


@dataclasses.dataclass(eq=False, frozen=True)
class Touchy:
    """Equal to nothing once touchy; every instance hashes alike."""

    a: int
    touchy = True

    def __eq__(self, other: object) -> bool:
        if Touchy.touchy:
            raise RuntimeError("eq")
        return self is other

    def __hash__(self) -> int:
        return 1


def _odd_values() -> dict[str, object]:
    nameless = types.ModuleType("psflow_nameless")
    del nameless.__name__
    return {
        "module without __name__": nameless,
        "module not in sys.modules": types.ModuleType("psflow_not_registered"),
        "metaclass lying about __dict__": Liar(),
        "the lying class itself": Liar,
        "__class__ property": ClassLiar(),
        "__eq__ raises": RaisingEq(),
        "__eq__ raises, as a key": {RaisingEq(): 1},
        "__eq__ raises, in a set": {RaisingEq()},
    }


@pytest.mark.parametrize("value", _odd_values().values(), ids=_odd_values().keys())
def test_an_odd_object_is_unsupported_never_a_crash(value: object) -> None:
    with pytest.raises(UnsupportedValue) as info:
        encode(value)
    assert info.value.type_name and info.value.type_name in str(info.value)


def test_equality_that_raises_is_never_called_while_saving() -> None:
    assert back([Touchy(1), {"k": Touchy(2)}])[1]["k"].a == 2


# ---- a value that would not come back the same is not saved ------------------------------------


@dataclasses.dataclass(unsafe_hash=True)
class Key:
    a: int


REGISTERED: dict[int, int] = {}


@dataclasses.dataclass(frozen=True, eq=False)
class Registered:
    """Hashes by a registry of instances: a copy is not in it."""

    a: int

    def __post_init__(self) -> None:
        REGISTERED[id(self)] = self.a

    def __hash__(self) -> int:
        return REGISTERED[id(self)]


def test_a_set_item_changed_after_it_went_in_is_refused_at_save() -> None:
    first, second = Key(1), Key(2)
    items = {first, second}
    second.a = 1  # the set still holds two items; rebuilt, it would hold one
    with pytest.raises(UnsupportedValue, match="would not come back equal") as info:
        encode({"items": items})
    assert info.value.type_name == "dict"
    assert len(decode(encode(items, check=False))) == 1  # type: ignore[arg-type]  # what check=False would store


def test_a_hash_that_fails_on_the_restored_copy_is_refused_at_save() -> None:
    with pytest.raises(UnsupportedValue, match=r"would not come back: .*KeyError"):
        encode({Registered(1): "one"})


def test_equality_that_raises_when_the_copy_is_rebuilt_is_refused_at_save() -> None:
    Touchy.touchy = False
    both = {Touchy(1), Touchy(2)}
    Touchy.touchy = True
    with pytest.raises(UnsupportedValue, match=r"would not come back: .*RuntimeError: eq"):
        encode(both)


def test_objects_in_sets_that_come_back_equal_are_saved() -> None:
    value = {frozenset({Frozen(1), Frozen(2)}): {Key(3)}, "plain": {Frozen(4)}}
    assert back(value) == value


# ---- decoding reuses its parsers, never what it looked up ----------------------------------------


def test_each_decode_looks_classes_up_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each attempt runs the script in a new `__main__`: a class found by an earlier decode is stale."""
    text = '{"$t":"dataclass","v":["psflow_attempt","Job",{"a":1}]}'
    classes = []
    for _ in range(2):
        module = types.ModuleType("psflow_attempt")
        module.Job = dataclasses.make_dataclass("Job", ["a"])  # type: ignore[attr-defined]
        module.Job.__module__ = "psflow_attempt"  # type: ignore[attr-defined]  # (3.12+ ignores a namespace's)
        monkeypatch.setitem(sys.modules, "psflow_attempt", module)
        restored = decode(text)
        assert type(restored) is module.Job  # type: ignore[attr-defined]
        classes.append(type(restored))
    assert classes[0] is not classes[1]


def test_threads_decoding_at_once_keep_their_own_shared_objects() -> None:
    texts = [encode([[i], Slotted(i)] * 3) for i in range(8)]
    failures: list[str] = []

    def work(i: int) -> None:
        for _ in range(300):
            value = decode(texts[i])
            if not (value[0] is value[2] is value[4] and value[0] == [i] and value[1].a == i):  # type: ignore[index]
                failures.append(f"thread {i}: {value!r}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
