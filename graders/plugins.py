"""A registry filled by importing every module of a package once: check types and report
formats register themselves with a decorator when their module is imported."""

from __future__ import annotations

import importlib
import pkgutil
import threading
from collections.abc import Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class PluginRegistry(Generic[T]):
    def __init__(self, package: str, path: Iterable[str], skip: Iterable[str] = ()):
        self._package, self._path, self._skip = package, list(path), set(skip)
        self._items: dict[str, T] = {}
        self._scanned = False  # a flag, not emptiness: one module imported first must not stop the scan
        self._lock = threading.Lock()  # gradings in threads (validate -j) may ask at once

    def add(self, name: str, item: T, *, what: str) -> None:
        if name in self._items:
            raise RuntimeError(f"{what} {name!r} registered twice")
        self._items[name] = item

    def all(self) -> dict[str, T]:
        with self._lock:
            if not self._scanned:
                for module in pkgutil.iter_modules(self._path):
                    if not module.name.startswith("_") and module.name not in self._skip:
                        importlib.import_module(f"{self._package}.{module.name}")
                self._scanned = True
        return self._items
