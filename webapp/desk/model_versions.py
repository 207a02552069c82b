"""The triage model's history on the desk: every trained version with its status (candidate, current,
refused, retired), its evaluation beside the model it was compared with, and who promoted it; and
the training runs, queued and worked one at a time, with the progress a browser polls.

Each status change is one transaction: the version that becomes current retires the one before.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from sqlalchemy import insert, select, update

from webapp.desk.schema import model_versions, training_runs
from webapp.desk.storage import Desk, now

STATUSES = ("candidate", "current", "refused", "retired")
STATUS_LABELS = {"candidate": "候选", "current": "当前", "refused": "未通过", "retired": "已停用"}
RUN_STATUSES = ("queued", "running", "done", "failed")
ACTIVE = ("queued", "running")
REASON_MAX_CHARS = 2000
_LOCK = "posdesk.training"


class VersionStateError(ValueError):
    """A status change that cannot be made (an unknown version, one already current); the message is for people."""


class RunBusy(RuntimeError):
    """A training run is already queued or running; the message is for people."""


@dataclass(frozen=True)
class ModelVersion:
    """One trained model: `metrics` is the comparison stored with it (see triage.promotion.compare)."""

    version: str
    created: str
    trained_by: str
    status: str
    metrics: dict
    reason: str | None
    promoted_by: str | None
    promoted_at: str | None

    @property
    def status_label(self) -> str:
        """The status as the desk shows it."""
        return STATUS_LABELS.get(self.status, self.status)


@dataclass(frozen=True)
class TrainingRun:
    """One retraining job: status queued, running, done or failed; progress in percent (0-100)."""

    id: int
    requested_by: str
    requested_at: str
    started: str | None
    finished: str | None
    status: str
    stage: str | None
    progress: int
    version: str | None
    error: str | None

    @property
    def active(self) -> bool:
        """True while queued or running."""
        return self.status in ACTIVE

    def as_json(self) -> dict:
        """The run as the progress endpoint answers it."""
        return {
            "id": self.id,
            "status": self.status,
            "stage": self.stage,
            "progress": self.progress,
            "version": self.version,
            "error": self.error,
            "requested_by": self.requested_by,
            "requested_at": self.requested_at,
            "finished": self.finished,
        }


def _version(row) -> ModelVersion:
    try:
        metrics = json.loads(row.metrics) if row.metrics else {}
    except ValueError:
        metrics = {}
    return ModelVersion(
        row.version, row.created, row.trained_by, row.status, metrics, row.reason, row.promoted_by, row.promoted_at
    )


def _run(row) -> TrainingRun:
    return TrainingRun(
        row.id,
        row.requested_by,
        row.requested_at,
        row.started,
        row.finished,
        row.status,
        row.stage,
        row.progress,
        row.version,
        row.error,
    )


# --- versions --------------------------------------------------------------------------------------


def list_versions(desk: Desk) -> list[ModelVersion]:
    """Every version, newest first."""
    with desk.read() as conn:
        rows = conn.execute(select(model_versions).order_by(model_versions.c.created.desc())).all()
    return [_version(r) for r in rows]


def get_version(desk: Desk, version: str) -> ModelVersion | None:
    """One version, or None."""
    with desk.read() as conn:
        row = conn.execute(select(model_versions).where(model_versions.c.version == version)).first()
    return _version(row) if row else None


def current_version(desk: Desk) -> ModelVersion | None:
    """The version the desk records as current, or None."""
    with desk.read() as conn:
        row = conn.execute(select(model_versions).where(model_versions.c.status == "current")).first()
    return _version(row) if row else None


def _make_current(conn, version: str, by: str, at: str, reason: str | None) -> None:
    conn.execute(
        update(model_versions)
        .where(model_versions.c.status == "current", model_versions.c.version != version)
        .values(status="retired")
    )
    values = {"status": "current", "promoted_by": by, "promoted_at": at}
    if reason is not None:
        values["reason"] = reason[:REASON_MAX_CHARS]
    conn.execute(update(model_versions).where(model_versions.c.version == version).values(**values))


def record_version(
    desk: Desk, version: str, trained_by: str, metrics: dict, promote: bool, reason: str, created: str | None = None
) -> ModelVersion:
    """Record a trained version: current (promoted by `trained_by`; the current one before it
    retires) or refused with the reason. VersionStateError when the version is recorded already."""
    at = now()
    with desk.write() as conn:
        desk.serialise(conn, _LOCK)
        if conn.execute(select(model_versions.c.version).where(model_versions.c.version == version)).first():
            raise VersionStateError(f"版本 {version} 已有记录")
        conn.execute(
            insert(model_versions).values(
                version=version,
                created=created or at,
                trained_by=trained_by,
                status="candidate",
                metrics=json.dumps(metrics, ensure_ascii=False, sort_keys=True),
                reason=reason[:REASON_MAX_CHARS],
            )
        )
        if promote:
            _make_current(conn, version, trained_by, at, None)
        else:
            conn.execute(update(model_versions).where(model_versions.c.version == version).values(status="refused"))
    return get_version(desk, version)


def adopt_current(desk: Desk, version: str, created: str | None) -> None:
    """Record the model found in MODEL_DIR as current when the desk does not know it (one trained before
    versions were recorded); nothing when it is recorded already."""
    with desk.write() as conn:
        desk.serialise(conn, _LOCK)
        if conn.execute(select(model_versions.c.version).where(model_versions.c.version == version)).first():
            return
        conn.execute(update(model_versions).where(model_versions.c.status == "current").values(status="retired"))
        conn.execute(
            insert(model_versions).values(
                version=version,
                created=created or now(),
                trained_by="unknown",
                status="current",
                metrics=None,
                reason="版本记录之前训练的模型",
            )
        )


def promote(desk: Desk, version: str, by: str, reason: str | None = None) -> ModelVersion:
    """Make a recorded version current (a refused candidate promoted anyway, or a rollback); the one
    before retires. `reason` replaces the stored reason when given. VersionStateError when the version
    is unknown or current already."""
    with desk.write() as conn:
        desk.serialise(conn, _LOCK)
        row = conn.execute(select(model_versions).where(model_versions.c.version == version)).first()
        if row is None:
            raise VersionStateError(f"没有版本 {version}")
        if row.status == "current":
            raise VersionStateError(f"版本 {version} 已是当前模型")
        _make_current(conn, version, by, now(), reason)
    return get_version(desk, version)


def refused_beyond(desk: Desk, keep: int) -> list[str]:
    """Refused versions older than the newest `keep` refused ones (whose files may be deleted)."""
    with desk.read() as conn:
        rows = conn.execute(
            select(model_versions.c.version)
            .where(model_versions.c.status == "refused")
            .order_by(model_versions.c.created.desc(), model_versions.c.version.desc())
        ).scalars()
        return list(rows)[max(0, keep) :]


# --- training runs ---------------------------------------------------------------------------------


def request_run(desk: Desk, requested_by: str, stale_minutes: float) -> TrainingRun:
    """Queue a training run. A run still queued or running for more than `stale_minutes` is marked
    failed first (its process ended without saying so); RunBusy when another one is under way."""
    at = now()
    stale = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=stale_minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with desk.write() as conn:
        desk.serialise(conn, _LOCK)
        conn.execute(
            update(training_runs)
            .where(training_runs.c.status.in_(ACTIVE), training_runs.c.requested_at < stale)
            .values(status="failed", finished=at, error="超时未完成（训练进程可能已退出）")
        )
        busy = conn.execute(select(training_runs).where(training_runs.c.status.in_(ACTIVE))).first()
        if busy:
            raise RunBusy(f"已有一次训练正在进行（{busy.requested_by} 于 {busy.requested_at} 发起），请等它完成后再试")
        run_id = conn.execute(
            insert(training_runs).values(requested_by=requested_by, requested_at=at, status="queued", progress=0)
        ).inserted_primary_key[0]
    return get_run(desk, run_id)


def get_run(desk: Desk, run_id: int) -> TrainingRun | None:
    """One run, or None."""
    with desk.read() as conn:
        row = conn.execute(select(training_runs).where(training_runs.c.id == run_id)).first()
    return _run(row) if row else None


def active_run(desk: Desk) -> TrainingRun | None:
    """The run queued or running, if any."""
    with desk.read() as conn:
        row = conn.execute(
            select(training_runs).where(training_runs.c.status.in_(ACTIVE)).order_by(training_runs.c.id.desc())
        ).first()
    return _run(row) if row else None


def recent_runs(desk: Desk, limit: int = 10) -> list[TrainingRun]:
    """The latest runs, newest first."""
    with desk.read() as conn:
        rows = conn.execute(select(training_runs).order_by(training_runs.c.id.desc()).limit(limit)).all()
    return [_run(r) for r in rows]


def set_progress(desk: Desk, run_id: int, stage: str, percent: int) -> None:
    """Note where a run is: running, at this stage and percent (the start time set once)."""
    with desk.write() as conn:
        conn.execute(
            update(training_runs)
            .where(training_runs.c.id == run_id, training_runs.c.started.is_(None))
            .values(started=now())
        )
        conn.execute(
            update(training_runs)
            .where(training_runs.c.id == run_id, training_runs.c.status.in_(ACTIVE))
            .values(status="running", stage=stage, progress=max(0, min(100, int(percent))))
        )


def finish_run(desk: Desk, run_id: int, version: str | None) -> None:
    """Mark a run done, with the version it produced."""
    with desk.write() as conn:
        conn.execute(
            update(training_runs)
            .where(training_runs.c.id == run_id)
            .values(status="done", stage="done", progress=100, finished=now(), version=version)
        )


def fail_run(desk: Desk, run_id: int, error: str) -> None:
    """Mark a run failed with the error (kept short)."""
    with desk.write() as conn:
        conn.execute(
            update(training_runs)
            .where(training_runs.c.id == run_id, training_runs.c.status.in_(ACTIVE))
            .values(status="failed", finished=now(), error=error[:REASON_MAX_CHARS])
        )
