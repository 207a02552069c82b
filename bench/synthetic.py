"""A deterministic synthetic knowledge base for timing search at scale.

It holds the real articles plus generated ones that recombine the real articles' lines (paragraphs,
list items and steps, section by section), tags and codes under new slugs.
"""

from __future__ import annotations

import random
import re
import shutil
from pathlib import Path

import yaml

from kb.articles import Article, load_articles
from kb.paths import data_dir

_SECTION = re.compile(r"^##\s+(.+)$", re.M)


def _sections(article: Article) -> list[tuple[str, list[str]]]:
    """Split a body into (heading, non-empty lines) pairs."""
    parts = _SECTION.split(article.body)
    return [
        (heading.strip(), [line for line in text.splitlines() if line.strip()])
        for heading, text in zip(parts[1::2], parts[2::2], strict=True)
    ]


def _front_matter(meta: dict) -> str:
    return "---\n" + yaml.safe_dump(meta, allow_unicode=True, sort_keys=False, width=1000) + "---\n"


def generate_articles(real: list[Article], count: int, seed: int) -> dict[str, str]:
    """Return `count` generated article files as {slug: Markdown text}, the same for the same seed.

    Each copies the audience, category and section headings of a random real article and fills
    every section with lines drawn from that section in real articles of the same audience.
    """
    rng = random.Random(seed)
    pools: dict[tuple[str, str], list[str]] = {}
    for article in real:
        for heading, lines in _sections(article):
            pools.setdefault((article.audience, heading), []).extend(lines)
    tags = sorted({t for a in real for t in a.tags})
    codes = sorted({c for a in real for c in a.codes})
    titles = [a.title for a in real]
    slugs = [a.slug for a in real]
    files = {}
    for i in range(count):
        template = rng.choice(real)
        body = []
        for heading, _ in _sections(template):
            pool = pools[(template.audience, heading)]
            body.append(f"## {heading}\n\n" + "\n".join(rng.sample(pool, min(len(pool), rng.randint(2, 5)))))
        meta = {
            "title": f"{rng.choice(tags)}：{rng.choice(titles)}",
            "category": template.category,
            "audience": template.audience,
            "tags": rng.sample(tags, rng.randint(6, 14)),
            "codes": rng.sample(codes, rng.choice((0, 0, 1, 2, 3))),
            "related": rng.sample(slugs, 2),
            "updated": template.updated,
        }
        files[f"synthetic-{i:05d}"] = _front_matter(meta) + "\n" + "\n\n".join(body) + "\n"
    return files


def write_corpus(target: Path, size: int, seed: int = 20261126, source: Path | None = None) -> Path:
    """Write a data folder at target with `size` articles (the real ones, the rest generated); return it.

    Categories, the response-code table and the jieba dictionaries are copied from the source data folder.
    """
    source = source or data_dir()
    target.mkdir(parents=True, exist_ok=True)
    for name in ("categories.yaml", "response_codes.csv"):
        shutil.copy2(source / name, target / name)
    shutil.copytree(source / "jieba", target / "jieba", dirs_exist_ok=True)
    articles = target / "articles"
    articles.mkdir(exist_ok=True)
    real = load_articles(source / "articles")
    for article in real:
        shutil.copy2(source / "articles" / f"{article.slug}.md", articles / f"{article.slug}.md")
    for slug, text in generate_articles(real, max(0, size - len(real)), seed).items():
        (articles / f"{slug}.md").write_text(text, encoding="utf-8")
    return target
