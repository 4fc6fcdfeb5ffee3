"""Property: for any nest of lists, dicts, sets and objects and any changes made to it, the patch
psflow records (through the codec, as stored) turns a copy of the nest as it was into the nest as
it is: what a replay does to the object there now."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from psflow import codec
from psflow.runtime import patches


class Obj:
    """An object of the script's own: changed through its attributes."""

    __hash__ = None  # type: ignore[assignment]

    def __init__(self, **attributes: Any) -> None:
        vars(self).update(attributes)

    def __eq__(self, other: object) -> bool:
        return type(other) is Obj and vars(self) == vars(other)

    def __repr__(self) -> str:
        return f"Obj({vars(self)})"


_leaves = st.integers(-5, 5) | st.text("ab", max_size=2)
_keys = st.sampled_from(["a", "b", "c"])
nests = st.recursive(
    _leaves,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(_keys, inner, max_size=3)
        | st.sets(st.integers(0, 5), max_size=4)
        | st.dictionaries(_keys, inner, max_size=3).map(lambda attributes: Obj(**attributes))
        | st.tuples(inner, inner)
    ),
    max_leaves=12,
)


def _containers(value: Any, found: list[Any]) -> list[Any]:
    """The changeable objects in `value`, in a fixed order (each once)."""
    if any(value is seen for seen in found):
        return found
    if type(value) in (list, dict, set, Obj):
        found.append(value)
    children = {list: lambda v: v, tuple: lambda v: v, dict: dict.values, Obj: lambda v: vars(v).values()}
    for child in children.get(type(value), lambda v: ())(value):
        _containers(child, found)
    return found


def _change(target: Any, how: int, item: Any, key: str) -> None:
    """One change to `target`, chosen by `how` (`item` a value to put in, sometimes in a new list)."""
    value = [item] if how % 4 == 3 else item
    if type(target) is list:
        if how % 4 == 0 and target:
            target.pop()
        elif how % 4 == 1:
            target.insert(0, value)
        elif how % 4 == 2:
            target.reverse()
        else:
            target.append(value)
    elif type(target) is dict:
        if how % 2 and key in target:
            del target[key]
        else:
            target[key] = value
    elif type(target) is set:
        target.symmetric_difference_update({how % 6})
    elif how % 2 and key in vars(target):
        delattr(target, key)
    else:
        setattr(target, key, value)


@given(nests, st.lists(st.tuples(st.integers(0, 99), st.integers(0, 99), _leaves, _keys), max_size=6))
def test_a_recorded_patch_turns_the_old_state_into_the_new(nest: Any, changes: list) -> None:
    root = [nest]  # a list at the top: the nest itself may be a leaf
    before = copy.deepcopy(root)
    images = patches.Images()
    images.take(root)
    targets = _containers(root, [])
    for which, how, item, key in changes:
        _change(targets[which % len(targets)], how, item, key)
    patch = images.patch(root)
    told: list[str] = []
    if patch is not None:
        patches.apply(before, codec.decode(codec.encode(patch)), "root", told.append)
    assert not told
    assert before == root
