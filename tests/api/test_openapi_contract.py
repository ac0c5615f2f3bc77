"""What the OpenAPI document promises, checked against the app: a PATCH must carry a change
(no body, or an empty one, is 422 before anything is read or written), every integer parameter
and path id has bounds, and every example in the document passes the document's own validation."""

from __future__ import annotations

import re
from typing import Any

import pytest

from .conftest import assert_problem


@pytest.fixture
def document(client) -> dict[str, Any]:
    return client.get("/api/openapi.json").get_json()


def _operations(document: dict[str, Any]):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "responses" in operation:
                yield path, method, operation, item.get("parameters", []) + operation.get("parameters", [])


def _real(path: str, world) -> str:
    own = world.own
    ids = {"programme_id": own.programme.id, "group_id": own.group.id,
           "member_id": own.members[1].id}
    return re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), path)


@pytest.mark.parametrize("body", [None, {}], ids=["no body", "empty object"])
def test_a_patch_without_a_change_is_refused(world, document, admin, body):
    patches = [path for path, method, _, _ in _operations(document) if method == "patch"]
    assert len(patches) >= 4
    for path in patches:
        url = _real(path, world)
        before = admin.get(url).get_json()
        if body is None:
            response = world.client.patch(url, headers=admin.headers())
        else:
            response = admin.patch(url, body)
        problem = assert_problem(response, 422, "request.empty_change")
        assert "at least one" in problem["detail"]
        assert admin.get(url).get_json() == before


def test_the_document_says_a_patch_body_needs_one_field(document):
    schemas = document["components"]["schemas"]
    bodies = []
    for _, method, operation, _ in _operations(document):
        if method == "patch":
            ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            bodies.append(schemas[ref.rsplit("/", 1)[1]])
    assert len(bodies) >= 4 and all(body.get("minProperties") == 1 for body in bodies)
    assert "minProperties" not in schemas["PolicyChanges"]  # a create's nested policy may be empty


def test_every_integer_parameter_and_path_id_is_bounded(document):
    unbounded = [(method, path, p["name"]) for path, method, _, params in _operations(document)
                 for p in params if p.get("schema", {}).get("type") in ("integer", "number")
                 and not {"minimum", "maximum"} <= set(p["schema"])]
    assert unbounded == []
    ids = [p for _, _, _, params in _operations(document) for p in params if p["in"] == "path"
           and p["schema"].get("type") == "integer"]
    assert ids and all(p["schema"]["minimum"] >= 1 for p in ids)


def test_every_string_query_parameter_has_a_length_or_a_format(document):
    loose = [(path, p["name"]) for path, _, _, params in _operations(document) for p in params
             if p["in"] == "query" and p.get("schema", {}).get("type") == "string"
             and not ({"maxLength", "enum", "format"} & set(p["schema"]))]
    assert loose == []


def test_the_member_phone_examples_are_accepted_by_the_api(world, document, admin):
    schemas = document["components"]["schemas"]
    example = schemas["MemberCreate"]["properties"]["phone"]["example"]
    response = admin.post(f"{world.own.g}/members", {"name": "Example Member", "phone": example})
    assert response.status_code == 201, response.get_data(as_text=True)
    update = schemas["MemberUpdate"]["properties"]["phone"].get("example")
    if update is not None:
        member_id = response.get_json()["id"]
        r = admin.patch(f"{world.own.g}/members/{member_id}", {"phone": update})
        assert r.status_code in (200, 409), r.get_data(as_text=True)  # 409: the same number, taken
