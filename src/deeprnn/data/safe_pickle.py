"""A restricted unpickler for the piano-roll pickles: nothing in a data file can run code.

``pickle`` executes whatever callables a file names. The Boulanger-Lewandowski-style pickles only need
numpy's scalar and dtype reconstructors (pitches stored as ``numpy.int64``) and at most a set type, so
``RestrictedUnpickler`` admits exactly those and refuses every other global (``os.system``, ``eval``,
``subprocess.Popen``, ...) before anything is called.
"""

from __future__ import annotations

import io
import pickle

import numpy as np

try:  # numpy >= 2 moved numpy.core to numpy._core; the files name the old module.
    from numpy._core.multiarray import scalar as _numpy_scalar
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import scalar as _numpy_scalar

ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
    ("numpy", "dtype"): np.dtype,
    ("__builtin__", "set"): set,
    ("builtins", "set"): set,
    ("__builtin__", "frozenset"): frozenset,
    ("builtins", "frozenset"): frozenset,
}


class UnsafePickleError(pickle.UnpicklingError, ValueError):
    """A pickle that asks for a global outside the allow-list; nothing from it was executed."""


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refused to load pickle: it asks for {module}.{name}, which is not an allowed data type "
                f"(allowed: {', '.join(m + '.' + n for m, n in ALLOWED_GLOBALS)})"
            ) from None

    def persistent_load(self, pid):
        raise UnsafePickleError("refused to load pickle: it uses persistent ids")


def restricted_loads(data: bytes):
    """Unpickle ``data`` admitting only the allow-listed globals (Python 2 strings decoded as latin-1)."""
    return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()  # safe: allow-list only
