"""Where posdesk's committed inputs live (the `data/` folder, overridable by POSDESK_DATA) and where
a process may keep files it can rebuild (the cache folder, POSDESK_CACHE)."""

from __future__ import annotations

import os
from pathlib import Path

_REPO_DATA = Path(__file__).resolve().parent.parent / "data"


def data_dir() -> Path:
    """Return the folder holding articles, tickets, dictionaries and the code table."""
    return Path(os.environ.get("POSDESK_DATA") or _REPO_DATA)


def cache_dir() -> Path:
    """Return the folder for files derived from data/ that any process may rebuild (not created
    here): POSDESK_CACHE, else $XDG_CACHE_HOME/posdesk, else ~/.cache/posdesk."""
    if os.environ.get("POSDESK_CACHE"):
        return Path(os.environ["POSDESK_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "posdesk"
