"""Editing articles in the desk (webapp.desk.article_edits): validation in Chinese, numbered revisions,
revert, publish and unpublish, the audience switch kept for admins, and `init` and `kb export` around
desk edits."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
from sqlalchemy import select

from kb.db import open_db
from kb.paths import data_dir
from kb.search import search
from kb.store import get_article, list_articles
from webapp import knowledge
from webapp.desk import article_edits, audit
from webapp.desk.article_edits import ArticleNotFound, EditError
from webapp.desk.schema import knowledge_files

SLUG = "refund-void-permission"
ORIGINAL = (data_dir() / "articles" / f"{SLUG}.md").read_text(encoding="utf-8")


NEW_LINE = "## 症状\n\n- 新增的一行说明：隔日退货需另行开通。\n"


def edited(source: str = ORIGINAL, old: str = "## 症状\n", new: str = NEW_LINE) -> str:
    """The source with one replacement made (the replaced text must be there)."""
    assert old in source
    return source.replace(old, new, 1)


def errors_of(call) -> dict[str, str]:
    """The (field -> message) of the EditError `call()` raises."""
    with pytest.raises(EditError) as caught:
        call()
    return dict(caught.value.errors)


def test_every_article_of_data_passes_the_desk_validation(desk):
    for item in article_edits.list_articles(desk):
        assert article_edits.check(desk, item.slug, item.source) == item.article


def test_a_save_becomes_revision_2_after_the_seed_and_the_article_changes(desk):
    revision = article_edits.save(desk, SLUG, edited(), "wang")
    assert revision.number == 2
    history = article_edits.history(desk, SLUG)
    assert [(r.number, r.author, r.action) for r in history] == [(2, "wang", "save"), (1, "data/", "seed")]
    assert history[1].content == ORIGINAL
    assert "+- 新增的一行说明：隔日退货需另行开通。" in history[0].diff.splitlines()
    current = article_edits.get_article(desk, SLUG)
    assert current.edited_by == "wang" and "隔日退货需另行开通" in current.article.body
    third = article_edits.save(desk, SLUG, edited(current.source, "新增的一行", "补充的一行"), "li")
    assert third.number == 3
    assert [r.number for r in article_edits.history(desk, SLUG)] == [3, 2, 1]


def test_a_browser_s_crlf_text_is_stored_in_the_data_format(desk):
    article_edits.save(desk, SLUG, edited().replace("\n", "\r\n") + "\r\n\r\n", "wang")
    assert article_edits.get_article(desk, SLUG).source == edited()


@pytest.mark.parametrize(
    "old, new, field, message",
    [
        ("category: txn-not-enabled", "category: refunds", "category", "“refunds”不是知识库的分类"),
        ("related: [", "related: [no-such-article, ", "related", "related 里的no-such-article 不是已有的文章"),
        ("related: [", "related: [agent-enable-permission, ", "related", "是内部文章，公开文章不能链接内部文章"),
        ('codes: ["58"', 'codes: ["ZZ", "58"', "codes", "“ZZ”不是已知的应答码"),
        ("## 原因\n", "## 原因\n\n见[旧文](/articles/old-article)。\n", "body", "/articles/old-article 不是已有的文章"),
        ("audience: merchant", "audience: public", "audience", "audience 只能是 merchant（公开）或 agent（内部）"),
        ("updated: 2026-11-30", "updated: 下周", "updated", "须为日期"),
        ("reverify_by: 2027-11-30", "reverify_by: 明年", "reverify_by", "reverify_by 须为日期"),
        ("title: ", "titel: ", "title", "缺少 title"),
        ("tags: [", "tags: 退货 [", "tags", "tags 须为列表"),
    ],
)
def test_a_bad_source_is_refused_with_a_chinese_message_naming_the_field(desk, old, new, field, message):
    source = edited(ORIGINAL, old, new)
    found = errors_of(lambda: article_edits.save(desk, SLUG, source, "wang"))
    assert field in found and message in found[field], found
    assert article_edits.get_article(desk, SLUG).source == ORIGINAL  # nothing stored
    assert article_edits.history(desk, SLUG) == []


def test_several_mistakes_are_all_reported_with_field_names(desk):
    source = edited(edited(ORIGINAL, "category: txn-not-enabled", "category: x"), 'codes: ["58"', 'codes: ["ZZ"')
    with pytest.raises(EditError) as caught:
        article_edits.save(desk, SLUG, source, "wang")
    assert [m.split("：", 1)[0] for m in caught.value.messages] == ["分类（category）", "应答码（codes）"]


def test_a_text_without_front_matter_or_without_change_is_refused(desk):
    assert "YAML 头信息" in errors_of(lambda: article_edits.save(desk, SLUG, "## 症状\n只有正文", "wang"))["source"]
    broken = "---\ntitle: 退货\ncategory: txn-not-enabled\naudience: merchant\ntags: [退货, 撤销\n---\n## 症状\n"
    message = errors_of(lambda: article_edits.save(desk, SLUG, broken, "wang"))["source"]
    assert message.startswith("头信息第 ") and "不是有效的 YAML" in message and "expected" not in message
    assert errors_of(lambda: article_edits.save(desk, SLUG, ORIGINAL, "wang")) == {
        "source": "内容没有变化，未保存新版本"
    }


def test_only_an_admin_switches_an_article_between_public_and_internal(desk):
    internal = edited(ORIGINAL, "audience: merchant", "audience: agent")
    found = errors_of(lambda: article_edits.save(desk, SLUG, internal, "editor-wang", is_admin=False))
    assert found == {"audience": "只有管理员可以在公开（merchant）和内部（agent）之间切换文章"}
    assert article_edits.save(desk, SLUG, internal, "boss", is_admin=True).number == 2
    assert article_edits.get_article(desk, SLUG).article.audience == "agent"
    # ... and back to public: the editor may not revert to the public revision either.
    assert "audience" in errors_of(lambda: article_edits.revert(desk, SLUG, 1, "editor-wang", is_admin=False))
    assert article_edits.revert(desk, SLUG, 1, "boss", is_admin=True).number == 3


def test_revert_makes_an_old_revision_current_as_a_new_one(desk):
    article_edits.save(desk, SLUG, edited(), "wang")
    revision = article_edits.revert(desk, SLUG, 1, "li")
    assert (revision.number, revision.action, revision.note) == (3, "revert", "恢复到第 1 版")
    assert article_edits.get_article(desk, SLUG).source == ORIGINAL
    assert errors_of(lambda: article_edits.revert(desk, SLUG, 1, "li")) == {"source": "内容没有变化，未保存新版本"}
    with pytest.raises(ArticleNotFound):
        article_edits.revert(desk, SLUG, 9, "li")
    with pytest.raises(ArticleNotFound):
        article_edits.save(desk, "no-such-article", ORIGINAL, "li")


def test_every_change_is_audited_and_moves_the_generation_on(desk):
    generation = int(desk.get_meta(knowledge.GENERATION))
    article_edits.save(desk, SLUG, edited(), "wang", address="10.0.0.7")
    article_edits.set_published(desk, SLUG, False, "wang")
    article_edits.set_published(desk, SLUG, True, "wang")
    article_edits.revert(desk, SLUG, 1, "wang")
    assert int(desk.get_meta(knowledge.GENERATION)) == generation + 4
    entries = audit.entries(desk, action="article.").entries[::-1]
    assert [(e.action, e.target, e.detail) for e in entries] == [
        ("article.save", f"article:{SLUG}", {"revision": 2}),
        ("article.unpublish", f"article:{SLUG}", {"revision": 3}),
        ("article.publish", f"article:{SLUG}", {"revision": 4}),
        ("article.revert", f"article:{SLUG}", {"revision": 5}),
    ]
    assert entries[0].address == "10.0.0.7" and entries[0].actor == "wang"


def test_an_unpublished_article_leaves_the_index_and_search_and_comes_back(desk):
    index = open_db(":memory:")
    knowledge.refresh(index, desk)
    assert search(index, "退货提示无权限", "merchant", 5)[0].slug == SLUG

    article_edits.set_published(desk, SLUG, False, "wang")
    source = article_edits.get_article(desk, SLUG).source
    assert source.split("---\n")[1].endswith("published: false\n")
    assert errors_of(lambda: article_edits.set_published(desk, SLUG, False, "wang")) == {
        "published": "文章已是下线状态"
    }
    knowledge.refresh(index, desk)
    assert get_article(index, SLUG) is None
    assert SLUG not in {a.slug for a in list_articles(index, audience="agent")}
    assert SLUG not in {h.slug for h in search(index, "退货提示无权限", "agent", 20)}

    article_edits.set_published(desk, SLUG, True, "wang")
    assert article_edits.get_article(desk, SLUG).source == ORIGINAL
    knowledge.refresh(index, desk)
    assert get_article(index, SLUG).title == "退货或撤销提示无权限：如何开通"


def test_a_new_article_needs_a_good_free_slug(desk):
    source = edited(ORIGINAL, "title: 退货或撤销提示无权限：如何开通", "title: 隔日退货怎么开通")
    assert "小写英文字母" in errors_of(lambda: article_edits.create(desk, "Next Day", source, "wang"))["slug"]
    assert "工作台网址" in errors_of(lambda: article_edits.create(desk, "new", source, "wang"))["slug"]
    assert (
        "已被文章“退货或撤销提示无权限：如何开通”使用"
        in errors_of(lambda: article_edits.create(desk, SLUG, source, "wang"))["slug"]
    )
    revision = article_edits.create(desk, "next-day-refund", source, "wang")
    assert (revision.number, revision.action) == (1, "create")
    assert article_edits.get_article(desk, "next-day-refund").article.title == "隔日退货怎么开通"


def test_articles_past_their_reverify_date_oldest_first(desk):
    assert article_edits.articles_past_reverify(desk, dt.date(2027, 5, 31)) == []
    due = article_edits.articles_past_reverify(desk, dt.date(2027, 6, 1))
    assert len(due) == 15 and {d for _, _, d in due} == {"2027-05-31"}
    assert ("agent-risk-review", "【内部】风控冻结工单的核查与升级", "2027-05-31") in due
    article_edits.save(desk, SLUG, edited(ORIGINAL, "reverify_by: 2027-11-30", "reverify_by: 2027-01-15"), "wang")
    due = article_edits.articles_past_reverify(desk, dt.date(2027, 6, 1))
    assert due[0] == (SLUG, "退货或撤销提示无权限：如何开通", "2027-01-15")
    assert [d for _, _, d in due] == sorted(d for _, _, d in due)
    article_edits.set_published(desk, SLUG, False, "wang")  # nobody reads it: nothing to re-verify
    assert SLUG not in {s for s, _, _ in article_edits.articles_past_reverify(desk, dt.date(2027, 6, 1))}


def test_init_keeps_a_desk_edit_and_reports_the_conflict(desk):
    article_edits.save(desk, SLUG, edited(), "wang")
    report = knowledge.publish(desk)
    assert report.changed == () and report.removed == ()
    assert report.conflicts == ((f"articles/{SLUG}.md", "wang"),)
    assert article_edits.get_article(desk, SLUG).source == edited()
    # A new article made in the desk is not in data/: it is kept too, and is no conflict.
    article_edits.create(desk, "next-day-refund", edited(ORIGINAL, "title: 退货或", "title: 隔日退货或"), "wang")
    report = knowledge.publish(desk)
    assert report.removed == () and article_edits.get_article(desk, "next-day-refund") is not None


def test_export_writes_the_desk_s_articles_and_init_of_the_export_changes_nothing(desk, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(data_dir(), root)
    article_edits.save(desk, SLUG, edited(), "wang")
    article_edits.set_published(desk, "wifi-setup", False, "li")
    article_edits.create(desk, "next-day-refund", edited(ORIGINAL, "title: 退货或", "title: 隔日退货或"), "wang")

    report = knowledge.export(desk, root)
    assert set(report.written) == {f"articles/{s}.md" for s in (SLUG, "wifi-setup", "next-day-refund")}
    assert report.unchanged == 69
    assert (root / "articles" / f"{SLUG}.md").read_text(encoding="utf-8") == edited()
    assert "published: false" in (root / "articles" / "wifi-setup.md").read_text(encoding="utf-8")

    with desk.read() as conn:
        before = conn.execute(select(knowledge_files).order_by(knowledge_files.c.path)).all()
    generation = desk.get_meta(knowledge.GENERATION)
    again = knowledge.publish(desk, root=root)
    assert (again.changed, again.removed, again.conflicts) == ((), (), ())
    with desk.read() as conn:
        assert conn.execute(select(knowledge_files).order_by(knowledge_files.c.path)).all() == before
    assert desk.get_meta(knowledge.GENERATION) == generation
    assert knowledge.export(desk, root) == knowledge.ExportReport((), 72)
