"""The posdesk web app: merchant pages, the agent desk and the JSON API, over kb and triage."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import parse_qsl

from flask import Flask, abort, request
from werkzeug.routing import IntegerConverter

from triage.tickets import TEXT_MAX_CHARS

SECRET_KEY_FILE = "secret_key"


def instance_folder() -> Path:
    """The instance folder: POSDESK_INSTANCE if set, else ./instance in the working directory."""
    return Path(os.environ.get("POSDESK_INSTANCE") or Path.cwd() / "instance").resolve()


def _persistent_secret_key(instance: Path) -> str:
    """Read the instance's secret key, creating it (readable by its owner only) on first use."""
    path = instance / SECRET_KEY_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip()


# Every asset is served from this site: no CDN, no web fonts, no inline script or style.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


# Pages and answers that can carry a merchant's contact or ticket text: never kept by a browser or proxy.
_PRIVATE_PATHS = ("/agent", "/tickets/", "/api/v1/tickets", "/api/v1/triage", "/api/v1/search")


def _security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.path.startswith(_PRIVATE_PATHS):
        response.headers["Cache-Control"] = "no-store"
    return response


class RowIdConverter(IntegerConverter):
    """`<id:ticket_id>`: a positive integer that fits SQLite's 64-bit INTEGER; a larger one is a 404."""

    def __init__(self, url_map) -> None:
        super().__init__(url_map, min=1, max=2**63 - 1)


def _check_request_body() -> None:
    """Before anything reads a request's body: a body over MAX_CONTENT_LENGTH is a 413, chunked ones
    included (Werkzeug would cut those short silently), and form fields that are not UTF-8 are a 400
    (Werkzeug would keep the bad bytes as literal "%FF%FE" text, to be stored)."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    from webapp.errors import refuse

    data = request.get_data(cache=True)  # later parsing (CSRF, forms, JSON) reads this copy
    limit = request.max_content_length
    if limit is not None and len(data) >= limit:
        abort(413)
    message = "提交的内容含有无法识别的字符（不是 UTF-8 编码），请检查后重新提交。"
    if request.mimetype == "application/x-www-form-urlencoded":
        try:
            parse_qsl(data.decode("utf-8"), keep_blank_values=True, errors="strict")
        except UnicodeDecodeError:
            refuse(400, "form fields must be UTF-8", message)
    elif request.mimetype == "multipart/form-data" and any("\ufffd" in v for v in request.form.values()):
        refuse(400, "form fields must be UTF-8", message)  # U+FFFD is what undecodable bytes became


def create_app(test_config: dict | None = None) -> Flask:
    """Build the Flask app; configuration from defaults, instance config.py, POSDESK_* env, test_config."""
    from webapp import ratelimits

    app = Flask(__name__, instance_path=str(instance_folder()), instance_relative_config=True)
    app.url_map.converters["id"] = RowIdConverter
    app.config.from_mapping(
        SECRET_KEY=None,
        DATABASE=str(Path(app.instance_path) / "posdesk.db"),
        MODEL_DIR=str(Path(app.instance_path) / "model"),
        # Requests larger than this get 413; the ticket text limit (TEXT_MAX_CHARS) is far below it.
        MAX_CONTENT_LENGTH=64 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=False,  # set POSDESK_SESSION_COOKIE_SECURE=true when served over HTTPS
        SESSION_COOKIE_NAME="posdesk_session",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session: a slow merchant is no attacker
        RATELIMIT_ENABLED=True,
        RATELIMIT_HEADERS_ENABLED=True,
        # Counters shared by every worker process (a SQLite file); redis:// or memcached:// work too.
        RATELIMIT_STORAGE_URI=ratelimits.default_storage_uri(Path(app.instance_path)),
        TICKET_RATE_LIMIT="10 per minute;60 per hour",
        LOGIN_RATE_LIMIT="10 per minute",
        API_RATE_LIMIT="120 per minute",
        VOTE_RATE_LIMIT="10 per minute;100 per day",  # per address, all articles
        ARTICLE_VOTE_RATE_LIMIT="3 per day",  # per address and article: a cleared cookie is no new vote
        # Failed logins for one account from one address before each further try must wait (doubling).
        LOGIN_FREE_FAILURES=5,
        DESK_SESSION_HOURS=12,  # a desk login lasts this long at most
        TRIAGE_WORKER=True,  # triage tickets filed while no model existed in a background thread
        TRIAGE_WORKER_SECONDS=5.0,  # also how often noted reads and token uses are written (webapp.deferred)
        VIEW_FLUSH_COUNT=1000,  # ... or sooner, once this many reads wait in a worker
        PUBLIC_PAGE_MAX_AGE=60,  # seconds a browser or proxy may show a FAQ page before asking again
        TICKETS_PER_PAGE=20,
        TRUSTED_PROXIES=0,
        TRIAGER_LOADER=None,  # tests may inject a loader(model_dir) -> Triager
    )
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("POSDESK")
    if test_config:
        app.config.update(test_config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _persistent_secret_key(Path(app.instance_path))
    app.config["TEXT_MAX_CHARS"] = TEXT_MAX_CHARS

    if app.config["TRUSTED_PROXIES"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    from webapp import admin, agent, api, assets, auth, backlog, caching, db, errors, merchant, model, render
    from webapp.extensions import csrf, limiter

    app.before_request(_check_request_body)  # first: before CSRF protection reads the form
    db.init_app(app)
    model.init_app(app)
    backlog.init_app(app)
    render.init_app(app)
    auth.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    errors.init_app(app)
    csrf.exempt(api.bp)  # the API authenticates with bearer tokens, never with the session cookie
    app.register_blueprint(merchant.bp)
    app.register_blueprint(agent.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(api.bp)
    app.after_request(_security_headers)
    caching.init_app(app, assets.init_app(app))  # WhiteNoise wraps the app: static files never reach Flask
    return app
