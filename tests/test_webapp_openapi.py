"""The OpenAPI document: a valid OpenAPI 3 document that describes exactly the API's routes and the
shapes of its real answers."""

import re

import pytest
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate

from webapp.desk.tickets import TEXT_MAX_CHARS


@pytest.fixture
def spec(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def conforms(spec: dict, schema_name: str, instance) -> None:
    """Validate an answer against a component schema (refs resolved within the document)."""
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": spec["components"]}
    OAS30Validator(schema).validate(instance)


def test_document_is_valid_openapi_3(spec):
    validate(spec)
    assert spec["openapi"].startswith("3.")


def test_document_states_the_text_limit(spec):
    assert spec["components"]["schemas"]["TicketInput"]["properties"]["text"]["maxLength"] == TEXT_MAX_CHARS
    assert str(TEXT_MAX_CHARS) in spec["info"]["description"]


def test_every_api_route_is_documented_and_nothing_more(app, spec):
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            routes |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert routes == documented


def test_real_answers_match_the_schemas(client, spec, api_headers):
    created = client.post("/api/v1/tickets", json={"text": "退货没有权限", "name": "王"}, headers=api_headers)
    assert "201" in spec["paths"]["/api/v1/tickets"]["post"]["responses"]
    conforms(spec, "TicketResponse", created.get_json())
    ticket_id = created.get_json()["ticket"]["id"]
    conforms(spec, "TicketResponse", client.get(f"/api/v1/tickets/{ticket_id}", headers=api_headers).get_json())
    conforms(
        spec, "TriageResponse", client.post("/api/v1/triage", json={"text": "钱没到账"}, headers=api_headers).get_json()
    )
    conforms(spec, "SearchResponse", client.get("/api/v1/search?q=退货").get_json())
    conforms(spec, "ArticleResponse", client.get("/api/v1/articles/refund-void-permission").get_json())
    conforms(spec, "CategoriesResponse", client.get("/api/v1/categories").get_json())


def test_pending_tickets_match_the_schema(app, client, spec, api_headers):
    from pathlib import Path

    (Path(app.config["MODEL_DIR"]) / "model.json").unlink()
    conforms(
        spec,
        "TicketResponse",
        client.post("/api/v1/tickets", json={"text": "退货没有权限"}, headers=api_headers).get_json(),
    )


@pytest.mark.parametrize(
    "method, url, status",
    [("get", "/api/v1/tickets/999", 404), ("post", "/api/v1/tickets", 401), ("get", "/api/v1/search", 400)],
)
def test_errors_match_the_schema_and_are_documented(client, spec, api_headers, method, url, status):
    headers = api_headers if status != 401 else {}
    response = getattr(client, method)(url, headers=headers)
    assert response.status_code == status
    conforms(spec, "Error", response.get_json())
    path = "/api/v1/tickets/{ticket_id}" if url.endswith("999") else url
    assert str(status) in spec["paths"][path][method]["responses"]
