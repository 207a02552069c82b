"""The desk's article editor (/agent/articles): who may use it, saving with CSRF, Chinese validation
beside the typed text, the live and the no-script preview, publish and unpublish as merchants see them,
history and revert, the re-verify filter, new articles; and `posdesk init` / `posdesk kb export`."""

from __future__ import annotations

import re

import pytest
from conftest import _account, _login, csrf_token_from, text_of

from kb.paths import data_dir
from webapp.cli import cli
from webapp.db import get_desk
from webapp.desk import article_edits

SLUG = "refund-void-permission"
ORIGINAL = (data_dir() / "articles" / f"{SLUG}.md").read_text(encoding="utf-8")
ADDED = "- 新版说明：隔日退货请先联系收单机构开通。"
CHANGED = ORIGINAL.replace("## 症状\n", f"## 症状\n\n{ADDED}\n", 1)
EDIT = f"/agent/articles/{SLUG}/edit"


@pytest.fixture
def editor_client(app):
    """A client logged in as the editor `wang`."""
    _account(app, "wang", "editor-pass-1", "editor")
    return _login(app.test_client(), "wang", "editor-pass-1")


def save(client, source: str, url: str = EDIT, **extra):
    return client.post(url, data={"source": source, "csrf_token": csrf_token_from(client, url), **extra})


def textarea(page: str) -> str:
    import html

    return html.unescape(re.search(r"<textarea[^>]*>\r?\n?(.*?)</textarea>", page, re.S).group(1))


def test_agents_get_a_chinese_403_and_no_link_editors_and_admins_get_the_editor(
    agent_client, editor_client, admin_client
):
    for url in ("/agent/articles/", EDIT, f"/agent/articles/{SLUG}/history", "/agent/articles/new"):
        refused = agent_client.get(url)
        assert refused.status_code == 403 and "只有编辑和管理员可以编辑知识库文章" in text_of(refused)
        assert editor_client.get(url).status_code == 200
        assert admin_client.get(url).status_code == 200
    token = csrf_token_from(agent_client, "/agent/")
    assert agent_client.post(EDIT, data={"source": CHANGED, "csrf_token": token}).status_code == 403
    assert article_edits.get_article(get_desk(agent_client.application), SLUG).source == ORIGINAL
    assert "文章编辑" not in text_of(agent_client.get("/agent/"))
    desk_page = text_of(editor_client.get("/agent/"))
    assert 'href="/agent/articles/"' in desk_page and '<span class="role">编辑</span>' in desk_page
    # An editor is an agent too: the queue and the article search work as for agents.
    assert editor_client.get("/agent/search?q=退货").status_code == 200


def test_an_editor_saves_and_the_merchant_page_shows_it(app, editor_client):
    page = text_of(editor_client.get(EDIT))
    assert textarea(page) == ORIGINAL
    assert "<h2>症状</h2>" in page  # the preview of the stored text
    response = save(editor_client, CHANGED.replace("\n", "\r\n"))
    assert response.status_code == 302 and response.headers["Location"].endswith(EDIT)
    assert "已保存为第 2 版" in text_of(editor_client.get(EDIT))
    merchant = app.test_client().get(f"/articles/{SLUG}")
    assert ADDED.removeprefix("- ") in text_of(merchant)
    assert article_edits.get_article(get_desk(app), SLUG).source == CHANGED


def test_a_save_without_the_csrf_token_is_refused_and_nothing_changes(app, editor_client):
    response = editor_client.post(EDIT, data={"source": CHANGED})
    assert response.status_code == 400
    assert article_edits.get_article(get_desk(app), SLUG).source == ORIGINAL


def test_a_refused_save_shows_chinese_errors_beside_the_typed_text(app, editor_client):
    typed = CHANGED.replace("category: txn-not-enabled", "category: refunds").replace('codes: ["58"', 'codes: ["ZZ"')
    response = save(editor_client, typed)
    assert response.status_code == 400
    page = text_of(response)
    assert "分类（category）：“refunds”不是知识库的分类" in page
    assert "应答码（codes）：“ZZ”不是已知的应答码" in page
    assert textarea(page) == typed
    assert article_edits.get_article(get_desk(app), SLUG).source == ORIGINAL
    assert ADDED.removeprefix("- ") not in text_of(app.test_client().get(f"/articles/{SLUG}"))


def test_only_an_admin_may_make_an_internal_article_public(app, editor_client, admin_client):
    public = CHANGED.replace("audience: merchant", "audience: agent")
    refused = save(editor_client, public)
    assert refused.status_code == 400
    assert "只有管理员可以在公开（merchant）和内部（agent）之间切换文章" in text_of(refused)
    assert save(admin_client, public).status_code == 302
    assert app.test_client().get(f"/articles/{SLUG}").status_code == 404  # internal now


def test_the_live_preview_renders_like_the_public_page_and_lists_errors(editor_client):
    token = csrf_token_from(editor_client, EDIT)
    typed = CHANGED + "\n<script>alert(1)</script>\n\n[外链](javascript:alert(1))\n"
    answer = editor_client.post(
        "/agent/articles/preview", data={"slug": SLUG, "source": typed}, headers={"X-CSRFToken": token}
    )
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    data = answer.get_json()
    assert data["errors"] == [] and data["title"] == "退货或撤销提示无权限：如何开通"
    assert "<h2>症状</h2>" in data["html"] and ADDED.removeprefix("- ") in data["html"]
    assert "<script>" not in data["html"] and "&lt;script&gt;" in data["html"]
    assert 'href="javascript' not in data["html"]

    wrong = typed.replace("category: txn-not-enabled", "category: refunds")
    data = editor_client.post(
        "/agent/articles/preview", data={"slug": SLUG, "source": wrong}, headers={"X-CSRFToken": token}
    ).get_json()
    assert len(data["errors"]) == 1
    assert data["errors"][0].startswith("分类（category）：“refunds”不是知识库的分类，可选：txn-not-enabled、")
    assert "<h2>症状</h2>" in data["html"]  # still previewed
    data = editor_client.post(
        "/agent/articles/preview", data={"slug": SLUG, "source": "没有头信息"}, headers={"X-CSRFToken": token}
    ).get_json()
    assert data["html"] == "" and data["errors"] == ["开头缺少用两行 --- 括起的 YAML 头信息"]
    assert editor_client.post("/agent/articles/preview", data={"slug": SLUG, "source": typed}).status_code == 400


def test_without_a_script_the_preview_button_shows_the_typed_text_unsaved(app, editor_client):
    response = save(editor_client, CHANGED, preview="1")
    assert response.status_code == 200
    page = text_of(response)
    assert ADDED.removeprefix("- ") in page.split('id="preview"')[1] and textarea(page) == CHANGED
    assert article_edits.get_article(get_desk(app), SLUG).source == ORIGINAL


def test_unpublish_hides_the_article_from_merchants_and_search_and_publish_brings_it_back(app, editor_client):
    merchant = app.test_client()
    assert merchant.get(f"/articles/{SLUG}").status_code == 200
    token = csrf_token_from(editor_client, EDIT)
    assert editor_client.post(f"/agent/articles/{SLUG}/unpublish", data={"csrf_token": token}).status_code == 302
    flashed = text_of(editor_client.get(EDIT))
    assert "文章已下线" in flashed and "仍链接到它" in flashed and "《POS机提示“该商户没有权限”：排查指南》" in flashed
    assert merchant.get(f"/articles/{SLUG}").status_code == 404
    assert SLUG not in text_of(merchant.get("/search?q=退货提示无权限"))
    assert SLUG not in text_of(merchant.get("/categories/txn-not-enabled"))
    assert editor_client.get(f"/agent/articles/{SLUG}").status_code == 404  # the agents' article page too
    listed = text_of(editor_client.get("/agent/articles/"))
    assert re.search(rf'id="article-{SLUG}".*?已下线', listed, re.S)

    token = csrf_token_from(editor_client, EDIT)
    assert editor_client.post(f"/agent/articles/{SLUG}/publish", data={"csrf_token": token}).status_code == 302
    assert merchant.get(f"/articles/{SLUG}").status_code == 200
    assert SLUG in text_of(merchant.get("/search?q=退货提示无权限"))


def test_history_shows_each_revision_with_its_diff_and_revert_restores_it(app, editor_client):
    assert "还没有在工作台修改过" in text_of(editor_client.get(f"/agent/articles/{SLUG}/history"))
    save(editor_client, CHANGED)
    page = text_of(editor_client.get(f"/agent/articles/{SLUG}/history"))
    assert "第 2 版" in page and "第 1 版" in page and "wang" in page and "data/" in page
    assert f'<span class="diff-add">+{ADDED}</span>' in page
    token = csrf_token_from(editor_client, f"/agent/articles/{SLUG}/history")
    response = editor_client.post(f"/agent/articles/{SLUG}/revert/1", data={"csrf_token": token})
    assert response.status_code == 302
    assert "已恢复到第 1 版" in text_of(editor_client.get(EDIT))
    assert ADDED.removeprefix("- ") not in text_of(app.test_client().get(f"/articles/{SLUG}"))
    assert "恢复到第 1 版" in text_of(editor_client.get(f"/agent/articles/{SLUG}/history"))
    assert editor_client.post(f"/agent/articles/{SLUG}/revert/9", data={"csrf_token": token}).status_code == 404


def test_the_list_marks_articles_past_their_reverify_date_and_filters_them(editor_client):
    save(editor_client, ORIGINAL.replace("reverify_by: 2027-11-30", "reverify_by: 2025-01-31"))
    listed = text_of(editor_client.get("/agent/articles/"))
    assert "2025-01-31 已过期" in listed and "wang" in listed
    due = text_of(editor_client.get("/agent/articles/?due=1"))
    rows = re.findall(r'<tr id="article-([a-z0-9-]+)"', due)
    assert rows and rows[0] == SLUG
    assert "wifi-setup" not in rows  # due 2027-11-30, not yet


def test_a_new_article_is_created_and_published(app, editor_client):
    source = ORIGINAL.replace("title: 退货或撤销提示无权限：如何开通", "title: 隔日退货的开通方法")
    url = "/agent/articles/new"
    assert "title:\ncategory:" in textarea(text_of(editor_client.get(url)))
    refused = save(editor_client, source, url, slug="Next Day")
    assert refused.status_code == 400 and "网址名（slug）：只能用小写英文字母" in text_of(refused)
    response = save(editor_client, source, url, slug="next-day-refund")
    assert response.status_code == 302 and response.headers["Location"].endswith("/agent/articles/next-day-refund/edit")
    assert "隔日退货的开通方法" in text_of(app.test_client().get("/articles/next-day-refund"))


def test_init_keeps_a_desk_edit_and_kb_export_writes_it_back(app, editor_client, runner, tmp_path):
    save(editor_client, CHANGED)
    result = runner.invoke(cli, ["init"])
    assert result.exit_code == 0, result.output
    assert f"kept articles/{SLUG}.md as edited in the desk by wang: data/ differs" in result.output
    assert ADDED.removeprefix("- ") in text_of(app.test_client().get(f"/articles/{SLUG}"))

    exported = runner.invoke(cli, ["kb", "export", "--to", str(tmp_path)])
    assert exported.exit_code == 0, exported.output
    assert f"wrote {tmp_path / 'articles' / f'{SLUG}.md'}" in exported.output
    assert exported.output.strip().endswith(f"exported to {tmp_path}: 71 written, 0 unchanged")
    assert (tmp_path / "articles" / f"{SLUG}.md").read_text(encoding="utf-8") == CHANGED
    again = runner.invoke(cli, ["kb", "export", "--to", str(tmp_path)])
    assert again.output.strip() == f"exported to {tmp_path}: 0 written, 71 unchanged"


def test_a_save_over_someone_elses_newer_version_is_refused_then_replaces_it_knowingly(
    app, editor_client, admin_client
):
    def opened(client) -> dict:
        page = text_of(client.get(EDIT))
        fields = dict(re.findall(r'name="(csrf_token|base)"[^>]*value="([^"]*)"', page))
        return {**fields, "source": textarea(page)}

    mine, theirs = opened(editor_client), opened(admin_client)
    assert mine["base"] and mine["base"] == theirs["base"]
    assert admin_client.post(EDIT, data={**theirs, "source": CHANGED}).status_code == 302

    late = ORIGINAL.replace("## 症状", "## 症状\n\n- 编辑 wang 的改动。", 1)
    refused = editor_client.post(EDIT, data={**mine, "source": late})
    page = text_of(refused)
    assert refused.status_code == 409 and "已被 boss 修改（第 2 版" in page and textarea(page) == late
    assert article_edits.get_article(get_desk(app), SLUG).source == CHANGED  # theirs stands

    again = dict(re.findall(r'name="(csrf_token|base)"[^>]*value="([^"]*)"', page))
    assert editor_client.post(EDIT, data={**again, "source": late}).status_code == 302
    assert article_edits.get_article(get_desk(app), SLUG).source == late
    assert [r.number for r in article_edits.history(get_desk(app), SLUG)][:3] == [3, 2, 1]
