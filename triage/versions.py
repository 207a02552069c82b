"""Where model versions live on disk: every trained model in `MODEL_DIR/versions/<version>/` (model.npz
and model.json), the current one copied into MODEL_DIR itself, where every process watches for it.

Installing a version copies its files crash-safely (temporary file, fsync, rename), the model first
and the sidecar last: a process reloads when the sidecar changes, so it reloads once, onto a
complete model.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from triage.model import MODEL_FILE, SIDECAR_FILE, _write_atomically, model_exists, read_sidecar

VERSIONS = "versions"
TRAINING_PREFIX = ".training-"


class VersionError(ValueError):
    """A version whose files are not on disk (pruned, or never trained here)."""


def versions_dir(model_dir: Path) -> Path:
    """MODEL_DIR/versions."""
    return Path(model_dir) / VERSIONS


def version_dir(model_dir: Path, version: str) -> Path:
    """The folder of one version's files; ValueError for a name that is not a plain folder name."""
    if not version or "/" in version or "\\" in version or version.startswith("."):
        raise VersionError(f"不是有效的模型版本号：{version!r}")
    return versions_dir(model_dir) / version


def has_files(model_dir: Path, version: str) -> bool:
    """True when the version's model and sidecar are on disk."""
    try:
        return model_exists(version_dir(model_dir, version))
    except VersionError:
        return False


def training_dir(model_dir: Path, run: str) -> Path:
    """A fresh folder a training run saves into before its version is known (emptied if left over)."""
    folder = versions_dir(model_dir) / f"{TRAINING_PREFIX}{run}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def keep_trained(model_dir: Path, folder: Path) -> str:
    """Move a training run's folder to versions/<its version>; return the version. VersionError when
    that version's files exist already (the same data trained again within the minute)."""
    version = read_sidecar(folder)["model_version"]
    target = version_dir(model_dir, version)
    if target.exists():
        shutil.rmtree(folder, ignore_errors=True)
        raise VersionError(f"版本 {version} 已存在（同一分钟内用相同数据训练过），未重复登记")
    folder.rename(target)
    return version


def current_version(model_dir: Path) -> str | None:
    """The version of the model in MODEL_DIR, or None when there is none (or its sidecar is unreadable)."""
    try:
        return read_sidecar(model_dir).get("model_version")
    except Exception:  # ModelError, or a sidecar without the key: no current model to speak of
        return None


def archive_current(model_dir: Path) -> str | None:
    """Copy the current model's files into versions/<version>/ unless they are there (a model trained
    before versions were kept); return its version, or None when there is no current model."""
    version = current_version(model_dir)
    if not version or not model_exists(model_dir) or has_files(model_dir, version):
        return version
    target = version_dir(model_dir, version)
    target.mkdir(parents=True, exist_ok=True)
    for name in (MODEL_FILE, SIDECAR_FILE):
        _write_atomically(target / name, (Path(model_dir) / name).read_bytes())
    return version


def install(model_dir: Path, version: str) -> None:
    """Make the version the current model: copy its model, then its sidecar, into MODEL_DIR, each
    written to a temporary name and renamed. VersionError when its files are not on disk."""
    source = version_dir(model_dir, version)
    if not model_exists(source):
        raise VersionError(f"版本 {version} 的模型文件已不在磁盘上，无法发布")
    for name in (MODEL_FILE, SIDECAR_FILE):  # the sidecar last: it is what every process watches
        _write_atomically(Path(model_dir) / name, (source / name).read_bytes())


def remove(model_dir: Path, version: str) -> None:
    """Delete a version's files (its history row stays)."""
    shutil.rmtree(version_dir(model_dir, version), ignore_errors=True)
