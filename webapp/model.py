"""The triage model as the web app holds it: loaded once per process, reloaded when its files
change, and absent (None) until one is trained, in which case tickets wait untriaged (and are
triaged later by `webapp.backlog`, never inside a request)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from flask import Flask, current_app

from triage.model import SIDECAR_FILE, ModelError, Triager, load_model

log = logging.getLogger(__name__)
_EXTENSION = "posdesk.model"
# Models loaded by `preload` in a process that then forks (serve's master), by model folder: the
# forked workers' caches start from them instead of loading the files again.
_preloaded: dict[Path, tuple[tuple[int, int] | None, Triager | None]] = {}


class ModelCache:
    """This process's loaded model, keyed by the modification time of the model's sidecar."""

    def __init__(self, model_dir: Path, loader: Callable[[Path], Triager]) -> None:
        self.model_dir = Path(model_dir)
        self.loader = loader
        self._lock = threading.Lock()
        # (sidecar stamp, model) in one attribute, replaced whole: a thread reading it without the
        # lock never sees the new stamp with no model yet (which filed tickets untriaged while
        # another thread was still loading the model).
        self._current: tuple[tuple[int, int] | None, Triager | None] = _preloaded.get(self.model_dir, (None, None))

    def _current_stamp(self) -> tuple[int, int] | None:
        try:
            stat = (self.model_dir / SIDECAR_FILE).stat()
        except FileNotFoundError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def get(self) -> tuple[Triager | None, bool]:
        """Return (the model or None, whether it was loaded just now)."""
        stamp = self._current_stamp()
        loaded_stamp, triager = self._current
        if stamp == loaded_stamp:
            return triager, False
        with self._lock:  # other threads wait for the model being loaded, never get None meanwhile
            loaded_stamp, triager = self._current
            if stamp == loaded_stamp:
                return triager, False
            if stamp is None:
                self._current = (None, None)
                return None, False
            try:
                triager = self.loader(self.model_dir)
            except ModelError as e:
                log.warning("triage model not loaded: %s", e)
                self._current = (stamp, None)
                return None, False
            self._current = (stamp, triager)
            log.info("triage model %s loaded", triager.version)
            return triager, True


def current_triager() -> Triager | None:
    """Return the current model (one stat() of its sidecar; loaded again when its files changed)."""
    triager, _ = current_app.extensions[_EXTENSION].get()
    return triager


def preload(app: Flask) -> Triager | None:
    """Load the app's model in a process about to fork its workers (`posdesk serve`), so that every
    worker's cache starts from it: the weights are shared copy-on-write instead of loaded once more
    per worker. A worker still loads a newer model itself when the sidecar changes."""
    cache = app.extensions[_EXTENSION]
    triager, _ = cache.get()
    _preloaded[cache.model_dir] = cache._current
    return triager


def init_app(app: Flask) -> None:
    """Give the app its model cache (the loader is `triage.model.load_model` unless configured)."""
    loader = app.config.get("TRIAGER_LOADER") or load_model
    app.extensions[_EXTENSION] = ModelCache(Path(app.config["MODEL_DIR"]), loader)
