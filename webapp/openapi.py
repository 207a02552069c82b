"""The OpenAPI 3 document served at /api/openapi.json: what `webapp.api` accepts and answers."""

from __future__ import annotations

from webapp import openapi_stats
from webapp.desk.replies import REPLY_MAX_CHARS
from webapp.desk.tickets import FIELD_MAX_CHARS, NOTE_MAX_CHARS, PRIORITIES, STATUSES
from webapp.ticket_api import API_VIEWS, LIST_DEFAULT, LIST_MAX
from webapp.ticket_input import NAME_MAX_CHARS, TEXT_MIN_CHARS

SEARCH_MAX_RESULTS = 50
MAX_ROW_ID = 2**63 - 1


_OWNERSHIP = {
    "assignee": {"type": "string", "nullable": True, "description": "The desk account handling it; null: nobody."},
    "team": {"type": "string", "nullable": True},
    "priority": {"type": "string", "enum": list(PRIORITIES)},
}


def _error(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _ok(description: str, schema: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def _schemas(text_max: int) -> dict:
    string_list = {"type": "array", "items": {"type": "string"}}
    contact_input = {
        "name": {"type": "string", "maxLength": NAME_MAX_CHARS, "nullable": True, "description": "No numbers in it."},
        "phone": {
            "type": "string",
            "nullable": True,
            "description": "A mainland mobile (+86 optional), a landline with its area code, or a 400/800 "
            "number; spaces, dashes and brackets allowed. A card number here is refused.",
        },
        "merchant_no": {"type": "string", "nullable": True, "description": "6-20 letters or digits."},
        "terminal_no": {"type": "string", "nullable": True, "description": "4-16 letters or digits."},
        "email": {
            "type": "string",
            "nullable": True,
            "maxLength": 64,
            "description": "Where the ticket's status link is sent (when the desk sends email).",
        },
    }
    prediction = {
        "type": "object",
        "required": [
            "category",
            "confidence",
            "alternatives",
            "codes",
            "articles",
            "needs_review",
            "explanation",
            "model_version",
        ],
        "properties": {
            "category": {"type": "string", "description": "The predicted cause category slug."},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "alternatives": {"type": "array", "items": {"$ref": "#/components/schemas/Alternative"}},
            "codes": {**string_list, "description": "Response codes found in the text."},
            "articles": {**string_list, "description": "Suggested article slugs, best first."},
            "needs_review": {"type": "boolean"},
            "explanation": {**string_list, "description": "Terms that pushed the decision."},
            "model_version": {"type": "string"},
        },
    }
    return {
        "Error": {
            "type": "object",
            "required": ["ok", "error", "status"],
            "properties": {
                "ok": {"type": "boolean", "enum": [False]},
                "error": {"type": "string", "description": "What went wrong, in English."},
                "status": {"type": "integer", "description": "The HTTP status, repeated."},
                "message": {"type": "string", "description": "What went wrong, in Chinese, fit to show a person."},
            },
        },
        "TicketInput": {
            "type": "object",
            "required": ["text"],
            "additionalProperties": False,
            "description": "The same fields and checks as the merchants' ticket form (where name and phone are "
            "required). Every field is trimmed first. Unknown fields are refused by name.",
            "properties": {
                "text": {
                    "type": "string",
                    "minLength": TEXT_MIN_CHARS,
                    "maxLength": text_max,
                    "description": f"The merchant's description: {TEXT_MIN_CHARS} to {text_max} characters after "
                    "trimming. Card numbers (13-19 digits passing Luhn) are masked before storing.",
                },
                **contact_input,
                "contact": {
                    "type": "object",
                    "nullable": True,
                    "additionalProperties": False,
                    "description": "The contact fields as a ticket's `contact` (instead of top-level fields).",
                    "properties": contact_input,
                },
            },
        },
        "SearchInput": {
            "type": "object",
            "required": ["q"],
            "additionalProperties": False,
            "properties": {
                "q": {"type": "string", "minLength": 1},
                "audience": {"type": "string", "enum": ["merchant", "agent"], "default": "merchant"},
                "limit": {"type": "integer", "minimum": 1, "maximum": SEARCH_MAX_RESULTS, "default": 10},
            },
        },
        "TriageInput": {
            "type": "object",
            "required": ["text"],
            "properties": {"text": {"type": "string", "minLength": 1, "maxLength": text_max}},
        },
        "Alternative": {
            "type": "object",
            "required": ["category", "confidence"],
            "properties": {"category": {"type": "string"}, "confidence": {"type": "number"}},
        },
        "Prediction": prediction,
        "Ticket": {
            "type": "object",
            "required": [
                "id",
                "number",
                "created",
                "updated",
                "source",
                "status",
                "text",
                "contact",
                "category",
                "category_confirmed_by",
                "category_confirmed_at",
                "needs_review",
                "answer_article",
                "triage_status",
                "triage",
                "status_url",
                "replies",
            ],
            "properties": {
                "id": {"type": "integer"},
                "number": {"type": "string", "example": "PD000042"},
                "created": {"type": "string", "format": "date-time"},
                "updated": {"type": "string", "format": "date-time"},
                "source": {"type": "string", "enum": ["web", "api"]},
                "status": {"type": "string", "enum": ["new", "open", "pending", "resolved", "closed"]},
                "text": {"type": "string", "description": "As stored: card numbers masked."},
                "contact": {
                    "type": "object",
                    "required": ["name", "phone", "merchant_no", "terminal_no", "email"],
                    "properties": {
                        "name": {"type": "string"},
                        "phone": {"type": "string"},
                        "merchant_no": {"type": "string"},
                        "terminal_no": {"type": "string"},
                        "email": {"type": "string"},
                    },
                },
                "category": {
                    "type": "string",
                    "nullable": True,
                    "description": "The agent's category, else the predicted one.",
                },
                "category_confirmed_by": {"type": "string", "nullable": True},
                "category_confirmed_at": {"type": "string", "format": "date-time", "nullable": True},
                "needs_review": {"type": "boolean"},
                "answer_article": {"type": "string", "nullable": True},
                "triage_status": {
                    "type": "string",
                    "enum": ["done", "pending"],
                    "description": (
                        "`pending` from filing until a triage job has run (seconds; longer while no model "
                        "exists), then `done`."
                    ),
                },
                # Inline rather than a $ref: OpenAPI 3.0 cannot make a referenced schema nullable.
                "triage": {**prediction, "nullable": True, "description": "null while triage is pending."},
                "status_url": {
                    "type": "string",
                    "description": "The merchant's private status page (an unguessable key): give it to the "
                    "merchant only. It shows their text, public replies and photos, never notes or triage.",
                },
                "replies": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/Reply"},
                    "description": "The public replies, both ways, oldest first (internal notes never).",
                },
                "attachments": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/Attachment"},
                    "description": "Its photos, oldest first (in `GET /api/v1/tickets/{ticket_id}` only).",
                },
                **_OWNERSHIP,
                "rating": {
                    "type": "object",
                    "nullable": True,
                    "required": ["score", "comment", "at"],
                    "properties": {
                        "score": {"type": "integer", "minimum": 1, "maximum": 5},
                        "comment": {"type": "string"},
                        "at": {"type": "string", "format": "date-time", "nullable": True},
                    },
                    "description": "The merchant's rating of the answer (once solved), or null.",
                },
            },
        },
        "Attachment": {
            "type": "object",
            "required": [
                "id",
                "ticket_id",
                "reply_id",
                "content_type",
                "size",
                "width",
                "height",
                "created",
                "url",
                "thumbnail_url",
            ],
            "properties": {
                "id": {"type": "integer"},
                "ticket_id": {"type": "integer"},
                "reply_id": {
                    "type": "integer",
                    "nullable": True,
                    "description": "The public reply that carried it; null when filed with the ticket.",
                },
                "content_type": {"type": "string", "enum": ["image/jpeg", "image/png", "image/webp"]},
                "size": {"type": "integer", "description": "Bytes as stored (re-encoded, without metadata)."},
                "width": {"type": "integer"},
                "height": {"type": "integer"},
                "created": {"type": "string", "format": "date-time"},
                "url": {"type": "string", "description": "GET it with the token for the stored image."},
                "thumbnail_url": {"type": "string", "description": "A JPEG thumbnail, at most 320 px wide and high."},
            },
        },
        "AttachmentResponse": {
            "type": "object",
            "required": ["ok", "attachment"],
            "properties": {
                "ok": {"type": "boolean", "enum": [True]},
                "attachment": {"$ref": "#/components/schemas/Attachment"},
            },
        },
        "AttachmentUpload": {
            "type": "object",
            "required": ["file"],
            "properties": {
                "file": {
                    "type": "string",
                    "format": "binary",
                    "description": "One JPEG, PNG, WebP or HEIC photo of at most 5 MB and 40 megapixels.",
                }
            },
        },
        "Reply": {
            "type": "object",
            "required": ["id", "at", "author_kind", "display_name", "body", "article"],
            "properties": {
                "id": {"type": "integer"},
                "at": {"type": "string", "format": "date-time"},
                "author_kind": {"type": "string", "enum": ["agent", "merchant"]},
                "display_name": {"type": "string", "description": "What the merchant sees, e.g. 客服 lina."},
                "body": {"type": "string", "description": "As stored: card numbers masked."},
                "article": {
                    "type": "string",
                    "nullable": True,
                    "description": "An inserted public article's slug (shown with its title, link and first step).",
                },
            },
        },
        "ReplyInput": {
            "type": "object",
            "required": ["body"],
            "additionalProperties": False,
            "properties": {
                "body": {"type": "string", "minLength": 1, "maxLength": REPLY_MAX_CHARS},
                "article": {
                    "type": "string",
                    "nullable": True,
                    "description": "A public (merchant) article's slug to insert; internal articles are refused.",
                },
                "asks_info": {
                    "type": "boolean",
                    "default": False,
                    "description": "The reply asks the merchant for information: the ticket becomes `pending`.",
                },
            },
        },
        "ReplyResponse": {
            "type": "object",
            "required": ["ok", "reply"],
            "properties": {
                "ok": {"type": "boolean", "enum": [True]},
                "reply": {"$ref": "#/components/schemas/Reply"},
            },
        },
        "TicketList": {
            "type": "object",
            "required": ["ok", "tickets", "total", "page", "pages", "limit", "order", "next_cursor"],
            "properties": {
                "ok": {"type": "boolean", "enum": [True]},
                "tickets": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/TicketSummary"},
                    "description": "This page's tickets in `order`.",
                },
                "total": {"type": "integer", "minimum": 0, "description": "How many tickets match, on every page."},
                "page": {"type": "integer", "minimum": 1, "description": "1 when paged by cursor."},
                "pages": {"type": "integer", "minimum": 1},
                "limit": {"type": "integer", "minimum": 1, "maximum": LIST_MAX},
                "order": {"type": "string", "enum": ["newest", "oldest"]},
                "next_cursor": {
                    "type": "string",
                    "nullable": True,
                    "description": "Pass as `cursor` for the next page; null on the last one.",
                },
            },
        },
        "TicketSummary": {
            "type": "object",
            "description": "A ticket as `GET /api/v1/tickets/{ticket_id}` answers it, without its status link, "
            "replies and photos.",
            "required": ["id", "number", "created", "updated", "source", "status", "category", "needs_review"],
            "properties": {
                "id": {"type": "integer"},
                "number": {"type": "string"},
                "created": {"type": "string", "format": "date-time"},
                "updated": {"type": "string", "format": "date-time"},
                "source": {"type": "string", "enum": ["web", "api"]},
                "status": {"type": "string", "enum": ["new", "open", "pending", "resolved", "closed"]},
                "text": {"type": "string"},
                "category": {"type": "string", "nullable": True},
                "needs_review": {"type": "boolean"},
                "triage_status": {"type": "string", "enum": ["done", "pending"]},
                **_OWNERSHIP,
            },
        },
        "TicketPatch": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": False,
            "description": "The fields to change, at least one. Every field is checked before any is applied; "
            "every change is recorded in the ticket's history, the request in the audit log.",
            "properties": {
                "status": {"type": "string", "enum": list(STATUSES)},
                "category": {
                    "type": "string",
                    "description": "A category slug (`GET /api/v1/categories?audience=agent`) or 不是POS问题/其他; "
                    "recorded as the desk's decision (confirmed or corrected).",
                },
                "assignee": {
                    "type": "string",
                    "nullable": True,
                    "description": "The username of an active desk account; null unassigns.",
                },
                "team": {"type": "string", "nullable": True, "maxLength": FIELD_MAX_CHARS},
                "priority": {"type": "string", "enum": list(PRIORITIES)},
            },
        },
        "NoteInput": {
            "type": "object",
            "required": ["note"],
            "additionalProperties": False,
            "properties": {"note": {"type": "string", "minLength": 1, "maxLength": NOTE_MAX_CHARS}},
        },
        "NoteResponse": {
            "type": "object",
            "required": ["ok", "note"],
            "properties": {
                "ok": {"type": "boolean", "enum": [True]},
                "note": {
                    "type": "object",
                    "required": ["id", "ticket_id", "at", "actor", "text"],
                    "properties": {
                        "id": {"type": "integer"},
                        "ticket_id": {"type": "integer"},
                        "at": {"type": "string", "format": "date-time"},
                        "actor": {"type": "string", "description": "api:<token name>"},
                        "text": {"type": "string", "description": "As stored: card numbers masked."},
                    },
                },
            },
        },
        "TicketResponse": {
            "type": "object",
            "required": ["ok", "ticket"],
            "properties": {
                "ok": {"type": "boolean", "enum": [True]},
                "ticket": {"$ref": "#/components/schemas/Ticket"},
            },
        },
        "TriageResponse": {
            "type": "object",
            "required": ["ok", "triage"],
            "properties": {
                "ok": {"type": "boolean", "enum": [True]},
                "triage": {"$ref": "#/components/schemas/Prediction"},
            },
        },
        "SearchResult": {
            "type": "object",
            "required": ["slug", "title", "category", "audience", "score", "snippet", "url"],
            "properties": {
                "slug": {"type": "string"},
                "title": {"type": "string"},
                "category": {"type": "string"},
                "audience": {"type": "string", "enum": ["merchant", "agent"]},
                "score": {"type": "number"},
                "snippet": {"type": "string", "description": "HTML-escaped text with <mark> around matched words."},
                "url": {
                    "type": "string",
                    "nullable": True,
                    "description": "The public page; null for internal articles.",
                },
            },
        },
        "SearchResponse": {
            "type": "object",
            "required": ["ok", "query", "audience", "results"],
            "properties": {
                "ok": {"type": "boolean", "enum": [True]},
                "query": {"type": "string"},
                "audience": {"type": "string", "enum": ["merchant", "agent"]},
                "results": {"type": "array", "items": {"$ref": "#/components/schemas/SearchResult"}},
            },
        },
        "Article": {
            "type": "object",
            "required": [
                "slug",
                "title",
                "category",
                "audience",
                "tags",
                "codes",
                "related",
                "updated",
                "body",
                "html",
                "url",
            ],
            "properties": {
                "slug": {"type": "string"},
                "title": {"type": "string"},
                "category": {"type": "string"},
                "audience": {"type": "string", "enum": ["merchant", "agent"]},
                "tags": string_list,
                "codes": string_list,
                "related": string_list,
                "updated": {"type": "string"},
                "body": {"type": "string", "description": "Markdown source."},
                "html": {"type": "string", "description": "The body rendered and sanitised."},
                "url": {"type": "string", "nullable": True},
            },
        },
        "ArticleResponse": {
            "type": "object",
            "required": ["ok", "article"],
            "properties": {
                "ok": {"type": "boolean", "enum": [True]},
                "article": {"$ref": "#/components/schemas/Article"},
            },
        },
        "Category": {
            "type": "object",
            "required": ["slug", "name", "definition", "codes", "article_count"],
            "properties": {
                "slug": {"type": "string"},
                "name": {"type": "string"},
                "definition": {"type": "string"},
                "codes": string_list,
                "article_count": {"type": "integer", "minimum": 0},
            },
        },
        "CategoriesResponse": {
            "type": "object",
            "required": ["ok", "audience", "categories"],
            "properties": {
                "ok": {"type": "boolean", "enum": [True]},
                "audience": {"type": "string", "enum": ["merchant", "agent"]},
                "categories": {"type": "array", "items": {"$ref": "#/components/schemas/Category"}},
            },
        },
    }


def _list_parameters() -> list[dict]:
    """The query parameters of `GET /api/v1/tickets`, all optional."""

    def query(name: str, schema: dict, description: str) -> dict:
        return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}

    day = {"type": "string", "format": "date"}
    return [
        query(
            "view",
            {"type": "string", "enum": list(API_VIEWS)},
            "A desk view: unassigned, review (needs review), "
            "waiting (for the merchant), overdue, open (unresolved) or all; combined with the filters.",
        ),
        query("status", {"type": "string", "enum": list(STATUSES)}, "Only this status."),
        query("category", {"type": "string"}, "Only this category slug (or 不是POS问题/其他)."),
        query("assignee", {"type": "string"}, "Only this desk account's tickets; `none` for unassigned ones."),
        query("priority", {"type": "string", "enum": list(PRIORITIES)}, "Only this priority."),
        query("source", {"type": "string", "enum": ["web", "api"]}, "Only tickets filed this way."),
        query("scope", {"type": "string", "enum": ["in", "out"]}, "`in`: about POS acquiring; `out`: not."),
        query("review", {"type": "string", "enum": ["true", "false", "1", "0"]}, "Needing review, or not."),
        query("from", day, "Filed on or after this day (China time)."),
        query("to", day, "Filed on or before this day (China time)."),
        query("order", {"type": "string", "enum": ["newest", "oldest"], "default": "newest"}, "Filing order."),
        query("limit", {"type": "integer", "minimum": 1, "maximum": LIST_MAX, "default": LIST_DEFAULT}, "Page size."),
        query("page", {"type": "integer", "minimum": 1, "maximum": MAX_ROW_ID}, "A page number (not with cursor)."),
        query("cursor", {"type": "string"}, "The `next_cursor` of the page before (not with page)."),
    ]


def document(text_max: int, body_max: int, upload_max: int = 16 * 1024 * 1024) -> dict:
    """Build the OpenAPI 3.0 document for the given text and request-body limits (photo uploads: upload_max)."""
    token = [{"bearerAuth": []}]
    ticket_id = {
        "name": "ticket_id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ROW_ID},
    }
    attachment_id = {**ticket_id, "name": "attachment_id"}
    image = {t: {"schema": {"type": "string", "format": "binary"}} for t in ("image/jpeg", "image/png", "image/webp")}
    optional_token = [{}, {"bearerAuth": []}]
    audience = {
        "name": "audience",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "enum": ["merchant", "agent"], "default": "merchant"},
        "description": "`agent` includes internal articles and needs a token.",
    }
    common = {
        "401": _error("Missing, malformed, invalid or revoked token."),
        "429": _error("Rate limit exceeded."),
    }
    json_body = {
        "400": _error(
            "Bad input: body not a UTF-8 JSON object (or nested too deeply), an unknown field, `text` missing, "
            f"not a string, shorter than {TEXT_MIN_CHARS} or longer than {text_max} characters after trimming, "
            "a contact field of the wrong kind, or a lone surrogate in a string. `error` names every refused field."
        ),
        "413": _error(f"Request body larger than {body_max} bytes (chunked bodies too)."),
    }
    search_parameters = [
        {"name": "q", "in": "query", "required": True, "schema": {"type": "string", "minLength": 1}},
        audience,
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": SEARCH_MAX_RESULTS, "default": 10},
        },
    ]
    search_responses = {
        "200": _ok("Results, best first; empty for off-topic queries.", "SearchResponse"),
        "400": _error("`q` missing or empty, bad `audience` or `limit`."),
        **common,
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "posdesk API",
            "version": "1",
            "description": (
                "Knowledge base, tickets and triage of the posdesk support desk. Send "
                "`Authorization: Bearer <token>` (tokens from the admin page or `posdesk token create NAME`). "
                'Every error is `{"ok": false, "error": "<message>", "status": N, "message": "<中文说明>"}`. '
                f"Ticket and triage text is limited to {text_max} characters; request bodies to {body_max} bytes."
            ),
        },
        "servers": [{"url": "/"}],
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            "schemas": {**_schemas(text_max), **openapi_stats.schemas()},
        },
        "paths": {
            "/api/v1/tickets": {
                "get": {
                    "operationId": "listTickets",
                    "summary": "List tickets with the desk queue's filters (combined), newest or oldest first, "
                    "by `page` (past the end: the last page) or by `cursor`.",
                    "security": token,
                    "parameters": _list_parameters(),
                    "responses": {
                        "200": _ok("One page of tickets.", "TicketList"),
                        "400": _error("A bad parameter (each one named), or both `page` and `cursor`."),
                        **common,
                    },
                },
                "post": {
                    "operationId": "createTicket",
                    "summary": "File a ticket: stored at once, triaged by a job within seconds (`triage_status`).",
                    "security": token,
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
                            "description": "A key of the client's choosing (1-255 printable ASCII characters), kept "
                            "7 days per token: a retry with the same key and body gets 200 and the ticket filed "
                            "the first time; the same key with another body gets 422.",
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TicketInput"}}},
                    },
                    "responses": {
                        "200": _ok(
                            "A retry with an Idempotency-Key already used: the ticket it filed.", "TicketResponse"
                        ),
                        "201": {
                            **_ok(
                                "The stored ticket (`triage` is null until its triage job has run).", "TicketResponse"
                            ),
                            "headers": {"Location": {"schema": {"type": "string"}, "description": "The ticket's URL."}},
                        },
                        **json_body,
                        "422": _error("The Idempotency-Key was already used with a different body."),
                        **common,
                    },
                },
            },
            "/api/v1/tickets/{ticket_id}": {
                "get": {
                    "operationId": "getTicket",
                    "summary": "One ticket with its triage and the desk's decisions.",
                    "security": token,
                    "parameters": [
                        {
                            "name": "ticket_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ROW_ID},
                        }
                    ],
                    "responses": {
                        "200": _ok("The ticket.", "TicketResponse"),
                        "404": _error("No such ticket."),
                        **common,
                    },
                },
                "patch": {
                    "operationId": "updateTicket",
                    "summary": "Change a ticket's status, category, assignee, team or priority.",
                    "security": token,
                    "parameters": [ticket_id],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TicketPatch"}}},
                    },
                    "responses": {
                        "200": _ok("The ticket as changed.", "TicketResponse"),
                        "400": _error(
                            "Body not a JSON object, empty, an unknown field, or a bad value: `error` names every "
                            "refused field (an unknown status, category or priority, an assignee who is no active "
                            "desk account)."
                        ),
                        "404": _error("No such ticket."),
                        "413": json_body["413"],
                        **common,
                    },
                },
            },
            "/api/v1/tickets/{ticket_id}/notes": {
                "post": {
                    "operationId": "createNote",
                    "summary": "Add an internal note (agents see it in the ticket's history; never the merchant).",
                    "security": token,
                    "parameters": [ticket_id],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NoteInput"}}},
                    },
                    "responses": {
                        "201": {
                            **_ok("The stored note.", "NoteResponse"),
                            "headers": {"Location": {"schema": {"type": "string"}, "description": "The ticket's URL."}},
                        },
                        "400": _error(
                            f"Body not a JSON object, an unknown field, `note` missing, not a string, empty or "
                            f"longer than {NOTE_MAX_CHARS} characters."
                        ),
                        "404": _error("No such ticket."),
                        "413": json_body["413"],
                        **common,
                    },
                }
            },
            "/api/v1/tickets/{ticket_id}/replies": {
                "post": {
                    "operationId": "createReply",
                    "summary": "Add a public reply, shown to the merchant on the ticket's status page as from 客服. "
                    "A reply to a `new` ticket makes it `open`; one with `asks_info` makes it `pending`.",
                    "security": token,
                    "parameters": [ticket_id],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ReplyInput"}}},
                    },
                    "responses": {
                        "201": {
                            **_ok("The stored reply.", "ReplyResponse"),
                            "headers": {"Location": {"schema": {"type": "string"}, "description": "The ticket's URL."}},
                        },
                        "400": _error(
                            f"Body not a JSON object, an unknown field, `body` missing, empty or longer than "
                            f"{REPLY_MAX_CHARS} characters, `article` not a public article, `asks_info` not a boolean."
                        ),
                        "404": _error("No such ticket."),
                        "409": _error("The ticket is closed."),
                        "413": json_body["413"],
                        **common,
                    },
                }
            },
            "/api/v1/tickets/{ticket_id}/attachments": {
                "post": {
                    "operationId": "uploadAttachment",
                    "summary": "Attach one photo (a slip, a terminal's screen) to a ticket. The type is read from the "
                    "content; the image is re-encoded without metadata (EXIF, GPS) and gets a thumbnail. "
                    "HEIC is stored as JPEG. At most 30 photos per ticket.",
                    "security": token,
                    "parameters": [ticket_id],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "multipart/form-data": {"schema": {"$ref": "#/components/schemas/AttachmentUpload"}}
                        },
                    },
                    "responses": {
                        "201": {
                            **_ok("The stored attachment.", "AttachmentResponse"),
                            "headers": {"Location": {"schema": {"type": "string"}, "description": "The image's URL."}},
                        },
                        "400": _error(
                            "Not multipart/form-data, not exactly one file in `file`, another field, not a JPEG, "
                            "PNG, WebP or HEIC image (judged by its content), larger than 5 MB or 40 megapixels, "
                            "damaged, or the ticket already holds 30 photos. `message` says which, in Chinese."
                        ),
                        "404": _error("No such ticket."),
                        "413": _error(f"Request body larger than {upload_max} bytes."),
                        **common,
                    },
                }
            },
            "/api/v1/tickets/{ticket_id}/attachments/{attachment_id}": {
                "get": {
                    "operationId": "getAttachment",
                    "summary": "A ticket's photo as stored (Content-Disposition inline, never cached).",
                    "security": token,
                    "parameters": [ticket_id, attachment_id],
                    "responses": {
                        "200": {"description": "The image.", "content": image},
                        "404": _error("No such ticket or attachment."),
                        **common,
                    },
                }
            },
            "/api/v1/tickets/{ticket_id}/attachments/{attachment_id}/thumbnail": {
                "get": {
                    "operationId": "getAttachmentThumbnail",
                    "summary": "A photo's JPEG thumbnail (at most 320 px wide and high).",
                    "security": token,
                    "parameters": [ticket_id, attachment_id],
                    "responses": {
                        "200": {
                            "description": "The thumbnail.",
                            "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}},
                        },
                        "404": _error("No such ticket or attachment."),
                        **common,
                    },
                }
            },
            "/api/v1/triage": {
                "post": {
                    "operationId": "triage",
                    "summary": "Classify a text without storing it.",
                    "security": token,
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TriageInput"}}},
                    },
                    "responses": {
                        "200": _ok("The triage.", "TriageResponse"),
                        **json_body,
                        **common,
                        "503": _error("No triage model has been trained yet."),
                    },
                }
            },
            "/api/v1/search": {
                "get": {
                    "operationId": "search",
                    "summary": "Search the knowledge base (highlighted snippets). Public for merchant articles.",
                    "security": optional_token,
                    "parameters": search_parameters,
                    "responses": search_responses,
                },
                "post": {
                    "operationId": "searchPost",
                    "summary": "The same search with its fields in a JSON body, keeping typed text out of URLs.",
                    "security": optional_token,
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SearchInput"}}},
                    },
                    "responses": {
                        **search_responses,
                        "400": _error(
                            "Body not a JSON object, an unknown field, `q` missing or empty, bad `audience` or `limit`."
                        ),
                        "413": json_body["413"],
                    },
                },
            },
            "/api/v1/articles/{slug}": {
                "get": {
                    "operationId": "getArticle",
                    "summary": "One article. Internal articles are found only with a token.",
                    "security": optional_token,
                    "parameters": [{"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {
                        "200": _ok("The article.", "ArticleResponse"),
                        "404": _error("No such article (or an internal one asked for without a token)."),
                        **common,
                    },
                }
            },
            "/api/v1/stats": openapi_stats.path(_error, _ok, common),
            "/api/v1/categories": {
                "get": {
                    "operationId": "listCategories",
                    "summary": "The cause categories with their article counts for the audience.",
                    "security": optional_token,
                    "parameters": [audience],
                    "responses": {
                        "200": _ok("The categories in display order.", "CategoriesResponse"),
                        "400": _error("Bad `audience`."),
                        **common,
                    },
                }
            },
        },
    }
