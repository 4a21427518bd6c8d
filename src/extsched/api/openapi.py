"""The OpenAPI document: what every route takes and every answer it can give.

Routes read their bodies through a dependency (``api.body``), so FastAPI does not see them: each
route names its body shape with ``body_doc``. Error answers are problem documents; the statuses
every authenticated route can answer are added here, the route-specific ones (409, 429) are
declared on the route with ``problems``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from extsched.api.problems import PROBLEM_JSON
from extsched.api.schemas.base import Problem

REF_TEMPLATE = "#/components/schemas/{model}"
PROBLEM_REF = {"$ref": REF_TEMPLATE.format(model="Problem")}
DESCRIPTIONS = {
    400: "The manifest is invalid",
    401: "No credential, or one that is not valid (`WWW-Authenticate: Bearer`)",
    403: "The credential lacks the permission",
    404: "Not found, or another tenant's",
    409: "Conflicts with the current state",
    413: "The body is larger than the limit",
    422: "Invalid input; `fieldErrors` names every invalid field",
    429: "Rate limited; `Retry-After` says when to try again",
    500: "Internal error",
    502: "The Runner gave no usable answer",
    504: "The Runner did not answer within the timeout",
}


# Links from a created schedule to the operations on it: clients (and stateful fuzzing) follow
# them with the new schedule's id.
_ON_SCHEDULE = ("get_schedule", "update_schedule", "run_now", "list_runs", "delete_schedule")
LINKS: dict[tuple[str, str], dict[str, Any]] = {
    ("create_schedule", "201"): {
        op: {
            "operationId": op,
            "parameters": {
                "extension_id": "$request.path.extension_id",
                "schedule_id": "$response.body#/id",
            },
        }
        for op in _ON_SCHEDULE
    },
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Route ``responses`` for problem answers with these statuses."""
    return {status: _problem(status) for status in statuses}


def _problem(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": DESCRIPTIONS.get(status, "Error"),
        "content": {PROBLEM_JSON: {"schema": PROBLEM_REF}},
    }
    if status == 429:
        response["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
    return response


def body_doc(shape: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` naming a route's JSON body (moved to the components by ``build``)."""
    schema = shape.model_json_schema(by_alias=True, ref_template=REF_TEMPLATE)
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def build(app: FastAPI) -> dict[str, Any]:
    doc = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    schemas: dict[str, Any] = doc.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    _hoist(schemas, Problem.model_json_schema(by_alias=True, ref_template=REF_TEMPLATE))
    doc["components"]["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
        "runnerAuth": {"type": "apiKey", "in": "header", "name": "x-runner-auth"},
    }
    for path, item in doc["paths"].items():
        for op in item.values():
            _complete(path, op, schemas)
            for status, response in op.get("responses", {}).items():
                links = LINKS.get((op.get("operationId", ""), status))
                if links:
                    response["links"] = links
    return doc


def _hoist(schemas: dict[str, Any], schema: dict[str, Any]) -> dict[str, str]:
    """Put an inline model schema (and its ``$defs``) in the components; its reference."""
    if "$ref" in schema:
        return schema
    for name, sub in schema.pop("$defs", {}).items():
        schemas.setdefault(name, sub)
    schemas[schema["title"]] = schema
    return {"$ref": REF_TEMPLATE.format(model=schema["title"])}


def _complete(path: str, op: dict[str, Any], schemas: dict[str, Any]) -> None:
    responses: dict[str, Any] = op.setdefault("responses", {})
    has_body = "requestBody" in op
    if has_body:
        content = op["requestBody"]["content"]["application/json"]
        content["schema"] = _hoist(schemas, content["schema"])
    if "422" in responses:  # FastAPI's own, for parameters: ours is a problem document
        responses["422"] = _problem(422)
    if not path.startswith("/api/"):
        responses.setdefault("500", _problem(500))
        return
    # The host API is the Runner's, authenticated by its token; every other route by a user's.
    internal = path.startswith("/api/internal/")
    op["security"] = [{"runnerAuth": []}] if internal else [{"bearer": []}]
    params = op.get("parameters", [])
    statuses = [401, 403, 500]
    if has_body:
        statuses += [413, 422]
    elif any(p["in"] in ("query", "header") for p in params):
        statuses.append(422)
    if any(p["in"] == "path" for p in params):
        statuses.append(404)
    for status in statuses:
        responses[str(status)] = _problem(status)
