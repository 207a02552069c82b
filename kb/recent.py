"""`Recent`: the values a process used most recently, by key, shared between threads (an LRU).

One implementation for the process-local caches of derived data: search's per-build article text,
the rendered public pages, the dashboard's ticket clusters. The values must be safe to share.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Recent(Generic[K, V]):
    """At most `size` values by key; the least recently used is dropped first. Thread-safe: a value
    missing for two threads at once may be made twice, and either is kept."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._values: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K, make: Callable[[], V]) -> V:
        """The value kept for `key`, or `make()` kept and returned."""
        return self.get_many([key], lambda missing: {key: make()})[key]

    def get_many(self, keys: list[K], read: Callable[[list[K]], dict[K, V]]) -> dict[K, V]:
        """{key: value} for `keys`: the kept values, and what `read(missing keys)` returns for the
        rest, in one call (keys it leaves out are left out of the answer too)."""
        found: dict[K, V] = {}
        with self._lock:
            for key in keys:
                if key in self._values:
                    self._values.move_to_end(key)
                    found[key] = self._values[key]
        missing = [key for key in keys if key not in found]
        if missing:
            fresh = read(missing)
            found.update(fresh)
            with self._lock:
                self._values.update(fresh)
                while len(self._values) > self.size:
                    self._values.popitem(last=False)
        return found
