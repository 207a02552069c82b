"""HTTP caching of the public FAQ pages: an ETag tied to the knowledge-base version (the `kb_generation`
that every sync bumps), to this release's templates and assets and to the notice banner shown (the
active notices' ids and end times), `Cache-Control: public`, and a 304 for a conditional GET of an
unchanged page, answered before anything is rendered.

A page's max-age never reaches past the moment its banner changes (a notice ends or starts), so a
cache shows a notice no longer than its end time; a notice published or withdrawn on another node
shows up, or goes, within NOTICE_CACHE_SECONDS plus PUBLIC_PAGE_MAX_AGE.

What a shared cache may keep holds nothing about the visitor: public pages show no flashed messages,
no CSRF token and no vote state. The one per-visitor part of an article page, its "这篇文章有帮助吗？"
form (CSRF token, "已评价"), is a separate `no-store` page framed into it (merchant.feedback). Public
pages also carry `Vary: Cookie` (Flask adds it whenever the session is read, as flask-login does on
every response): a cache then never answers a visitor with cookies from another visitor's copy, even
if a future template were to read the session.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from flask import Flask, Response, current_app, g, make_response, render_template, request

from kb.db import get_meta
from kb.recent import Recent
from webapp.db import get_kb
from webapp.notices import notices_key, seconds_until_change

_RELEASE = "posdesk.release"
_RENDERED = "posdesk.rendered_pages"
# Public pages kept rendered per process: 71 articles, 14 categories, the code pages and the home
# page's few most-read variants, at 10-40 KB each.
RENDERED_PAGES_KEPT = 256


def kb_generation() -> str:
    """The knowledge base's version in the database (bumped by every sync that changes it)."""
    if "kb_generation" not in g:
        g.kb_generation = get_meta(get_kb(), "kb_generation", "0")
    return g.kb_generation


def page_etag(*key: object) -> str:
    """The ETag of a public page: the release, the knowledge-base version and the page's own key."""
    parts = [current_app.extensions[_RELEASE], kb_generation(), *map(str, key)]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def _cacheable(response: Response, etag: str) -> Response:
    response.set_etag(etag)
    response.cache_control.public = True
    max_age = int(current_app.config["PUBLIC_PAGE_MAX_AGE"])
    change = seconds_until_change()
    response.cache_control.max_age = max_age if change is None else min(max_age, change)
    response.vary.add("Cookie")
    return response


def render_public(template: str, key: tuple, **context) -> Response:
    """Render a public page (no per-visitor content) with its ETag and public caching; a conditional
    GET whose ETag still matches is a 304, without rendering, and a page this process rendered at
    that ETag (and host) is served as rendered, not rendered per view."""
    etag = page_etag(request.endpoint, *key, notices_key())
    if request.if_none_match.contains_weak(etag):  # If-None-Match compares weakly (RFC 9110 13.1.2)
        return _cacheable(Response(status=304), etag)
    pages = current_app.extensions[_RENDERED]
    html = pages.get((etag, request.host_url), lambda: render_template(template, public_page=True, **context))
    return _cacheable(make_response(html), etag)


def _release_tag(app: Flask, asset_digest: str) -> str:
    """A digest of this release's templates and static assets: a deploy changes every page's ETag."""
    digest = hashlib.sha256(asset_digest.encode())
    templates = Path(app.root_path) / app.template_folder
    for path in sorted(templates.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(templates).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def init_app(app: Flask, asset_digest: str = "") -> None:
    """Compute the release tag once per process."""
    app.extensions[_RELEASE] = _release_tag(app, asset_digest)
    app.extensions[_RENDERED] = Recent(RENDERED_PAGES_KEPT)
