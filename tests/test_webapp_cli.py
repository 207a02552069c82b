"""The desk's commands: users, tokens, the first admin at `init`, and `serve`."""

import json
import shutil
import socket
from pathlib import Path

import pytest

from webapp import admin_cli, gunicorn_app
from webapp import cli as cli_module
from webapp.cli import cli
from webapp.db import get_desk, get_kb
from webapp.desk import accounts


def test_user_add_and_passwd(app, runner):
    result = runner.invoke(cli, ["user", "add", "lina", "--password", "secret-123"])
    assert result.exit_code == 0 and result.output.strip() == "added agent lina"
    result = runner.invoke(cli, ["user", "add", "wang", "--admin"], input="secret-456\nsecret-456\n")
    assert result.exit_code == 0 and "added admin wang" in result.output
    result = runner.invoke(cli, ["user", "passwd", "lina", "--password", "secret-789"])
    assert result.exit_code == 0 and "password changed for lina" in result.output
    with app.app_context():
        assert accounts.authenticate(get_desk(), "lina", "secret-789")
        assert accounts.find_user(get_desk(), "wang").is_admin


@pytest.mark.parametrize(
    "args, message",
    [
        (["user", "add", "lina", "--password", "short"], "at least 8 characters"),
        (["user", "add", "Bad Name!", "--password", "secret-123"], "username must be"),
        (["user", "passwd", "ghost", "--password", "secret-123"], "no user 'ghost'"),
        (["token", "revoke", "ghost"], "no active token named 'ghost'"),
        (["token", "create", "bad name"], "token name must be"),
    ],
)
def test_bad_input_is_a_clear_error_without_traceback(runner, args, message):
    result = runner.invoke(cli, args)
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output


def test_duplicate_user_is_refused(runner):
    runner.invoke(cli, ["user", "add", "lina", "--password", "secret-123"])
    result = runner.invoke(cli, ["user", "add", "lina", "--password", "secret-123"])
    assert result.exit_code == 1 and "already exists" in result.output


def test_token_create_prints_the_token_last_and_revoke_ends_it(app, runner):
    result = runner.invoke(cli, ["token", "create", "callcenter"])
    assert result.exit_code == 0
    secret = result.output.strip().splitlines()[-1].split()[-1]
    assert secret.startswith("pd_")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/tickets/1", headers=headers).status_code == 404
    assert runner.invoke(cli, ["token", "create", "callcenter"]).exit_code == 1  # one active token per name
    result = runner.invoke(cli, ["token", "revoke", "callcenter"])
    assert result.exit_code == 0 and "revoked token callcenter" in result.output
    assert client.get("/api/v1/tickets/1", headers=headers).status_code == 401


def test_init_creates_the_first_admin_once(app, runner, monkeypatch):
    monkeypatch.setattr(cli_module, "INIT_HOOKS", [admin_cli.ensure_first_admin])
    result = runner.invoke(cli, ["init"])
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if "created admin user 'admin'" in x)
    password = line.split("password ")[1].split()[0]
    with app.app_context():
        assert accounts.authenticate(get_desk(), "admin", password).is_admin
    again = runner.invoke(cli, ["init"])
    assert "created admin" not in again.output


def test_serve_runs_gunicorn_with_the_options(app, runner, monkeypatch):
    started = {}
    monkeypatch.setattr(gunicorn_app.PosdeskServer, "run", lambda self: started.update(self.options))
    result = runner.invoke(cli, ["serve", "--host", "0.0.0.0", "--port", "8123", "--workers", "3"])
    assert result.exit_code == 0, result.output
    assert started["bind"] == "0.0.0.0:8123" and started["workers"] == 3
    assert "triage model: fake-1" in result.output


def test_serve_on_a_port_in_use_says_so_before_serving(app, runner, monkeypatch):
    started = []
    monkeypatch.setattr(gunicorn_app.PosdeskServer, "run", lambda self: started.append(self))
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = runner.invoke(cli, ["serve", "--port", str(port)])
    assert result.exit_code == 1 and not started
    assert f"cannot listen on 127.0.0.1:{port}" in result.output and "serving" not in result.output
    assert "Traceback" not in result.output


def test_serve_initialises_a_fresh_instance_first(make_app, monkeypatch):
    monkeypatch.setattr(cli_module, "INIT_HOOKS", [admin_cli.ensure_first_admin])
    monkeypatch.setattr(gunicorn_app.PosdeskServer, "run", lambda self: None)
    app = make_app(knowledge_base=False)
    (Path(app.config["MODEL_DIR"]) / "model.json").unlink()
    result = app.test_cli_runner().invoke(cli, ["serve"])
    assert result.exit_code == 0, result.output
    assert "knowledge base:" in result.output and "created admin user" in result.output
    assert "none yet" in result.output
    with app.app_context():
        assert get_kb()["articles"].count > 0


def test_serve_retrains_a_model_saved_in_an_older_format(make_app, model_dir, monkeypatch):
    """An upgrade whose features differ leaves a model this version cannot load: serve trains anew
    instead of serving without triage."""
    from triage.model import load_model
    from webapp import triage_cli

    monkeypatch.setattr(cli_module, "INIT_HOOKS", [triage_cli.train_if_missing])
    monkeypatch.setattr(gunicorn_app.PosdeskServer, "run", lambda self: None)
    app = make_app(TRIAGER_LOADER=load_model)
    saved = Path(app.config["MODEL_DIR"])
    for path in model_dir.iterdir():
        if path.is_file():
            shutil.copy(path, saved / path.name)
    sidecar = json.loads((saved / "model.json").read_text(encoding="utf-8"))
    sidecar["versions"]["format"] = "1"
    (saved / "model.json").write_text(json.dumps(sidecar), encoding="utf-8")
    result = app.test_cli_runner().invoke(cli, ["serve"])
    assert result.exit_code == 0, result.output
    assert "retraining: the triage model was saved in posdesk model format 1" in result.output
    assert "none yet" not in result.output
    assert f"triage model: {load_model(saved).version}" in result.output


def test_gunicorn_application_builds_the_app(app, monkeypatch):
    server = gunicorn_app.PosdeskServer({"bind": "127.0.0.1:0", "workers": 1})
    assert server.cfg.workers == 1
    assert server.load().name == "webapp"
