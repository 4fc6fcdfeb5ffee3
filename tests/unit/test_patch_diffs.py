"""psflow.runtime.patches: an object imaged, changed, and the patch (through the codec, as stored)
applied to a copy of the object as it was: the copy must end as the object did."""

from __future__ import annotations

import array
import collections
import copy
from typing import Any

import pytest

from psflow import codec
from psflow.runtime import patches


def _patched_copy(before: Any, change) -> tuple[Any, Any, list[str]]:
    """(the object after `change`, a copy of it from before with the stored patch applied, warnings)."""
    obj = before
    twin = copy.deepcopy(before)
    images = patches.Images()
    images.take(obj)
    change(obj)
    patch = images.patch(obj)
    told: list[str] = []
    if patch is not None:
        patches.apply(twin, codec.decode(codec.encode(patch)), "x", told.append)
    return obj, twin, told


class Plain:
    __hash__ = None  # type: ignore[assignment]

    def __init__(self) -> None:
        self.a, self.items = 1, [1]

    def __eq__(self, other: object) -> bool:
        return type(other) is Plain and vars(self) == vars(other)


class Slotted:
    __slots__ = ("a", "b")
    __hash__ = None  # type: ignore[assignment]

    def __eq__(self, other: object) -> bool:
        return type(other) is Slotted and [getattr(self, s, None) for s in self.__slots__] == [
            getattr(other, s, None) for s in other.__slots__
        ]


def _slotted() -> Slotted:
    value = Slotted()
    value.a = 1
    return value


@pytest.mark.parametrize(
    ("before", "change"),
    [
        pytest.param([1, 2], lambda x: x.extend([3, 4]), id="list appended"),
        pytest.param([1, 2, 3], lambda x: x.pop(), id="list popped at the end"),
        pytest.param([3, 1, 2], lambda x: x.sort(), id="list reordered"),
        pytest.param([1, 2, 3], lambda x: x.insert(0, 9), id="list inserted at the front"),
        pytest.param([[1], [2]], lambda x: x[1].append(3), id="list item changed inside"),
        pytest.param({"a": 1, "b": 2}, lambda x: x.update(b=3, c=4), id="dict set"),
        pytest.param({"a": 1, "b": 2}, lambda x: x.pop("a"), id="dict key deleted"),
        pytest.param({"a": 1, "b": 2}, lambda x: x.update(a=x.pop("a")), id="dict key moved to the end"),
        pytest.param({(1, 2): {"k": []}}, lambda x: x[(1, 2)]["k"].append(1), id="dict nested under a tuple key"),
        pytest.param({1, 2}, lambda x: (x.add(3), x.discard(1)), id="set"),
        pytest.param(bytearray(b"ab"), lambda x: x.extend(b"cd"), id="bytearray"),
        pytest.param(([], "fixed"), lambda x: x[0].append(1), id="a list inside a tuple"),
        pytest.param(Plain(), lambda x: (setattr(x, "b", 2), delattr(x, "a")), id="attributes"),
        pytest.param(Plain(), lambda x: x.items.append(2), id="an attribute's list"),
        pytest.param(_slotted(), lambda x: (setattr(x, "b", 2), delattr(x, "a")), id="slots"),
    ],
)
def test_a_patch_redone_on_a_copy_gives_what_the_change_gave(before: Any, change) -> None:
    after, twin, told = _patched_copy(before, change)
    assert twin == after and not told


def test_nothing_changed_is_no_patch() -> None:
    value = {"rows": [1, 2], "n": 3}
    images = patches.Images()
    images.take(value)
    assert images.patch(value) is None


def test_a_class_attribute_is_set_on_the_class() -> None:
    class Config:
        debug = False

    images = patches.Images()
    images.take(Config)
    Config.debug = True
    patch = images.patch(Config)
    Config.debug = False
    patches.apply(Config, codec.decode(codec.encode(patch)), "Config", print)
    assert Config.debug is True


def test_a_patch_for_another_kind_of_object_is_told_and_not_applied() -> None:
    images = patches.Images()
    value: list[int] = []
    images.take(value)
    value.append(1)
    patch = codec.decode(codec.encode(images.patch(value)))
    told: list[str] = []
    target = {"k": 1}
    patches.apply(target, patch, "'rows'", told.append)
    assert target == {"k": 1}
    assert told == ["cannot redo the changes to 'rows': it was a list when the block ran, not now"]


def test_an_object_graph_over_the_limit_is_refused_when_imaged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(patches, "LIMIT", 10)
    with pytest.raises(patches.TooLarge):
        patches.Images().take([[i] for i in range(20)])


def test_imaging_a_deep_structure_does_not_recurse() -> None:
    deep: list[Any] = []
    for _ in range(10_000):
        deep = [deep]
    patches.Images().take(deep)  # iterative: no RecursionError


def test_imaging_runs_no_code_of_the_object_s_class() -> None:
    class Watchful(list):
        def __iter__(self):
            raise AssertionError("__iter__ ran")

        def copy(self):
            raise AssertionError("copy ran")

    class Guarded:
        def __getattribute__(self, name: str) -> Any:
            raise AssertionError("__getattribute__ ran")

    value = Watchful([1])
    images = patches.Images()
    images.take(value)
    images.take(Guarded())
    list.append(value, 2)
    assert images.patch(value) == {"kind": "list", "extend": [2]}


def test_a_bound_object_is_found_where_it_is_and_resolved_there_later() -> None:
    inner, row = [1], Plain()
    roots = {"tree": {"k": ("fixed", inner)}, "rows": [row]}
    bound = {"x": inner, "r": row, "n": 5, "new": []}
    images = patches.Images()
    images.take(roots)  # as the block began: `new` was made in it
    places = patches.references(images, roots, bound)
    assert places == {"x": ["tree", "k", 1], "r": ["rows", 0]}  # not the int, not an object from nowhere
    stored = codec.decode(codec.encode(places))
    assert patches.resolve(roots, stored["x"]) is inner and patches.resolve(roots, stored["r"]) is row
    with pytest.raises(LookupError):
        patches.resolve({"tree": {}}, stored["x"])
    with pytest.raises(LookupError):
        patches.resolve({"tree": {"k": {1, 2}}}, stored["x"])


@pytest.mark.parametrize(
    ("before", "change"),
    [
        pytest.param(collections.deque([1, 2]), lambda x: x.append(3), id="deque appended"),
        pytest.param(collections.deque([1, 2, 3]), lambda x: x.appendleft(0), id="deque appended at the left"),
        pytest.param(collections.deque([[1], 2]), lambda x: x[0].append(5), id="deque item changed inside"),
        pytest.param(array.array("i", [1, 2]), lambda x: x.extend([3]), id="array"),
    ],
)
def test_queues_and_arrays_are_patched_too(before: Any, change) -> None:
    after, twin, told = _patched_copy(before, change)
    assert twin == after and not told
