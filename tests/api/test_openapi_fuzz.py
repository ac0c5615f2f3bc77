"""schemathesis against the served OpenAPI document: no request produces a 5xx, and every response
matches what the document says (status, content type, schema). Bounded examples per operation."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import CHECKS as REGISTRY
from schemathesis.checks import load_all_checks

load_all_checks()
# Every check schemathesis has (`--checks all`).
CHECKS = list(REGISTRY.get_all())
EXAMPLES = 8


def _real_ids(world) -> dict[str, int]:
    own = world.own
    return {"programme_id": own.programme.id, "group_id": own.group.id, "meeting_id": own.meeting.id,
            "member_id": own.members[1].id, "loan_id": 1, "cycle_id": own.meeting.cycle_id}


def _fuzz(app, token: str, ids: dict[str, int]) -> int:
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def run(case) -> None:
            nonlocal calls
            calls += 1
            if calls % 3 and case.path_parameters:  # mostly the real group, so bodies reach the core
                for name in case.path_parameters:
                    case.path_parameters[name] = ids.get(name, case.path_parameters[name])
            case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)

        run()
    return calls


def test_treasurer_requests_generated_from_the_document_never_break_the_contract(app, world):
    assert _fuzz(app, world.own.tokens["treasurer"], _real_ids(world)) > 100


def test_admin_requests_generated_from_the_document_never_break_the_contract(app, world):
    assert _fuzz(app, world.own.tokens["admin"], _real_ids(world)) > 100
