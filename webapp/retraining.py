"""Retraining the triage model as the desk does it: a training run trains a candidate into
`MODEL_DIR/versions/`, measures it beside the current model (`triage.promotion`), promotes it or
records why not; admins promote a refused candidate anyway or roll back. The embedded default works
runs on one background thread per process (`TrainingWorker`), apart from the triage backlog's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import queue
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from flask import Flask

from kb.store import list_articles
from triage import versions
from triage.dataset import read_tickets, split, stratified_sample, ticket_files
from triage.model import ModelError, load_model, read_sidecar
from triage.promotion import Tolerances, compare, decide, evaluation_sets, split_recent
from triage.training import TrainReport, train
from webapp.db import get_desk, get_kb
from webapp.desk import model_versions
from webapp.desk.tickets import agent_labels, pending_count

log = logging.getLogger(__name__)
_EXTENSION = "posdesk.training"
# Percent done when each stage starts (triage.training's four, then the comparison and the decision).
STAGE_PERCENT = {"queued": 0, "prepare": 5, "fit": 15, "evaluate": 60, "save": 70, "compare": 75, "decide": 95}
STAGE_LABELS = {
    "queued": "排队中",
    "prepare": "准备数据",
    "fit": "训练模型",
    "evaluate": "设定阈值",
    "save": "保存候选模型",
    "compare": "与当前模型对比评估",
    "decide": "决定是否发布",
    "done": "完成",
}


@dataclass(frozen=True)
class Outcome:
    """What a run produced: the candidate's version, whether it was promoted and why."""

    version: str
    promoted: bool
    reason: str
    report: TrainReport
    comparison: dict


def tolerances(app: Flask) -> Tolerances:
    """The promotion tolerances configured (MODEL_TOLERANCE_MACRO_F1, _AUTO_ACCURACY, _AUTO_SHARE)."""
    return Tolerances(
        float(app.config["MODEL_TOLERANCE_MACRO_F1"]),
        float(app.config["MODEL_TOLERANCE_AUTO_ACCURACY"]),
        float(app.config["MODEL_TOLERANCE_AUTO_SHARE"]),
    )


def _desk_time(iso: str | None) -> str | None:
    """A sidecar's trained_at ("2026-12-01T08:30:00+00:00") as the desk stores times."""
    try:
        return dt.datetime.fromisoformat(iso).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (TypeError, ValueError):
        return None


def _current_model(app: Flask, desk):
    """The model in MODEL_DIR, its files kept under versions/ and recorded on the desk; None when
    there is none that loads."""
    model_dir = Path(app.config["MODEL_DIR"])
    if not versions.archive_current(model_dir):
        return None
    try:
        current = load_model(model_dir)
    except ModelError:
        return None
    model_versions.adopt_current(desk, current.version, _desk_time(current.sidecar.get("trained_at")))
    return current


def _train_and_decide(app: Flask, desk, run, paths, sample, progress) -> Outcome:
    config = app.config
    model_dir = Path(config["MODEL_DIR"])
    corpus = read_tickets(paths or ticket_files())
    decisions = agent_labels(desk, by_decision_time=True)
    train_on, recent = split_recent(
        decisions, config["MODEL_RECENT_SHARE"], config["MODEL_RECENT_CAP"], config["MODEL_RECENT_MINIMUM"]
    )
    # A sample comes from the training split only: the held-out split stays unseen by the candidate.
    training = stratified_sample(split(corpus)[0], sample) if sample else corpus
    folder = versions.training_dir(model_dir, str(run.id))
    try:
        articles = list_articles(get_kb(), audience="agent")
        report = train(folder, training, train_on, progress=progress, articles=articles)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    version = versions.keep_trained(model_dir, folder)
    progress("compare")
    candidate = load_model(versions.version_dir(model_dir, version))
    current = _current_model(app, desk)
    limits = tolerances(app)
    comparison = compare(candidate, current, evaluation_sets(corpus, config["MODEL_BLIND_DIR"], recent), limits)
    comparison["training"] = {
        "n_train": report.n_train,
        "n_agent": len(train_on),
        "n_recent_held_out": len(recent),
        "sample": sample,
        "review_threshold": report.review_threshold,
    }
    decision = decide(comparison, limits)
    progress("decide")
    if decision.promote:
        versions.install(model_dir, version)  # files first: a desk row never names a model not in place
    model_versions.record_version(
        desk,
        version,
        run.requested_by,
        comparison,
        decision.promote,
        decision.reason,
        _desk_time(read_sidecar(versions.version_dir(model_dir, version)).get("trained_at")),
    )
    if decision.promote:
        after_model_change(app)
    else:
        for old in model_versions.refused_beyond(desk, int(config["MODEL_KEEP_REFUSED"])):
            versions.remove(model_dir, old)
    return Outcome(version, decision.promote, decision.reason, report, comparison)


def _error_text(e: BaseException) -> str:
    if isinstance(e, ValueError | ModelError):  # DatasetError, VersionError, a corpus of one category
        return str(e)
    return f"训练出错：{type(e).__name__}: {e}"


def retrain(
    app: Flask,
    run_id: int,
    paths: tuple[Path, ...] = (),
    sample: int | None = None,
    on_stage: Callable[[str], None] = lambda stage: None,
) -> Outcome:
    """Work one queued run: train a candidate on the corpus (`paths`, default data/tickets; a
    stratified `sample` of its training split when given) and agents' decisions, compare it with the
    current model, promote or refuse it. The run's stage and progress are written as it goes; on an
    exception it is marked failed with the error, which is raised again."""
    with app.app_context():
        desk = get_desk()
        run = model_versions.get_run(desk, run_id)
        if run is None or not run.active:
            raise ValueError(f"没有待执行的训练任务 {run_id}")

        def progress(stage: str) -> None:
            model_versions.set_progress(desk, run_id, stage, STAGE_PERCENT.get(stage, 0))
            on_stage(stage)

        try:
            outcome = _train_and_decide(app, desk, run, paths, sample, progress)
        except BaseException as e:
            log.exception("training run %s failed", run_id)
            model_versions.fail_run(desk, run_id, _error_text(e))
            raise
        model_versions.finish_run(desk, run_id, outcome.version)
    log.info("training run %s: %s %s", run_id, outcome.version, "promoted" if outcome.promoted else "refused")
    return outcome


def make_current(app: Flask, version: str, by: str, reason: str | None = None):
    """Promote a recorded version (a refused candidate anyway, or a rollback): its files into MODEL_DIR,
    then the desk's record; return the ModelVersion. VersionStateError for an unknown or current
    version, VersionError when its files were pruned."""
    desk = get_desk(app)
    known = model_versions.get_version(desk, version)
    if known is None:
        raise model_versions.VersionStateError(f"没有版本 {version}")
    if known.status == "current":
        raise model_versions.VersionStateError(f"版本 {version} 已是当前模型")
    model_dir = Path(app.config["MODEL_DIR"])
    versions.archive_current(model_dir)  # the model replaced stays on disk, for a rollback to it
    versions.install(model_dir, version)
    promoted = model_versions.promote(desk, version, by, reason)
    after_model_change(app)
    return promoted


def after_model_change(app: Flask) -> None:
    """A new current model: the tickets waiting for triage get triaged by the jobs, on any node."""
    from webapp.jobs import enqueue_triage

    with app.app_context():
        if pending_count(get_desk()):
            enqueue_triage(app)


class TrainingWorker:
    """The embedded default's training thread: works queued runs one after another, apart from the
    triage backlog's thread (a training takes minutes; triage must not wait for it)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._queue: queue.Queue[int] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, run_id: int) -> None:
        """Queue a run and make sure the thread is working."""
        self._queue.put(run_id)
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="posdesk-training", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while True:
            try:
                run_id = self._queue.get(timeout=60)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            with contextlib.suppress(Exception):  # recorded on the run as failed; the thread goes on
                retrain(self.app, run_id)


def worker(app: Flask) -> TrainingWorker:
    """The app's training thread (made on first use)."""
    return app.extensions.setdefault(_EXTENSION, TrainingWorker(app))
