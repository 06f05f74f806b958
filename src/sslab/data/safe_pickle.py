"""A pickle reader that can only rebuild numpy arrays.

Some datasets ship as pickles (CIFAR's python batches, animal-mnist's gzip files). A plain
``pickle.load`` would run whatever a hostile file asks for; this unpickler resolves only the
numpy globals an array needs, so anything else raises ``UnpicklingError`` before it runs.
"""

from __future__ import annotations

import pickle
from typing import Any

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"),
}


class SafeUnpickler(pickle.Unpickler):
    """Unpickler restricted to ``_ALLOWED`` (numpy arrays, dtypes, scalars)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"forbidden global {module}.{name}")
        if module.startswith("numpy") and name in {"_reconstruct", "scalar"}:
            from numpy._core import multiarray

            return getattr(multiarray, name)
        return super().find_class(module, name)
