"""A bounded property-based run over /api/openapi.json (schemathesis): whatever the generated input,
every API operation answers with a documented status, no 500, and a body matching its schema."""

from dataclasses import dataclass, field

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup, ServerError
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

# Bounded so that the whole run stays within seconds: 30 valid and 30 invalid examples per operation.
EXAMPLES_PER_OPERATION = 30
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@dataclass
class FuzzRun:
    """What one run sent and found: cases sent (shrinking included), those answered with a 5xx,
    those whose answer broke the schema (status, content type or body), and a failure per operation."""

    operations: int = 0
    cases: int = 0
    server_errors: int = 0
    mismatches: int = 0
    failures: list[str] = field(default_factory=list)


def check_every_operation(schema, headers: dict, mode, call_kwargs: dict | None = None) -> FuzzRun:
    """Send EXAMPLES_PER_OPERATION generated cases of `mode` to every operation of `schema` (in process
    or served) and run CHECKS on each answer. Also run by bench/reliability.py against `posdesk serve`."""
    run = FuzzRun()
    operations = [result.ok() for result in schema.get_all_operations()]
    run.operations = len(operations)

    for operation in operations:

        @given(case=operation.as_strategy(mode))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,  # the same examples on every run: a failure here is reproducible
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def answers_as_documented(case):
            run.cases += 1
            try:
                case.call_and_validate(headers=headers, checks=CHECKS, **(call_kwargs or {}))
            except (Failure, FailureGroup) as e:
                found = e.exceptions if isinstance(e, FailureGroup) else (e,)
                run.server_errors += any(isinstance(f, ServerError) for f in found)
                run.mismatches += any(not isinstance(f, ServerError) for f in found)
                raise

        try:
            answers_as_documented()
        except Unsatisfiable:
            if mode is not schemathesis.GenerationMode.NEGATIVE:  # only an invalid case may be impossible
                run.failures.append(f"{operation.label}: no case could be generated")
        except (Exception, FailureGroup) as e:  # hypothesis raises the failing case's (shrunk) failure
            run.failures.append(f"{operation.label}: {e}")
    return run


@pytest.fixture
def fuzzed_app(make_app):
    """An app whose rate limits stay out of the way of the generated requests."""
    return make_app(API_RATE_LIMIT="100000 per minute")


@pytest.fixture
def token_headers(fuzzed_app):
    from webapp.db import get_desk
    from webapp.desk.accounts import create_token

    with fuzzed_app.app_context():
        _, secret = create_token(get_desk(), "fuzz", "pytest")
    return {"Authorization": f"Bearer {secret}"}


@pytest.mark.parametrize("mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE])
def test_every_operation_answers_as_documented(fuzzed_app, token_headers, mode):
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", fuzzed_app)
    run = check_every_operation(schema, token_headers, mode)
    assert run.operations >= 7
    assert not run.failures, "\n\n".join(run.failures)
