"""Reading a script's variables from its frame, for the names a block binds or changes, without
keeping the others alive.

Before Python 3.13 (PEP 667), `frame.f_locals` of a function copies every local into a dict that
the frame keeps until the function returns. Left filled after psflow read a block's names, it
would keep alive whatever the script drops later (an exception and its traceback, a large list,
an open file), which plain Python frees at once. So the copy is emptied after the read, unless the
script itself holds it (its own `locals()`): that one stays as plain Python keeps it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from types import FrameType
from typing import Any

_OPTIMIZED = 0x1  # CO_OPTIMIZED: a function frame, whose locals are not a dict
_LOCALS_COPIED = sys.version_info < (3, 13)  # f_locals: a copy the frame keeps (else a proxy)
# References to a copy nobody else holds, as `scope_values` counts them: the frame's, its own
# variable's and getrefcount's argument.
_UNSHARED = 3
MISSING = object()


def scope_values(frame: FrameType, keys: Iterable[str]) -> dict[str, Any]:
    """The values `keys` have in `frame`'s scope; names unbound there are left out."""
    namespace = frame.f_locals  # a class body's may be its metaclass's mapping: only .get is used
    values: dict[str, Any] = {}
    code = frame.f_code
    if not code.co_flags & _OPTIMIZED:  # a module or a class body: f_locals is the namespace itself
        for key in keys:
            value = namespace.get(key, MISSING)
            if value is not MISSING:
                values[key] = value
        return values
    for key in keys:
        if key in code.co_varnames or key in code.co_cellvars or key in code.co_freevars:
            value = namespace.get(key, MISSING)
        else:  # a name the function declares `global`
            value = frame.f_globals.get(key, MISSING)
        if value is not MISSING:
            values[key] = value
    if _LOCALS_COPIED and sys.getrefcount(namespace) == _UNSHARED:
        namespace.clear()  # refilled by the next locals() or f_locals: psflow keeps nothing alive
    return values


def lookup(frame: FrameType, key: str) -> Any:
    """The value `key` has in `frame`'s scope, or MISSING if unbound there."""
    return scope_values(frame, (key,)).get(key, MISSING)
