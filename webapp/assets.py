"""Static files under content-hashed names, compressed, with long-lived caching, served by WhiteNoise.

At start-up each source file in `webapp/static` is copied to `<instance>/static-<digest>/` as
`name.<hash>.ext` with gzip (and Brotli, when the brotli package is installed) siblings;
`url_for("static", ...)` then points at the hashed name, which WhiteNoise serves as immutable (a
`max-age` of ten years). The unhashed names still work (with a short max-age) for anything that
links them directly.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from flask import Flask
from whitenoise import WhiteNoise
from whitenoise.compress import Compressor

UNHASHED_MAX_AGE = 300
_MANIFEST = "posdesk.static_manifest"


def _sources(folder: Path) -> dict[str, Path]:
    return {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file()}


def hashed_name(name: str, content: bytes) -> str:
    """ "css/posdesk.css" -> "css/posdesk.<12 hex digits of its SHA-256>.css"."""
    stem, dot, ext = name.rpartition(".")
    digest = hashlib.sha256(content).hexdigest()[:12]
    return f"{stem}.{digest}.{ext}" if dot else f"{name}.{digest}"


def build(source: Path, instance: Path) -> tuple[Path, dict[str, str]]:
    """Write the hashed, compressed copies once per set of sources; return their folder and the
    manifest {name: hashed name}. Built beside and renamed into place, so that workers starting
    together never see a half-written file."""
    files = _sources(source)
    manifest = {name: hashed_name(name, path.read_bytes()) for name, path in files.items()}
    digest = hashlib.sha256(repr(sorted(manifest.items())).encode()).hexdigest()[:12]
    target = instance / f"static-{digest}"
    if not target.is_dir():
        staging = Path(tempfile.mkdtemp(prefix=".static-", dir=instance))
        compressor = Compressor(quiet=True)
        for name, path in files.items():
            copy = staging / manifest[name]
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, copy)
            if compressor.should_compress(copy.name):
                compressor.compress(str(copy))
        try:
            os.rename(staging, target)
        except OSError:  # another worker put the same files in place first
            shutil.rmtree(staging, ignore_errors=True)
    return target, manifest


def _nosniff(headers, path: str, url: str) -> None:
    headers["X-Content-Type-Options"] = "nosniff"


def init_app(app: Flask) -> str:
    """Serve the app's static files through WhiteNoise under hashed names; return the assets' digest
    (part of every public page's ETag)."""
    source = Path(app.static_folder)
    folder, manifest = build(source, Path(app.instance_path))
    hashed = {f"/static/{name}" for name in manifest.values()}
    app.extensions[_MANIFEST] = manifest

    @app.url_defaults
    def _hashed_static_url(endpoint: str, values: dict) -> None:
        if endpoint == "static" and values.get("filename") in manifest:
            values["filename"] = manifest[values["filename"]]

    served = WhiteNoise(
        app.wsgi_app,
        max_age=UNHASHED_MAX_AGE,
        immutable_file_test=lambda path, url: url in hashed,
        add_headers_function=_nosniff,
    )
    served.add_files(str(folder), prefix="static/")
    served.add_files(str(source), prefix="static/")  # the unhashed names too, briefly cached
    app.wsgi_app = served
    return folder.name
