"""What a public reply shows of an article it inserts: the title, the public link and the first step of
its "## 处理步骤" section, as plain text."""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlite_utils
from flask import url_for

from kb.store import get_article

STEPS_HEADING = "处理步骤"
_SECTION = re.compile(r"^##\s+(.+?)\s*$", re.M)
_ITEM = re.compile(r"^\s*(?:\d+[.、)]|[-*+])\s+(.+)$", re.M)
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_EMPHASIS = re.compile(r"(\*\*|__|`)")


@dataclass(frozen=True)
class ArticleInsert:
    """An article as a reply inserts it."""

    slug: str
    title: str
    url: str
    first_step: str


def first_step(body: str) -> str:
    """The first item of the article's "## 处理步骤" section, links as their text and emphasis removed
    ("" when there is no such section or list)."""
    headings = list(_SECTION.finditer(body))
    for i, heading in enumerate(headings):
        if heading.group(1) == STEPS_HEADING:
            end = headings[i + 1].start() if i + 1 < len(headings) else len(body)
            item = _ITEM.search(body, heading.end(), end)
            return _EMPHASIS.sub("", _LINK.sub(r"\1", item.group(1))).strip() if item else ""
    return ""


def article_insert(db: sqlite_utils.Database, slug: str | None) -> ArticleInsert | None:
    """The public article `slug` as a reply shows it (absolute link), or None when there is no such
    public article (any more)."""
    article = get_article(db, slug) if slug else None
    if article is None:
        return None
    url = url_for("merchant.article", slug=article.slug, _external=True)
    return ArticleInsert(article.slug, article.title, url, first_step(article.body))
