"""Who is asking: desk logins (flask-login sessions, roles agent, editor and admin) and API bearer tokens."""

from __future__ import annotations

from flask import Flask, abort, current_app, g, request
from flask_login import current_user

from webapp.db import get_desk
from webapp.deferred import deferred
from webapp.desk import accounts, sessions
from webapp.extensions import login_manager


def init_app(app: Flask) -> None:
    """Wire flask-login: the login page, the message and how a session finds its user."""
    login_manager.init_app(app)
    login_manager.login_view = "agent.login"
    login_manager.login_message = "请先登录客服工作台。"
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"


@login_manager.user_loader
def _load_user(session_id: str) -> accounts.User | None:
    return sessions.load_session_user(get_desk(), session_id, current_app.config["DESK_SESSION_HOURS"])


def require_login() -> None:
    """Send anonymous visitors to the login page (a blueprint's before_request guard)."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    return None


def require_admin() -> None:
    """Let only admins through: anonymous visitors log in first, agents get 403."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not current_user.is_admin:
        abort(403)
    return None


def request_token() -> accounts.ApiToken | None:
    """The API token this request carries, or None; a malformed or unknown token is a 401."""
    if "api_token" in g:
        return g.api_token
    header = request.headers.get("Authorization", "")
    token = None
    if header:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            abort(401, description="Authorization must be 'Bearer <token>'")
        # The last-use stamp is written by the background worker: a GET of the API never commits.
        token = accounts.verify_token(get_desk(), secret.strip(), deferred().note_token_use)
        if token is None:
            abort(401, description="invalid or revoked API token")
    g.api_token = token
    return token


def require_token() -> accounts.ApiToken:
    """The request's API token; 401 when there is none."""
    token = request_token()
    if token is None:
        abort(401, description="this endpoint needs an API token: send 'Authorization: Bearer <token>'")
    return token
