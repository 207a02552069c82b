"""`GET /healthz`: what a load balancer or reverse proxy asks before sending a node traffic."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from sqlalchemy import text

from webapp.db import get_desk, get_kb
from webapp.model import current_triager

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """200 with {"ok": true, "model": version or null} when this node can read its desk database and
    its search index; 503 with {"ok": false, "error": ...} when either fails (the node should get no
    traffic). A missing model is healthy: tickets wait for one and search works lexically."""
    try:
        with get_desk().read() as conn:
            conn.execute(text("SELECT 1"))
        get_kb().execute("SELECT count(*) FROM articles").fetchone()
    except Exception as e:  # any failure means: send this node nothing
        log.warning("health check failed: %s", e)
        return jsonify({"ok": False, "error": type(e).__name__}), 503
    triager = current_triager()
    response = jsonify({"ok": True, "model": triager.version if triager else None})
    response.headers["Cache-Control"] = "no-store"
    return response
