"""Tables derived from `data/` (the merged jieba dictionary, the pinyin readers' tables) kept in the
cache folder (`kb.paths.cache_dir`) so that a later process reads them instead of building them.

Each table is one file, `<kind>-<key>.marshal`, holding (key, value): `key` is a digest of what the
table is built from, so a change to the sources names a new file, and a file that does not hold
what its name says is ignored. marshal runs no code when it reads, unlike pickle. A cache that
cannot be read or written is rebuilt or skipped, never an error.
"""

from __future__ import annotations

import logging
import marshal
import os
import tempfile
from pathlib import Path

from kb.paths import cache_dir

# Versions of each kind kept: a test suite or a checkout switch alternates between data folders.
VERSIONS_KEPT = 4
_log = logging.getLogger(__name__)


def _path(kind: str, key: str) -> Path:
    return cache_dir() / f"{kind}-{key}.marshal"


def read(kind: str, key: str) -> object | None:
    """The value stored for `kind` under `key`; None when there is none, or when the file is
    unreadable or holds another key (logged as a warning: the caller rebuilds it)."""
    path = _path(kind, key)
    try:
        stored = marshal.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError, EOFError, TypeError) as e:
        _log.warning("rebuilding the %s table: %s is unreadable (%s)", kind, path, e)
        return None
    match stored:
        case (str() as stored_key, value) if stored_key == key:
            return value
    _log.warning("rebuilding the %s table: %s does not hold the table it is named for", kind, path)
    return None


def write(kind: str, key: str, value: object) -> None:
    """Store value (anything marshal can write: dicts, tuples, str, numbers) atomically, so that a
    reader sees the old file or the new one, and keep the newest VERSIONS_KEPT of its kind."""
    path, temp = _path(kind, key), None
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{kind}-")
        with os.fdopen(fd, "wb") as f:
            f.write(marshal.dumps((key, value)))
        os.replace(temp, path)
        temp = None
        versions = sorted(path.parent.glob(f"{kind}-*.marshal"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in versions[VERSIONS_KEPT:]:
            old.unlink(missing_ok=True)
    except (OSError, ValueError) as e:
        _log.warning("the %s table is not cached in %s: %s", kind, path.parent, e)
    finally:
        if temp is not None:
            Path(temp).unlink(missing_ok=True)
