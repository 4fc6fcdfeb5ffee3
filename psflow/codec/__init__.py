"""Tagged-JSON codec for the values blocks bind.

Values are saved to a database shared between servers and restored on later runs.
Whoever can write that database must not be able to run code through it: decoding
never imports a module and never calls a class; classes and modules are found only
among the modules the script already imported (sys.modules), and objects are rebuilt
from their stored state. Saving reads state as the interpreter stores it (instance
dict, slots), so no user ``__getattribute__``, property or ``__eq__`` runs either.

JSON-native values are stored as themselves so the stored text stays readable;
anything else becomes ``{"$t": tag, "v": payload}``. An object reached twice is
stored in full where it first appears, as ``{"$t": "shared", "v": [n, value]}``,
and as ``{"$t": "ref", "v": n}`` after that, so it comes back as one object.

* `encode` — value to text; `UnsupportedValue` for what cannot be saved or would not come back.
* `decode` — text to value; `ValueError` for anything else.
* `to_display` — text to plain JSON data for people to read, without building the value.
"""

from __future__ import annotations

from psflow.codec.decoding import decode
from psflow.codec.display import to_display
from psflow.codec.encoding import UnsupportedValue, encode
from psflow.codec.tags import TAG

__all__ = ["TAG", "UnsupportedValue", "decode", "encode", "to_display"]
