"""The stable command-line interface: init, search and triage, as external tools call them."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner
from conftest import REPO

from kb.store import load_categories
from webapp.cli import cli


@pytest.fixture
def instance(tmp_path, monkeypatch, model_dir):
    """An instance folder with the session's trained model in place (so init does not retrain)."""
    folder = tmp_path / "instance"
    shutil.copytree(model_dir, folder / "model")
    monkeypatch.setenv("POSDESK_INSTANCE", str(folder))
    return folder


def run(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def test_init_is_idempotent(instance):
    first = run("init")
    articles = len(list((REPO / "data" / "articles").glob("*.md")))
    assert first.exit_code == 0 and f"{articles} added" in first.output
    second = run("init")
    assert f"0 added, 0 updated, 0 removed, {articles} unchanged" in second.output
    assert (instance / "posdesk.db").exists()


def test_search_prints_the_best_article_first(instance):
    result = run("search", "退货显示没有权限", "--json", "--limit", "3")
    payload = json.loads(result.output)
    assert payload["results"][0]["slug"] == "refund-void-permission"
    assert len(payload["results"]) <= 3
    assert set(payload["results"][0]) == {"slug", "title", "score"}
    assert "refund-void-permission" in run("search", "退货显示没有权限").output.splitlines()[0]


@pytest.mark.parametrize("query", ["", "   ", "？？？", "!!"])
def test_a_query_with_nothing_to_search_for_finds_nothing(instance, query):
    assert run("search", query).output.strip() == "no matching articles"


def test_search_batch_answers_every_line_in_order(instance):
    lines = [
        {"id": "a", "query": "钱没到账", "audience": "merchant"},
        {"id": "b", "query": "风控冻结工单核查", "audience": "agent"},
        {"id": "c", "query": "股票开户"},
    ]
    stdin = "\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\nnot json\n"
    out = [json.loads(line) for line in run("search", "--batch", input=stdin).output.splitlines()]
    assert [o["id"] for o in out] == ["a", "b", "c", None]
    assert out[0]["results"][0]["slug"] == "funds-not-arrived"
    assert "agent-risk-review" in [r["slug"] for r in out[1]["results"]]
    assert out[2]["results"] == []
    assert "error" in out[3]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_classify_batch_streams_one_line_per_input_line(instance, workers):
    stdin = "\n".join(
        [
            json.dumps({"id": 1, "text": "退货的时候提示该商户没有权限"}, ensure_ascii=False),
            "{broken",
            json.dumps({"id": 3}),
            json.dumps({"id": 4, "text": "   "}),
            json.dumps({"id": "x", "text": "显示97"}, ensure_ascii=False),
        ]
        + [json.dumps({"id": n, "text": "打印机不出纸"}, ensure_ascii=False) for n in range(5, 599)]
        + ['{"id": 599, "text": "\\ud800退货没有权限"}']  # a lone surrogate: classified, not a crash
    )
    result = run("triage", "classify", "--batch", "--workers", workers, input=stdin)
    out = [json.loads(line) for line in result.output.splitlines()]
    assert len(out) == 600
    assert out[0]["category"] == "txn-not-enabled" and "refund-void-permission" in out[0]["articles"][:3]
    fields = {"id", "category", "confidence", "alternatives", "articles", "codes", "needs_review", "in_scope"}
    assert set(out[0]) == fields and out[0]["in_scope"] is True
    assert out[1]["error"] and out[2]["id"] == 3 and out[2]["error"] and out[3]["error"]
    assert out[4]["id"] == "x" and out[4]["codes"] == ["97"]
    assert [o["id"] for o in out[5:]] == list(range(5, 600))
    assert out[-1]["category"] == "txn-not-enabled"


def test_a_greeting_is_out_of_scope_in_a_batch_line_and_for_one_ticket(instance):
    line = json.loads(run("triage", "classify", "--batch", input='{"id": 1, "text": "你好，在吗"}').output)
    assert line["in_scope"] is False and line["category"] == "out-of-scope" and line["needs_review"] is True
    shown = run("triage", "classify", "你好，在吗").output
    assert "not about POS acquiring" in shown
    # The causes listed beside an out-of-scope verdict are what it would be, said so.
    assert "alternatives: if it is about POS acquiring: " in shown and "articles:     -" in shown
    assert "if it is" not in run("triage", "classify", "退货的时候提示该商户没有权限").output


def test_search_answers_plain_questions_and_refuses_other_topics(instance):
    first = json.loads(run("search", "前天刷的钱怎么今天还没进账户", "--json").output)["results"][0]
    assert first["slug"] == "funds-not-arrived"
    assert json.loads(run("search", "房贷提前还款要怎么申请", "--json").output)["results"] == []


def test_classify_one_ticket_explains_itself(instance):
    output = run("triage", "classify", "昨天刚升级完系统，今天刷卡就提示没有权限").output
    assert "terminal-software" in output and "because of" in output and "升级" in output


def test_evaluate_reports_all_metrics_as_json(instance):
    metrics = json.loads(run("triage", "evaluate", "--json").output)
    for key in ("accuracy", "macro_f1", "per_class", "confusion", "article_hit_at_3", "model_version"):
        assert key in metrics
    assert len(metrics["confusion"]["matrix"]) == len(load_categories())


def test_train_reports_held_out_metrics(instance, tmp_path):
    subset = tmp_path / "subset.jsonl"
    from triage.dataset import ticket_files

    lines = [line for f in ticket_files()[:3] for line in f.read_text(encoding="utf-8").splitlines()[:60]]
    subset.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run("triage", "train", "--data", str(subset))
    assert result.exit_code == 0, result.output
    assert "macro-F1" in result.output and "held-out" in result.output


def test_bad_input_gives_a_clear_error_without_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("POSDESK_INSTANCE", str(tmp_path / "empty"))
    result = CliRunner().invoke(cli, ["triage", "classify", "你好"])
    assert result.exit_code == 1 and "posdesk triage train" in result.output
    assert "Traceback" not in result.output
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": 1, "text": "x"}\nnot json\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["triage", "train", "--data", str(broken)])
    assert result.exit_code == 1 and "broken.jsonl:1" in result.output
    result = CliRunner().invoke(cli, ["search"])
    assert result.exit_code == 2 and "QUERY" in result.output


def test_init_retrains_a_model_from_an_incompatible_version(instance):
    sidecar_path = instance / "model" / "model.json"
    sidecar = json.loads(sidecar_path.read_text(encoding="utf-8"))
    sidecar["versions"]["format"] = "0"
    sidecar_path.write_text(json.dumps(sidecar), encoding="utf-8")
    result = run("triage", "classify", "钱没到账")
    assert result.exit_code == 1 and "retrain" in result.output
    assert "retraining" in run("init").output
    assert "settlement" in run("triage", "classify", "钱没到账").output


_IMPORTS_OF = """
import sys
from webapp.cli import main
sys.argv = ["posdesk", *sys.argv[1:]]
try:
    main()
except SystemExit as end:
    assert not end.code, end.code
heavy = ("sklearn", "scipy", "webapp.admin", "webapp.agent", "webapp.api", "webapp.merchant")
print(" ".join(sorted(name for name in heavy if name in sys.modules)))
"""


@pytest.mark.parametrize(
    "args", [("search", "退货显示没有权限"), ("triage", "classify", "退货显示没有权限"), ("init",)]
)
def test_reading_commands_import_neither_scikit_learn_nor_the_pages(instance, args):
    """A fresh process runs `search` and `triage classify` on the app without its pages, and none
    of them (nor `init` on an initialised instance) imports scikit-learn or SciPy: start-up time."""
    import os
    import subprocess
    import sys

    run("init")
    done = subprocess.run(
        [sys.executable, "-c", _IMPORTS_OF, *args], capture_output=True, text=True, env=dict(os.environ), check=True
    )
    imported = done.stdout.split("\n")[-2].split()
    assert "sklearn" not in imported and "scipy" not in imported
    if args[0] != "init":
        assert imported == []
