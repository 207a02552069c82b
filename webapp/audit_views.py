"""Recording the audit trail from a request: `audit()` fills in who acts (the logged-in user, or the
API token as "api:<name>") and from where (the client's address, as ProxyFix set it)."""

from __future__ import annotations

from typing import Any

from flask import g, has_request_context, request
from flask_login import current_user

from webapp.db import get_desk
from webapp.desk import audit as audit_log


def request_actor() -> str:
    """Who is acting in this request: the logged-in user, the API token ("api:<name>"), "anonymous",
    or "cli" outside a request."""
    if not has_request_context():
        return "cli"
    token = g.get("api_token")
    if token is not None:
        return f"api:{token.name}"
    if current_user and current_user.is_authenticated:
        return current_user.username
    return "anonymous"


def audit(
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
    actor: str | None = None,
) -> None:
    """Record an action of this request (joining its write transaction when called inside one)."""
    address = request.remote_addr if has_request_context() else None
    audit_log.record(get_desk(), actor or request_actor(), action, target, detail, address)
