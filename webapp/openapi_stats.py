"""The OpenAPI description of `GET /api/v1/stats` (the dashboard's figures), merged into the API
document by `webapp.openapi`."""

from __future__ import annotations

from webapp.desk.stats import MAX_DAYS

_NUMBER = {"type": "number", "nullable": True}
_COUNT = {"type": "integer", "minimum": 0}
_EXAMPLES = {
    "type": "array",
    "description": "The newest tickets as [id, masked preview].",
    "items": {"type": "array", "items": {"oneOf": [{"type": "integer"}, {"type": "string"}]}},
}


def _object(required: list[str], properties: dict, description: str = "") -> dict:
    out = {"type": "object", "required": required, "properties": properties}
    return {**out, "description": description} if description else out


def schemas() -> dict:
    """The component schemas of the stats answer."""
    outcome = _object(["filed", "abandoned", "still_open"], {k: _COUNT for k in ("filed", "abandoned", "still_open")})
    query_count = _object(
        ["query", "count", "last_seen", "in_scope"],
        {
            "query": {"type": "string"},
            "count": _COUNT,
            "last_seen": {"type": "string"},
            "in_scope": {
                "type": "boolean",
                "nullable": True,
                "description": "About POS acquiring by the model's scope check (no-result searches; null: not judged).",
            },
        },
    )
    version = _object(
        ["model_version", "triaged", "decided", "confirmed", "accuracy", "precision", "confusions"],
        {
            "model_version": {"type": "string"},
            "triaged": _COUNT,
            "auto_routed": _COUNT,
            "auto_routed_share": _NUMBER,
            "out_of_scope": _COUNT,
            "out_of_scope_share": _NUMBER,
            "decided": _COUNT,
            "review_rate": _NUMBER,
            "confirmed": _COUNT,
            "accuracy": _NUMBER,
            "auto_decided": _COUNT,
            "auto_confirmed": _COUNT,
            "auto_accuracy": _NUMBER,
            "precision": {"type": "array", "items": {"type": "object"}},
            "confusions": {"type": "array", "items": {"type": "object"}},
        },
        "One model version's triage, measured by agents' decisions (confirmed or corrected categories).",
    )
    return {
        "StatsResponse": _object(
            [
                "ok",
                "start",
                "end",
                "generated",
                "volume",
                "backlog",
                "times",
                "triage",
                "funnel",
                "votes",
                "gaps",
                "bursts",
                "reverify",
            ],
            {
                "ok": {"type": "boolean", "enum": [True]},
                "start": {"type": "string", "format": "date"},
                "end": {"type": "string", "format": "date"},
                "generated": {"type": "string", "description": "When the figures were computed (UTC)."},
                "volume": _object(
                    ["days", "counts", "total"],
                    {
                        "days": {"type": "array", "items": {"type": "string", "format": "date"}},
                        "counts": {
                            "type": "object",
                            "additionalProperties": {"type": "array", "items": _COUNT},
                            "description": "Category slug ('' untriaged) -> tickets filed per day.",
                        },
                        "total": _COUNT,
                    },
                ),
                "backlog": {
                    "type": "object",
                    "additionalProperties": _COUNT,
                    "description": "Unresolved tickets now per status.",
                },
                "times": _object(
                    [
                        "tickets",
                        "first_response_median",
                        "first_response_p90",
                        "resolution_median",
                        "resolution_p90",
                        "overdue_share",
                    ],
                    {
                        "tickets": _COUNT,
                        "first_response_median": _NUMBER,
                        "first_response_p90": _NUMBER,
                        "resolution_median": _NUMBER,
                        "resolution_p90": _NUMBER,
                        "overdue_share": _NUMBER,
                    },
                    "Minutes; shares from 0 to 1.",
                ),
                "triage": {"type": "array", "items": version},
                "funnel": _object(
                    ["shown", "opened", "outcome", "opened_outcome", "deflection_rate"],
                    {
                        "shown": _COUNT,
                        "opened": _COUNT,
                        "outcome": outcome,
                        "opened_outcome": outcome,
                        "deflection_rate": _NUMBER,
                    },
                    "Visitors shown suggestions, who opened an article, and who filed, abandoned or are still open.",
                ),
                "votes": {"type": "array", "items": {"type": "object"}},
                "gaps": _object(
                    ["searches", "off_topic_total", "off_topic", "clusters"],
                    {
                        "searches": _object(
                            ["no_result", "no_click"],
                            {
                                "searches": _COUNT,
                                "no_result_total": _COUNT,
                                "no_result": {"type": "array", "items": query_count},
                                "no_click_total": _COUNT,
                                "no_click": {"type": "array", "items": query_count},
                                "no_click_unknown": _COUNT,
                            },
                        ),
                        "off_topic_total": _COUNT,
                        "off_topic": {"type": "array", "items": {"type": "object"}},
                        "clusters": _object(
                            ["tickets", "unclustered", "features", "clusters"],
                            {
                                "tickets": _COUNT,
                                "unclustered": _COUNT,
                                "features": {"type": "string"},
                                "clusters": {
                                    "type": "array",
                                    "items": _object(
                                        ["terms", "count", "examples"],
                                        {
                                            "terms": {"type": "array", "items": {"type": "string"}},
                                            "count": _COUNT,
                                            "examples": _EXAMPLES,
                                        },
                                    ),
                                },
                            },
                        ),
                    },
                ),
                "bursts": {
                    "type": "array",
                    "items": _object(
                        ["kind", "key", "count", "hours", "baseline_mean", "baseline_std", "since", "examples"],
                        {
                            "kind": {"type": "string", "enum": ["category", "code"]},
                            "key": {"type": "string"},
                            "count": _COUNT,
                            "hours": _COUNT,
                            "baseline_mean": {"type": "number"},
                            "baseline_std": {"type": "number"},
                            "since": {"type": "string"},
                            "examples": _EXAMPLES,
                        },
                    ),
                },
                "reverify": {
                    "type": "array",
                    "description": "Published articles past their re-verify-by date, oldest first.",
                    "items": _object(
                        ["slug", "title", "reverify_by"],
                        {
                            "slug": {"type": "string"},
                            "title": {"type": "string"},
                            "reverify_by": {"type": "string", "format": "date"},
                        },
                    ),
                },
            },
        )
    }


def path(error, ok, common: dict) -> dict:
    """The `/api/v1/stats` path item (`error`, `ok`: the document's response builders)."""
    day = {"type": "string", "format": "date"}
    return {
        "get": {
            "operationId": "getStats",
            "summary": "The dashboard's figures for a range of China days: volumes, backlog, response and resolution "
            "times, triage accuracy from agents' decisions per model version, the deflection funnel, article "
            "votes, content gaps (searches without result or click, off-topic tickets, clusters of "
            "low-confidence tickets) and bursts.",
            "security": [{"bearerAuth": []}],
            "parameters": [
                {
                    "name": "from",
                    "in": "query",
                    "required": False,
                    "schema": day,
                    "description": "First day (default: 29 days before `to`).",
                },
                {
                    "name": "to",
                    "in": "query",
                    "required": False,
                    "schema": day,
                    "description": "Last day (default: today, China time).",
                },
            ],
            "responses": {
                "200": ok("The figures.", "StatsResponse"),
                "400": error(
                    f"A date that is not YYYY-MM-DD or not from 1970-01-02 to 9998-12-30, `to` before `from`, "
                    f"a range over {MAX_DAYS} days, "
                    "or an unknown parameter."
                ),
                **common,
            },
        }
    }
