"""array-api-strict: the standard and nothing more, to exercise the standard-only code paths.

It has no fast paths: everything runs on :mod:`._generic`'s implementations, as it would on a
new library before it has any.
"""

from __future__ import annotations

import importlib
from typing import Any, ClassVar

import array_api_compat
import numpy as np

from ..errors import BackendError
from ._library import ArrayLibrary


class StrictLibrary(ArrayLibrary):
    """The array API standard's reference namespace (tests only)."""

    name: ClassVar[str] = "array-api-strict"
    aliases: ClassVar[tuple[str, ...]] = ("array_api_strict", "strict")
    module: ClassVar[str] = "array_api_strict"
    install_hint: ClassVar[str] = "pip install array-api-strict"
    testing_only: ClassVar[bool] = True

    def load(self) -> Any:
        return importlib.import_module("array_api_strict")

    def owns_namespace(self, xp: Any) -> bool:
        return bool(array_api_compat.is_array_api_strict_namespace(xp))

    def owns_array(self, x: Any) -> bool:
        return type(x).__module__.startswith("array_api_strict")

    def to_numpy(self, x: Any) -> Any:
        # Its arrays hide __array__ (array-api-strict >= 2.2), and DLPack export is for the
        # CPU device only; the wrapped NumPy array is there on every device.
        return np.asarray(x._array)

    def device(self, key: str | None) -> Any:
        strict = self.import_library()
        if key is None:
            return strict.asarray(0.0).device
        try:
            return strict.Device(str(key))
        except (ValueError, TypeError) as exc:
            raise BackendError(f"invalid array-api-strict device {key!r}: {exc}") from None

    def device_key(self, device: Any) -> str:
        return str(device._device)  # the name Device() takes; it has no public accessor


LIBRARY: ArrayLibrary = StrictLibrary()
