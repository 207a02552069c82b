"""Retraining on the desk: training runs with progress, candidates promoted or refused with the
reason, the history page (admins only, CSRF-protected), promoting anyway, rolling back, and the
`posdesk triage train|models|rollback` commands."""

import re
import shutil
from pathlib import Path

import pytest
from conftest import csrf_token_from, text_of

from triage.model import MODEL_FILE, SIDECAR_FILE, read_sidecar
from webapp.cli import cli
from webapp.db import get_desk
from webapp.desk import audit, model_versions
from webapp.desk.tickets import set_category
from webapp.model import current_triager
from webapp.retraining import retrain


@pytest.fixture
def app(make_app, model_dir):
    """An app with the real loader and the session's full model as its current model."""
    application = make_app(TRIAGER_LOADER=None)
    target = Path(application.config["MODEL_DIR"])
    for name in (MODEL_FILE, SIDECAR_FILE):
        shutil.copy(model_dir / name, target / name)
    return application


@pytest.fixture
def full_version(model_dir):
    return read_sidecar(model_dir)["model_version"]


def _current_version(app) -> str:
    with app.app_context():
        return current_triager().version


def _run(app, sample=None, paths=(), by="boss", stages=None):
    run = model_versions.request_run(get_desk(app), by, 60)
    return retrain(app, run.id, paths, sample, on_stage=(stages.append if stages is not None else lambda s: None))


def test_a_tiny_candidate_is_refused_with_its_reason_and_the_current_model_stays(app, full_version):
    stages = []
    outcome = _run(app, sample=200, stages=stages)
    assert not outcome.promoted
    assert re.search(r"留出集 macro-F1 0\.\d\d，比当前模型 0\.9\d 低 0\.\d\d，超过容差 0\.01", outcome.reason)
    assert _current_version(app) == full_version
    desk = get_desk(app)
    refused = model_versions.get_version(desk, outcome.version)
    assert refused.status == "refused" and refused.reason == outcome.reason
    assert refused.metrics["compared_with"] == full_version
    blind = next(s for s in refused.metrics["sets"] if s["name"] == "blind")
    assert blind["candidate"]["macro_f1"] < blind["current"]["macro_f1"] - 0.1
    # The model that was current before versions were recorded is adopted, its files kept for a rollback.
    assert model_versions.current_version(desk).version == full_version
    assert (Path(app.config["MODEL_DIR"]) / "versions" / full_version / MODEL_FILE).exists()
    run = model_versions.recent_runs(desk, 1)[0]
    assert (run.status, run.progress, run.version) == ("done", 100, outcome.version)
    assert stages == ["prepare", "fit", "evaluate", "save", "compare", "decide"]


def test_a_full_candidate_is_promoted_and_every_process_reloads_it(app, file, full_version):
    # An agent's decision makes this candidate's data (and version) differ from the current model's.
    ticket = file("POS机刷卡后资金一直没到账")
    set_category(get_desk(app), ticket.id, "settlement", "lina")
    assert _current_version(app) == full_version
    outcome = _run(app)
    assert outcome.promoted and "均不比当前模型差" in outcome.reason
    assert _current_version(app) == outcome.version  # the cache saw the new sidecar
    history = {v.version: v for v in model_versions.list_versions(get_desk(app))}
    assert history[outcome.version].status == "current" and history[outcome.version].promoted_by == "boss"
    assert history[full_version].status == "retired"


def test_a_failing_run_is_marked_failed_with_its_error_and_a_second_run_waits(app, tmp_path):
    one_category = tmp_path / "one.jsonl"
    one_category.write_text('{"id": "a", "text": "到账慢", "category": "settlement"}\n', encoding="utf-8")
    desk = get_desk(app)
    run = model_versions.request_run(desk, "boss", 60)
    with pytest.raises(model_versions.RunBusy, match="已有一次训练正在进行"):
        model_versions.request_run(desk, "lina", 60)
    with pytest.raises(ValueError):
        retrain(app, run.id, (one_category,))
    failed = model_versions.get_run(desk, run.id)
    assert failed.status == "failed" and "at least two categories" in failed.error
    assert not list((Path(app.config["MODEL_DIR"]) / "versions").glob(".training-*"))  # nothing half-saved left
    assert model_versions.request_run(desk, "lina", 60).status == "queued"  # the next may start


def test_a_run_whose_process_died_does_not_block_the_next_one(app):
    from sqlalchemy import update

    from webapp.desk.schema import training_runs

    desk = get_desk(app)
    stuck = model_versions.request_run(desk, "boss", 60)
    model_versions.set_progress(desk, stuck.id, "fit", 15)
    with desk.write() as conn:  # requested long ago: its process ended without saying so
        conn.execute(
            update(training_runs).where(training_runs.c.id == stuck.id).values(requested_at="2020-01-01T00:00:00Z")
        )
    assert model_versions.request_run(desk, "lina", 60).status == "queued"
    dead = model_versions.get_run(desk, stuck.id)
    assert dead.status == "failed" and "超时未完成" in dead.error


def test_the_history_page_is_for_admins_only(app, client, agent_client):
    assert client.get("/agent/admin/models").status_code == 302
    assert agent_client.get("/agent/admin/models").status_code == 403
    token = csrf_token_from(agent_client, "/agent/password")
    assert agent_client.post("/agent/admin/models/train", data={"csrf_token": token}).status_code == 403
    assert model_versions.recent_runs(get_desk(app)) == []


def test_retraining_needs_the_forms_csrf_token(app, admin_client):
    response = admin_client.post("/agent/admin/models/train", data={"csrf_token": "forged"})
    assert response.status_code == 400 and "页面已过期" in text_of(response)
    assert model_versions.recent_runs(get_desk(app)) == []
    response = admin_client.post("/agent/admin/models/202612010000-abc/rollback")
    assert response.status_code == 400


def test_an_admin_retrains_and_sees_the_candidate_beside_the_current_model(app, admin_client, file, full_version):
    ticket = file("POS机刷卡后资金一直没到账")
    set_category(get_desk(app), ticket.id, "settlement", "lina")
    token = csrf_token_from(admin_client, "/agent/admin/models")
    page = text_of(admin_client.post("/agent/admin/models/train", data={"csrf_token": token}, follow_redirects=True))
    run = model_versions.recent_runs(get_desk(app), 1)[0]
    assert run.status == "done"  # JOBS_EAGER: the run finished inside the request
    assert run.version in page and "当前" in page and full_version in page
    assert "盲测集" in page and "留出集" in page and "容差" in page
    state = admin_client.get(f"/agent/admin/models/runs/{run.id}").get_json()
    assert (state["status"], state["progress"], state["version"]) == ("done", 100, run.version)
    assert admin_client.get("/agent/admin/models/runs/999").status_code == 404
    assert audit.entries(get_desk(app), action="model.train").total == 1


def test_promote_anyway_needs_confirmation_and_a_note_and_rollback_restores(app, admin_client, full_version):
    refused = _run(app, sample=200)
    url = f"/agent/admin/models/{refused.version}/promote"
    token = csrf_token_from(admin_client, "/agent/admin/models")
    response = admin_client.post(url, data={"csrf_token": token, "note": "   "})
    assert response.status_code == 400
    assert "请勾选确认" in text_of(response) and "请填写仍然发布的原因" in text_of(response)
    assert _current_version(app) == full_version  # nothing changed

    response = admin_client.post(
        url, data={"csrf_token": token, "confirm": "y", "note": "先试一天"}, follow_redirects=True
    )
    assert f"已发布未通过评估的版本 {refused.version}" in text_of(response)
    assert _current_version(app) == refused.version
    promoted = model_versions.get_version(get_desk(app), refused.version)
    assert promoted.promoted_by == "boss" and "boss 仍然发布：先试一天" in promoted.reason
    entry = audit.entries(get_desk(app), action="model.promote_anyway").entries[0]
    assert entry.detail == {"note": "先试一天"} and entry.actor == "boss"

    response = admin_client.post(f"/agent/admin/models/{full_version}/rollback", data={"csrf_token": token})
    assert response.status_code == 302
    assert _current_version(app) == full_version
    assert model_versions.get_version(get_desk(app), refused.version).status == "retired"
    assert audit.entries(get_desk(app), action="model.rollback").total == 1


def test_the_cli_trains_lists_and_rolls_back(app, full_version):
    runner = app.test_cli_runner()
    result = runner.invoke(cli, ["triage", "train", "--sample", "200"])
    assert result.exit_code == 0, result.output
    assert "REFUSED" in result.output and "超过容差 0.01" in result.output
    assert re.search(rf"compared with the current model {full_version}", result.output)
    refused = re.search(r"model (\d{12}-[0-9a-f]{8}): ", result.output).group(1)

    listing = runner.invoke(cli, ["triage", "models"]).output
    assert re.search(rf"{refused}\s+refused", listing) and re.search(rf"{full_version}\s+current", listing)
    rows = [line for line in runner.invoke(cli, ["triage", "models", "--json"]).output.splitlines() if line]
    assert len(rows) == 2 and '"status": "refused"' in rows[0]

    result = runner.invoke(cli, ["triage", "rollback", refused])
    assert result.exit_code == 1 and "--anyway --note" in result.output
    result = runner.invoke(cli, ["triage", "rollback", refused, "--anyway"])
    assert result.exit_code == 1 and "--anyway 需要 --note" in result.output
    result = runner.invoke(cli, ["triage", "rollback", refused, "--anyway", "--note", "对比一下"])
    assert result.exit_code == 0 and _current_version(app) == refused
    result = runner.invoke(cli, ["triage", "rollback", full_version])
    assert result.exit_code == 0 and _current_version(app) == full_version
    assert "没有版本 nope" in runner.invoke(cli, ["triage", "rollback", "nope"]).output
