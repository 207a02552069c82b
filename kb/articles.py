"""Knowledge-base articles: reading the Markdown files in `data/articles/` into `Article`s."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from kb.paths import data_dir

AUDIENCES = ("merchant", "agent")
MERCHANT_SECTIONS = ("症状", "原因", "处理步骤", "何时联系客服")
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n(.*)\Z", re.S)
_LINK = re.compile(r"\[([^\]]*)\]\(([^)]*)\)")
_ARTICLE_LINK = re.compile(r"\]\(/articles/([a-z0-9-]+)\)")
_MARKUP = re.compile(r"[#*_`>|\-\s]+")


class ArticleError(ValueError):
    """An article file that cannot be read: `str(e)` says in English which file and what is wrong;
    `field` names the front-matter field at fault ("" for the file as a whole) and `message` says it
    in Chinese, for an editor in the desk."""

    def __init__(self, text: str, field: str = "", message: str | None = None) -> None:
        super().__init__(text)
        self.field = field
        self.message = message or text


@dataclass(frozen=True)
class Article:
    """One knowledge-base article as authored."""

    slug: str
    title: str
    category: str
    audience: str
    tags: tuple[str, ...]
    codes: tuple[str, ...]
    related: tuple[str, ...]
    updated: str
    body: str
    published: bool = True  # front matter `published: false` keeps an article out of every page and search
    reverify_by: str = ""  # ISO date by which an editor should check the article again, or ""

    @property
    def is_public(self) -> bool:
        """True for merchant (public) articles, False for internal ones."""
        return self.audience == "merchant"

    @property
    def linked_slugs(self) -> tuple[str, ...]:
        """Slugs the body links to with `/articles/<slug>`."""
        return tuple(dict.fromkeys(_ARTICLE_LINK.findall(self.body)))

    @property
    def sections(self) -> tuple[str, ...]:
        """The second-level headings of the body, in order."""
        return tuple(m.strip() for m in re.findall(r"^##\s+(.+)$", self.body, re.M))

    @property
    def plain_text(self) -> str:
        """The body as a reader sees it: link targets and Markdown markup removed."""
        return displayed_text(self.body)

    @property
    def content_hash(self) -> str:
        """A digest of everything authored, to tell whether a stored copy is stale."""
        parts = [self.slug, self.title, self.category, self.audience, *self.tags, "|", *self.codes]
        parts += ["|", *self.related, self.updated, str(self.published), self.reverify_by, self.body]
        return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def displayed_text(body: str) -> str:
    """Markdown as a reader sees it: link text kept, link targets and markup removed, original
    case and punctuation kept (what snippets quote)."""
    return _MARKUP.sub(" ", _LINK.sub(r"\1", body)).strip()


def _strings(value: object, field: str, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ArticleError(f"{name}: '{field}' must be a list", field, f"{field} 须为列表，例如 [a, b]")
    return tuple(str(v).strip() for v in value if str(v).strip())


def _date(value: object, field: str, name: str) -> str:
    """A front-matter date as ISO text ("" when absent); ArticleError for anything but YYYY-MM-DD."""
    if value is None or value == "":
        return ""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value.isoformat()
    try:
        return dt.date.fromisoformat(str(value).strip()).isoformat()
    except ValueError:
        raise ArticleError(
            f"{name}: '{field}' must be a date (YYYY-MM-DD)", field, f"{field} 须为日期，格式 YYYY-MM-DD"
        ) from None


def parse_article(path: Path) -> Article:
    """Parse one article file; raise ArticleError naming the file when it is malformed."""
    return parse_article_text(path.name, path.read_text(encoding="utf-8"))


def parse_article_text(name: str, source: str) -> Article:
    """Parse one article's Markdown source; `name` is its file name ("merchant-frozen.md"), which gives
    the slug. ArticleError naming the file when it is malformed."""
    match = _FRONT_MATTER.match(source)
    if not match:
        raise ArticleError(
            f"{name}: no YAML front matter between '---' lines", "", "开头缺少用两行 --- 括起的 YAML 头信息"
        )
    import yaml  # here, not at the top: searching and most commands never parse an article (15 ms)

    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"第 {mark.line + 1} 行第 {mark.column + 1} 列附近" if mark is not None else ""
        message = f"头信息{where}不是有效的 YAML：请检查列表的方括号和逗号、冒号后的空格和引号是否配对"
        raise ArticleError(f"{name}: front matter is not valid YAML: {e}", "", message) from e
    if not isinstance(meta, dict):
        raise ArticleError(f"{name}: front matter must be 'field: value' lines", "", "头信息须为“字段: 值”的形式")
    missing = [k for k in ("title", "category", "audience") if not meta.get(k)]
    if missing:
        raise ArticleError(f"{name}: missing {', '.join(missing)}", missing[0], f"缺少 {'、'.join(missing)}")
    if meta["audience"] not in AUDIENCES:
        raise ArticleError(
            f"{name}: audience must be merchant or agent",
            "audience",
            "audience 只能是 merchant（公开）或 agent（内部）",
        )
    published = meta.get("published", True)
    if not isinstance(published, bool):
        raise ArticleError(f"{name}: 'published' must be true or false", "published", "published 只能是 true 或 false")
    updated = meta.get("updated") or ""
    if isinstance(updated, dt.date):
        updated = updated.isoformat()
    return Article(
        slug=name.removesuffix(".md"),
        title=str(meta["title"]).strip(),
        category=str(meta["category"]).strip(),
        audience=meta["audience"],
        tags=_strings(meta.get("tags"), "tags", name),
        codes=tuple(c.upper() for c in _strings(meta.get("codes"), "codes", name)),
        related=_strings(meta.get("related"), "related", name),
        updated=str(updated),
        body=match.group(2).strip() + "\n",
        published=published,
        reverify_by=_date(meta.get("reverify_by"), "reverify_by", name),
    )


def load_articles(folder: Path | None = None) -> list[Article]:
    """Read every `*.md` article in the folder, sorted by slug."""
    folder = folder or data_dir() / "articles"
    return [parse_article(p) for p in sorted(folder.glob("*.md"))]
