"""Turning stored values into what pages show: sanitised article HTML and China-time dates. (Personal data
is masked once, when a ticket is stored, never on each page view.)"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import nh3
from flask import Flask
from markdown_it import MarkdownIt
from markupsafe import Markup

CHINA_TIME = dt.timezone(dt.timedelta(hours=8), "CST")
_ARTICLE_LINK = "/articles/"
_TAGS = {
    "p", "br", "hr", "h2", "h3", "h4", "ul", "ol", "li", "strong", "em", "code", "pre", "blockquote", "a",
    "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
_ATTRIBUTES = {"a": {"href", "title"}, "th": {"style"}, "td": {"style"}, "ol": {"start"}}
# Raw HTML in an article is shown as text; nh3 then removes anything markdown-it let through.
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")


def render_markdown(body: str, article_base: str = _ARTICLE_LINK) -> Markup:
    """Render an article body to sanitised HTML, pointing `/articles/<slug>` links at article_base.

    Rendered once per article version: the body itself is the cache key (an edited article is a new
    key, and the old one ages out), so each worker renders and sanitises an article once, not per view.
    """
    return _render_cached(body, article_base)


@lru_cache(maxsize=512)  # 71 articles, two link bases: room for every version a sync brings
def _render_cached(body: str, article_base: str) -> Markup:
    return render_markdown_uncached(body, article_base)


def render_markdown_uncached(body: str, article_base: str = _ARTICLE_LINK) -> Markup:
    """Render and sanitise an article body every time (what `render_markdown` caches)."""

    def rewrite(tag: str, attribute: str, value: str) -> str | None:
        if tag == "a" and attribute == "href" and value.startswith(_ARTICLE_LINK):
            return article_base + value[len(_ARTICLE_LINK) :]
        if attribute == "style":
            return value if value in ("text-align:left", "text-align:center", "text-align:right") else None
        return value

    html = nh3.clean(
        _MARKDOWN.render(body),
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https"},
        link_rel="noopener noreferrer",
        attribute_filter=rewrite,
    )
    return Markup(html)


def china_time(value: str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Format a stored UTC timestamp ("2026-01-02T03:04:05Z") in China time."""
    if not value:
        return ""
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment.astimezone(CHINA_TIME).strftime(fmt)


def percent(value: float | None) -> str:
    """0.873 -> "87%"."""
    return "" if value is None else f"{value:.0%}"


def init_app(app: Flask) -> None:
    """Register the template filters."""
    app.add_template_filter(render_markdown, "markdown")
    app.add_template_filter(china_time, "china_time")
    app.add_template_filter(percent, "percent")
