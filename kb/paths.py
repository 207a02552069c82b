"""Where posdesk's committed inputs live: the `data/` folder, overridable by POSDESK_DATA."""

from __future__ import annotations

import os
from pathlib import Path

_REPO_DATA = Path(__file__).resolve().parent.parent / "data"


def data_dir() -> Path:
    """Return the folder holding articles, tickets, dictionaries and the code table."""
    return Path(os.environ.get("POSDESK_DATA") or _REPO_DATA)
