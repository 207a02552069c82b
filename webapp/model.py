"""The triage model as the web app holds it: loaded once per process, reloaded when its files
change, and absent (None) until one is trained, in which case tickets wait untriaged."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from flask import Flask, current_app, request

from triage.model import SIDECAR_FILE, ModelError, Triager, load_model
from triage.tickets import triage_pending
from webapp.db import get_db

log = logging.getLogger(__name__)
_EXTENSION = "posdesk.model"


class ModelCache:
    """This process's loaded model, keyed by the modification time of the model's sidecar."""

    def __init__(self, model_dir: Path, loader: Callable[[Path], Triager]) -> None:
        self.model_dir = Path(model_dir)
        self.loader = loader
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._triager: Triager | None = None

    def _current_stamp(self) -> tuple[int, int] | None:
        try:
            stat = (self.model_dir / SIDECAR_FILE).stat()
        except FileNotFoundError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def get(self) -> tuple[Triager | None, bool]:
        """Return (the model or None, whether it was loaded just now)."""
        stamp = self._current_stamp()
        if stamp == self._stamp:
            return self._triager, False
        with self._lock:
            if stamp == self._stamp:
                return self._triager, False
            self._stamp, self._triager = stamp, None
            if stamp is None:
                return None, False
            try:
                self._triager = self.loader(self.model_dir)
            except ModelError as e:
                log.warning("triage model not loaded: %s", e)
                return None, False
            log.info("triage model %s loaded", self._triager.version)
            return self._triager, True


def current_triager() -> Triager | None:
    """Return the model for this request; when one has just appeared, triage the waiting tickets."""
    triager, fresh = current_app.extensions[_EXTENSION].get()
    if fresh:
        count = triage_pending(get_db(), triager)
        if count:
            log.info("triaged %d pending tickets with model %s", count, triager.version)
    return triager


def _notice_new_model() -> None:
    """Before each request: one stat() of the model's sidecar; a new model triages the waiting tickets."""
    if request.endpoint != "static":
        current_triager()


def init_app(app: Flask) -> None:
    """Give the app its model cache (the loader is `triage.model.load_model` unless configured)."""
    loader = app.config.get("TRIAGER_LOADER") or load_model
    app.extensions[_EXTENSION] = ModelCache(Path(app.config["MODEL_DIR"]), loader)
    app.before_request(_notice_new_model)
