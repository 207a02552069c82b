"""Editing knowledge-base articles in the desk: validated saves of an article's whole source (front
matter and body), each one a numbered revision (who, when, what) that can be diffed and restored,
publishing and unpublishing, and the articles due for re-verification.

An article's truth is its source text as `knowledge_files` holds it; `edited_by` set there means the
desk changed it, so `posdesk init` keeps it (`webapp.knowledge.publish`). Every change moves the
knowledge generation on, so every node rebuilds its search index from the new source.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import Connection, func, insert, select, update

from kb.articles import Article, ArticleError, parse_article_text
from kb.codes import codes_from_text
from kb.store import ARTICLE_FOLDER, categories_from_text
from webapp import knowledge
from webapp.desk import audit
from webapp.desk.schema import article_revisions, knowledge_files
from webapp.desk.storage import Desk, now

SEED_AUTHOR = "data/"  # the author of revision 1: the source as data/ had it before the first desk edit
SOURCE_MAX_CHARS = 60_000  # the longest article is about 3,000 characters
CHINA_TIME = dt.timezone(dt.timedelta(hours=8), "CST")  # re-verify dates are China dates
_SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_SLUG_MAX_CHARS = 80
_RESERVED_SLUGS = {"new", "preview"}  # /agent/articles/new and /preview are the editor's own pages
_FRONT_MATTER = re.compile(r"\A(---[ \t]*\n)(.*?)(\n---[ \t]*\n.*)\Z", re.S)
_PUBLISHED_LINE = re.compile(r"^published\s*:")

ACTIONS = {
    "seed": "data/ 原文",
    "create": "新建",
    "save": "保存",
    "revert": "恢复",
    "publish": "发布",
    "unpublish": "下线",
}
FIELD_LABELS = {
    "source": "全文",
    "slug": "网址名",
    "title": "标题",
    "category": "分类",
    "audience": "读者",
    "tags": "标签",
    "codes": "应答码",
    "related": "相关文章",
    "updated": "更新日期",
    "reverify_by": "复核日期",
    "published": "发布状态",
    "body": "正文",
}


class EditError(ValueError):
    """An edit refused: `errors` are (field, Chinese message) pairs, the field a front-matter key,
    "body", "slug" or "source" (the text as a whole). Nothing is stored."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors))
        self.errors = tuple(errors)

    @property
    def messages(self) -> list[str]:
        """Each error as the editor reads it: "分类（category）：…"."""
        return [
            message if field == "source" else f"{FIELD_LABELS.get(field, field)}（{field}）：{message}"
            for field, message in self.errors
        ]


class EditConflict(EditError):
    """The article changed after the editor opened it: `current` is the digest of its source now, so
    that saving again, knowingly, replaces that version (which stays in the history)."""

    def __init__(self, current: str, by: str, number: int | None) -> None:
        which = f"第 {number} 版，" if number else ""
        super().__init__(
            [
                (
                    "source",
                    f"你打开这篇文章之后，它已被 {by} 修改（{which}见“修改历史”），你的修改没有保存。"
                    "请先查看对方的修改；再次点击“保存”将以你的版本替换它（对方的版本仍保留在历史中）。",
                )
            ]
        )
        self.current = current


class ArticleNotFound(LookupError):
    """No article (or no such revision of it) in the desk's sources."""


@dataclass(frozen=True)
class DeskArticle:
    """An article as the desk holds it: parsed, with its source and who last changed it (`edited_by`
    None: as data/ has it; `changed` is when its source was last written, UTC)."""

    article: Article
    source: str
    changed: str
    edited_by: str | None

    @property
    def slug(self) -> str:
        """The article's slug."""
        return self.article.slug

    def overdue(self, today: dt.date) -> bool:
        """True when its re-verify date is before `today`."""
        return bool(self.article.reverify_by) and self.article.reverify_by < today.isoformat()


@dataclass(frozen=True)
class Revision:
    """One saved state of an article's source; `diff` is the unified diff against the revision before
    it ("" for the first)."""

    number: int
    at: str
    author: str
    action: str
    content: str
    note: str | None
    diff: str = ""

    @property
    def action_label(self) -> str:
        """The action in Chinese."""
        return ACTIONS.get(self.action, self.action)


def source_path(slug: str) -> str:
    """The `knowledge_files` path of an article: "articles/<slug>.md"."""
    return f"{ARTICLE_FOLDER}/{slug}.md"


def today() -> dt.date:
    """Today's date in China, what re-verify dates are compared with."""
    return dt.datetime.now(CHINA_TIME).date()


def normalise_source(source: str) -> str:
    """The source as data/ stores it: LF line ends (a browser's textarea sends CRLF), no byte-order
    mark, no trailing blank lines, one final newline."""
    text = (source or "").replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    return text.rstrip() + "\n"


def with_published(source: str, published: bool) -> str:
    """The source with its front matter saying `published: false`, or without that line (published
    is the default); the rest of the text untouched."""
    match = _FRONT_MATTER.match(source)
    if not match:
        raise EditError([("source", "开头缺少用两行 --- 括起的 YAML 头信息")])
    lines = [line for line in match.group(2).split("\n") if not _PUBLISHED_LINE.match(line)]
    if not published:
        lines.append("published: false")
    return match.group(1) + "\n".join(lines) + match.group(3)


@lru_cache(maxsize=1024)  # keyed on the source itself: an edited article is a new key
def _parse(name: str, source: str) -> Article:
    return parse_article_text(name, source)


@dataclass(frozen=True)
class _Knowledge:
    """What validation checks an article against: the desk's categories, codes and articles."""

    categories: tuple[str, ...]
    codes: frozenset[str]
    articles: dict[str, Article]


def _rows(conn: Connection) -> dict[str, dict]:
    return {r["path"]: dict(r) for r in conn.execute(select(knowledge_files)).mappings()}


def _knowledge(rows: dict[str, dict]) -> _Knowledge:
    articles = {}
    for path, row in rows.items():
        if path.startswith(f"{ARTICLE_FOLDER}/") and path.endswith(".md"):
            article = _parse(path.rsplit("/", 1)[-1], row["content"])
            articles[article.slug] = article
    categories = categories_from_text(rows["categories.yaml"]["content"]) if "categories.yaml" in rows else []
    codes = codes_from_text(rows["response_codes.csv"]["content"]) if "response_codes.csv" in rows else {}
    return _Knowledge(tuple(c.slug for c in categories), frozenset(codes), articles)


def _check(slug: str, source: str, known: _Knowledge, before: Article | None, is_admin: bool) -> Article:
    """The parsed article, or EditError listing everything wrong with it."""
    if len(source) > SOURCE_MAX_CHARS:
        raise EditError([("source", f"全文过长：最多 {SOURCE_MAX_CHARS} 个字符")])
    try:
        article = _parse(f"{slug}.md", source)
    except ArticleError as e:
        raise EditError([(e.field or "source", e.message)]) from None
    errors = []
    if article.category not in known.categories:
        errors.append(("category", f"“{article.category}”不是知识库的分类，可选：{'、'.join(known.categories)}"))
    try:
        dt.date.fromisoformat(article.updated)
    except ValueError:
        errors.append(("updated", "须为日期，格式 YYYY-MM-DD"))
    for code in article.codes:
        if code not in known.codes:
            errors.append(("codes", f"“{code}”不是已知的应答码（见应答码表）"))
    targets = [("related", s) for s in article.related] + [("body", s) for s in article.linked_slugs]
    for field, target in targets:
        other = known.articles.get(target)
        where = "related 里的" if field == "related" else "正文链接 /articles/"
        if target == slug and field == "related":
            errors.append((field, "相关文章不能是文章自己"))
        elif other is None and target != slug:
            errors.append((field, f"{where}{target} 不是已有的文章"))
        elif other is not None and article.is_public and not other.is_public:
            errors.append((field, f"{where}{target} 是内部文章，公开文章不能链接内部文章"))
    if before is not None and before.audience != article.audience and not is_admin:
        errors.append(("audience", "只有管理员可以在公开（merchant）和内部（agent）之间切换文章"))
    if errors:
        raise EditError(errors)
    return article


def check_slug(slug: str) -> str:
    """The slug of a new article, trimmed; EditError unless it is lowercase letters, digits and
    single hyphens."""
    slug = (slug or "").strip()
    if slug in _RESERVED_SLUGS:
        raise EditError([("slug", f"{slug} 是工作台网址的一部分，请换一个")])
    if not slug or len(slug) > _SLUG_MAX_CHARS or not _SLUG.match(slug):
        rule = f"只能用小写英文字母、数字和连字符（-），不超过 {_SLUG_MAX_CHARS} 个字符，例如 refund-void-permission"
        raise EditError([("slug", rule)])
    return slug


def check(desk: Desk, slug: str, source: str, is_admin: bool = False) -> Article:
    """Validate a source as `save` would, without storing it (the preview); EditError when wrong."""
    with desk.read() as conn:
        rows = _rows(conn)
    known = _knowledge(rows)
    return _check(slug, normalise_source(source), known, known.articles.get(slug), is_admin)


def _record(
    desk: Desk,
    conn: Connection,
    slug: str,
    content: str,
    author: str,
    action: str,
    row: dict | None,
    note: str | None,
    address: str | None,
) -> Revision:
    """Write a new current source and its revision (the seed first, before a first desk edit), move the
    generation on and audit it: inside the caller's write transaction."""
    path, at = source_path(slug), now()
    last = conn.execute(select(func.max(article_revisions.c.number)).where(article_revisions.c.path == path)).scalar()
    if last is None and row is not None:
        seed = {"path": path, "number": 1, "at": row["updated"], "author": SEED_AUTHOR, "action": "seed"}
        conn.execute(insert(article_revisions).values(**seed, content=row["content"], note=None))
        last = 1
    number = (last or 0) + 1
    values = {"content": content, "sha256": knowledge.digest(content), "updated": at, "edited_by": author}
    if row is None:
        conn.execute(insert(knowledge_files).values(path=path, **values))
    else:
        conn.execute(update(knowledge_files).where(knowledge_files.c.path == path).values(**values))
    conn.execute(
        insert(article_revisions).values(
            path=path, number=number, at=at, author=author, action=action, content=content, note=note
        )
    )
    knowledge.next_generation(desk)
    audit.record(desk, author, f"article.{action}", f"article:{slug}", {"revision": number}, address)
    return Revision(number, at, author, action, content, note)


def _change(
    desk: Desk,
    slug: str,
    author: str,
    is_admin: bool,
    action: str,
    make,
    note: str | None = None,
    address: str | None = None,
    base: str | None = None,
) -> Revision:
    """The common path of every change: in one write transaction, read the current source (refuse
    when it is no longer `base`), let `make(row)` give the new one, validate it, refuse a change that
    changes nothing, record it."""
    with desk.write() as conn:
        desk.serialise(conn, "posdesk.knowledge.publish")  # `init` and editors take turns on the sources
        rows = _rows(conn)
        row = rows.get(source_path(slug))
        if row is None and action != "create":
            raise ArticleNotFound(slug)
        if row is not None and action == "create":
            raise EditError([("slug", f"{slug} 已被文章“{_title(row, slug)}”使用，请换一个")])
        if base is not None and row is not None and row["sha256"] != base:
            raise EditConflict(row["sha256"], row["edited_by"] or SEED_AUTHOR, _last_number(conn, slug))
        content = normalise_source(make(row))
        known = _knowledge(rows)
        _check(slug, content, known, known.articles.get(slug), is_admin)
        if row is not None and content == row["content"]:
            raise EditError([("source", "内容没有变化，未保存新版本")])
        return _record(desk, conn, slug, content, author, action, row, note, address)


def _last_number(conn: Connection, slug: str) -> int | None:
    return conn.execute(
        select(func.max(article_revisions.c.number)).where(article_revisions.c.path == source_path(slug))
    ).scalar()


def _title(row: dict, slug: str) -> str:
    try:
        return _parse(f"{slug}.md", row["content"]).title
    except ArticleError:
        return slug


def save(
    desk: Desk,
    slug: str,
    source: str,
    author: str,
    is_admin: bool = False,
    address: str | None = None,
    base: str | None = None,
) -> Revision:
    """Save an edited article's whole source as its next revision (audited as `article.save`).

    `base`: the sha256 (`knowledge.digest`) of the source the editor started from; when the article
    has changed since (another editor saved, `init` published data/), EditConflict says by whom and
    nothing is stored, so a save never silently undoes someone else's.

    EditError (Chinese, per field) when the source does not parse, names an unknown category, code or
    article, switches the audience without `is_admin`, or changes nothing; ArticleNotFound when there
    is no such article. Nothing is stored then.
    """
    return _change(desk, slug, author, is_admin, "save", lambda row: source, address=address, base=base)


def create(
    desk: Desk, slug: str, source: str, author: str, is_admin: bool = False, address: str | None = None
) -> Revision:
    """Add a new article under `slug` (revision 1, audited as `article.create`); EditError for a
    malformed or taken slug, or a source `save` would refuse."""
    slug = check_slug(slug)
    return _change(desk, slug, author, is_admin, "create", lambda row: source, address=address)


def revert(
    desk: Desk, slug: str, number: int, author: str, is_admin: bool = False, address: str | None = None
) -> Revision:
    """Make revision `number`'s content current again, as a new revision (audited as
    `article.revert`). ArticleNotFound when there is no such revision; EditError when it is the
    current content already or no longer valid (a related article since removed, say)."""
    with desk.read() as conn:
        content = conn.execute(
            select(article_revisions.c.content).where(
                article_revisions.c.path == source_path(slug), article_revisions.c.number == number
            )
        ).scalar()
    if content is None:
        raise ArticleNotFound(f"{slug} revision {number}")
    return _change(desk, slug, author, is_admin, "revert", lambda row: content, f"恢复到第 {number} 版", address)


def set_published(
    desk: Desk, slug: str, published: bool, author: str, is_admin: bool = False, address: str | None = None
) -> Revision:
    """Publish or unpublish an article (front matter `published: false`), as a new revision audited
    as `article.publish` or `article.unpublish`: an unpublished article is in no page, search,
    suggestion or API answer. EditError when it already is in that state."""
    action = "publish" if published else "unpublish"
    try:
        return _change(
            desk, slug, author, is_admin, action, lambda row: with_published(row["content"], published), address=address
        )
    except EditError as e:
        if e.errors == (("source", "内容没有变化，未保存新版本"),):
            raise EditError([("published", "文章已是发布状态" if published else "文章已是下线状态")]) from None
        raise


def linking_to(desk: Desk, slug: str) -> list[tuple[str, str]]:
    """The published articles other than `slug` that name it in `related` or link to it in their body,
    as (slug, title) sorted by slug: what shows a broken link once `slug` is unpublished."""
    return [
        (a.slug, a.article.title)
        for a in list_articles(desk)
        if a.slug != slug and a.article.published and (slug in a.article.related or slug in a.article.linked_slugs)
    ]


def _desk_article(row: dict) -> DeskArticle:
    article = _parse(row["path"].rsplit("/", 1)[-1], row["content"])
    return DeskArticle(article, row["content"], row["updated"], row["edited_by"])


def list_articles(desk: Desk) -> list[DeskArticle]:
    """Every article in the desk's sources, published or not, by slug."""
    with desk.read() as conn:
        rows = conn.execute(
            select(knowledge_files)
            .where(knowledge_files.c.path.startswith(f"{ARTICLE_FOLDER}/", autoescape=True))
            .order_by(knowledge_files.c.path)
        ).mappings()
        return [_desk_article(dict(r)) for r in rows if r["path"].endswith(".md")]


def get_article(desk: Desk, slug: str) -> DeskArticle | None:
    """One article as the desk holds it, or None."""
    with desk.read() as conn:
        query = select(knowledge_files).where(knowledge_files.c.path == source_path(slug))
        row = conn.execute(query).mappings().first()
    return _desk_article(dict(row)) if row else None


def history(desk: Desk, slug: str) -> list[Revision]:
    """An article's revisions, newest first, each with its unified diff against the one before; []
    while it is as data/ has it (never edited in the desk)."""
    with desk.read() as conn:
        rows = conn.execute(
            select(article_revisions)
            .where(article_revisions.c.path == source_path(slug))
            .order_by(article_revisions.c.number)
        ).all()
    revisions, previous = [], None
    for r in rows:
        diff = ""
        if previous is not None:
            lines = difflib.unified_diff(
                previous.content.splitlines(),
                r.content.splitlines(),
                f"第 {previous.number} 版",
                f"第 {r.number} 版",
                lineterm="",
            )
            diff = "\n".join(lines)
        previous = Revision(r.number, r.at, r.author, r.action, r.content, r.note, diff)
        revisions.append(previous)
    return revisions[::-1]


def articles_past_reverify(desk: Desk, on: dt.date | None = None) -> list[tuple[str, str, str]]:
    """The published articles whose `reverify_by` date is before `on` (default: today in China), as
    (slug, title, reverify_by) sorted oldest date first, then by slug. Unpublished articles are left
    out: nobody reads them until they are published again."""
    on = on or today()
    due = [a.article for a in list_articles(desk) if a.article.published and a.overdue(on)]
    return [(a.slug, a.title, a.reverify_by) for a in sorted(due, key=lambda a: (a.reverify_by, a.slug))]
