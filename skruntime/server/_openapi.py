"""The ``/v1/openapi.json`` document (OpenAPI 3.1).

Written by hand, next to the routes, and checked against the app's real
route table by ``tests/server/test_openapi.py``: every route served is
documented with its methods, and nothing documented is missing.  Adding a
route means adding its path here.
"""

from __future__ import annotations

from typing import Any

import skruntime

__all__ = ["openapi_document"]

_PROBLEM = {"$ref": "#/components/responses/Problem"}
_JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _ok(description: str, schema: str, status: str = "200") -> dict[str, Any]:
    return {status: {"description": description, "content": {_JSON: {"schema": _ref(schema)}}}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(status): _PROBLEM for status in statuses}


def _op(
    summary: str,
    *,
    scope: str | None,
    responses: dict[str, Any],
    errors: tuple[int, ...] = (),
    body: str | None = None,
    parameters: list[dict[str, Any]] | None = None,
    tag: str,
    description: str | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "tags": [tag], "responses": dict(responses)}
    if description:
        op["description"] = description
    if scope is None:
        op["security"] = []
    else:
        op["security"] = [{"bearerAuth": []}]
        op["x-scope"] = scope
        errors = (401, 403, *errors, 503)
    op["responses"].update(_errors(*sorted(set(errors))))
    if body is not None:
        op["requestBody"] = {"required": True, "content": {_JSON: {"schema": _ref(body)}}}
    if parameters:
        op["parameters"] = parameters
    return op


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": {"type": "string"}}


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


_LIMIT = _query("limit", "Page size.", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100})
_ACTOR_ID = _path_param("actorId", "The actor id.")
_STATE_VALUE = {"description": "An XState state value.", "oneOf": [{"type": "string"}, {"type": "object"}]}
_TIME = {"type": "string", "format": "date-time"}


def _schemas() -> dict[str, Any]:
    guards = {
        "type": "object",
        "description": "Guard answers: guard name -> true/false. Unanswered guards are false.",
        "additionalProperties": {"type": "boolean"},
    }
    path_item = {"type": "string", "minLength": 1, "maxLength": 128, "description": "An event type as history holds it (timer events included)."}
    event_type = {
        "type": "string",
        "minLength": 1,
        "maxLength": 128,
        "description": "No control characters; types starting with 'xstate.' are the runtime's own (timers, spawn) and cannot be sent.",
    }
    identifier = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._:@~-]{0,127}$"}
    effect = {
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"type": "string"}, "params": {}},
        "description": "An action the macrostep would have run; the caller performs it.",
    }
    return {
        "Problem": {
            "type": "object",
            "description": "RFC 9457 problem details; 'type' is urn:skruntime:problem:<slug>.",
            "required": ["type", "title", "status", "detail"],
            "properties": {
                "type": {"type": "string", "format": "uri"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "pointer": {"type": "string", "description": "JSON Pointer into the request body (422)."},
                "accepted": {"type": "array", "items": {"type": "string"}, "description": "event-not-handled: event types the state accepts."},
            },
            "additionalProperties": True,
        },
        "Status": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}},
        "Effect": effect,
        "DeployRequest": {
            "type": "object",
            "required": ["id", "definition"],
            "additionalProperties": False,
            "properties": {
                "id": identifier,
                "parentId": identifier,
                "historyPath": {"type": "array", "items": path_item, "maxItems": 256},
                "definition": {"type": "object", "description": "An XState v5 machine config (JSON)."},
                "expect": {"type": "object", "properties": {"previewToken": {"type": "string"}}},
            },
        },
        "ActorCounts": {
            "type": "object",
            "properties": {
                "total": {"type": "integer"},
                "active": {"type": "integer"},
                "done": {"type": "integer"},
                "byState": {"type": "object", "additionalProperties": {"type": "integer"}},
            },
        },
        "Version": {
            "type": "object",
            "required": ["id", "parentId", "historyPath", "createdAt"],
            "properties": {
                "id": {"type": "string"},
                "parentId": {"type": ["string", "null"]},
                "historyPath": {"type": ["array", "null"], "items": {"type": "string"}},
                "createdAt": _TIME,
                "definition": {"type": "object"},
                "deploymentId": {"type": "string"},
                "actors": _ref("ActorCounts"),
            },
        },
        "VersionList": {"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": _ref("Version")}}},
        "Counts": {
            "type": "object",
            "required": ["evaluated", "migrated", "stayed", "byReason"],
            "properties": {
                "evaluated": {"type": "integer"},
                "migrated": {"type": "integer"},
                "stayed": {"type": "integer"},
                "byReason": {
                    "type": "object",
                    "description": "history-match, no-history-path, done, history-too-short, history-mismatch, replay-diverged",
                    "additionalProperties": {"type": "integer"},
                },
            },
        },
        "DeploymentSummary": {
            "allOf": [_ref("Counts"), {"type": "object", "required": ["deploymentId"], "properties": {"deploymentId": {"type": "string"}}}]
        },
        "DeployResponse": {
            "type": "object",
            "required": ["version"],
            "properties": {"version": _ref("Version"), "deployment": _ref("DeploymentSummary")},
        },
        "Preview": {
            "type": "object",
            "required": ["versionId", "parentId", "previewToken", "counts"],
            "properties": {
                "versionId": {"type": "string"},
                "parentId": {"type": "string"},
                "historyPath": {"type": ["array", "null"], "items": {"type": "string"}},
                "previewToken": {"type": "string", "description": "Pass as expect.previewToken to deploy exactly these decisions."},
                "alreadyDeployed": {
                    "type": "boolean",
                    "description": "Present (true) when the version is already deployed with this body: its redeploy changes nothing, so nothing is evaluated.",
                },
                "counts": _ref("Counts"),
                "migration": {
                    "type": "object",
                    "description": "Absent with ?summary=true.",
                    "properties": {
                        "wouldMigrate": {
                            "type": "array",
                            "items": {"type": "object", "properties": {"actorId": {"type": "string"}, "from": _STATE_VALUE, "to": _STATE_VALUE}},
                        },
                        "wouldStay": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {"actorId": {"type": "string"}, "reason": {"type": "string"}, "state": _STATE_VALUE, "divergedSeq": {"type": "integer"}},
                            },
                        },
                    },
                },
            },
        },
        "Decision": {
            "type": "object",
            "required": ["actorId", "deploymentId", "time", "fromVersion", "toVersion", "decision", "reason", "fingerprint", "prefixHash", "k", "landingState"],
            "properties": {
                "actorId": {"type": "string"},
                "deploymentId": {"type": "string"},
                "time": _TIME,
                "fromVersion": {"type": "string"},
                "toVersion": {"type": ["string", "null"]},
                "decision": {"type": "string", "enum": ["migrate", "stay"]},
                "reason": {"type": "string"},
                "seq": {"type": "integer", "description": "The actor's number of handled events when decided."},
                "fingerprint": {"type": "string", "description": "The actor's fingerprint (hex) when decided."},
                "prefixHash": {"type": ["string", "null"], "description": "The path hash it was compared with (hex)."},
                "k": {"type": "integer", "description": "The historyPath length (0 without a path)."},
                "fromState": _STATE_VALUE,
                "landingState": {"description": "Where a migrating actor landed; null otherwise."},
                "divergedSeq": {"type": "integer", "description": "replay-diverged: the seq of the event the new version did not handle."},
            },
        },
        "ActorDecisions": {
            "type": "object",
            "required": ["items", "nextAfter"],
            "properties": {"items": {"type": "array", "items": _ref("Decision")}, "nextAfter": {"type": ["integer", "null"]}},
        },
        "DeploymentDecisions": {
            "type": "object",
            "required": ["items", "nextCursor"],
            "properties": {"items": {"type": "array", "items": _ref("Decision")}, "nextCursor": {"type": ["string", "null"]}},
        },
        "Deployment": {
            "allOf": [
                _ref("Counts"),
                {
                    "type": "object",
                    "properties": {
                        "deploymentId": {"type": "string"},
                        "versionId": {"type": "string"},
                        "parentId": {"type": "string"},
                        "historyPath": {"type": ["array", "null"], "items": {"type": "string"}},
                        "createdAt": _TIME,
                        "status": {"type": "string", "enum": ["applying", "complete"]},
                        "shardsApplied": {"type": "integer"},
                    },
                },
            ]
        },
        "DeploymentList": {
            "type": "object",
            "required": ["items", "nextCursor"],
            "properties": {"items": {"type": "array", "items": _ref("Deployment")}, "nextCursor": {"type": ["string", "null"]}},
        },
        "SpawnRequest": {
            "type": "object",
            "required": ["versionId"],
            "additionalProperties": False,
            "properties": {
                "versionId": identifier,
                "actorId": {**identifier, "description": "Chosen by the caller, or generated (act_...)."},
                "context": {"type": "object"},
                "guards": guards,
            },
        },
        "Actor": {
            "type": "object",
            "required": ["actorId", "versionId", "stateValue", "status", "context", "seq", "fingerprint", "createdAt", "updatedAt"],
            "properties": {
                "actorId": {"type": "string"},
                "versionId": {"type": "string"},
                "stateValue": _STATE_VALUE,
                "status": {"type": "string", "enum": ["active", "done"]},
                "context": {"type": "object"},
                "seq": {"type": "integer", "description": "Number of handled events."},
                "fingerprint": {"type": "string", "description": "Hex of the last fingerprint chain value."},
                "createdAt": _TIME,
                "updatedAt": _TIME,
                "output": {},
                "tags": {"type": "array", "items": {"type": "string"}},
            },
        },
        "SpawnResponse": {
            "allOf": [_ref("Actor"), {"type": "object", "properties": {"effects": {"type": "array", "items": _ref("Effect")}}}]
        },
        "ActorList": {
            "type": "object",
            "required": ["items", "nextCursor"],
            "properties": {"items": {"type": "array", "items": _ref("Actor")}, "nextCursor": {"type": ["string", "null"]}},
        },
        "Event": {
            "type": "object",
            "required": ["type"],
            "additionalProperties": False,
            "properties": {"type": event_type, "payload": {"type": "object"}, "guards": guards},
        },
        "SendResponse": {
            "type": "object",
            "required": ["actorId", "versionId", "seq", "stateValue", "status", "changed", "effects"],
            "properties": {
                "actorId": {"type": "string"},
                "versionId": {"type": "string"},
                "seq": {"type": "integer"},
                "stateValue": _STATE_VALUE,
                "status": {"type": "string", "enum": ["active", "done"]},
                "changed": {"type": "boolean"},
                "effects": {"type": "array", "items": _ref("Effect")},
            },
        },
        "HistoryEvent": {
            "type": "object",
            "required": ["seq", "type", "time", "stateValue", "status"],
            "properties": {
                "seq": {"type": "integer"},
                "type": {"type": "string"},
                "time": _TIME,
                "payload": {"type": "object"},
                "guards": guards,
                "stateValue": _STATE_VALUE,
                "status": {"type": "string"},
            },
        },
        "History": {
            "type": "object",
            "required": ["items", "nextAfter"],
            "properties": {
                "items": {"type": "array", "items": _ref("HistoryEvent")},
                "nextAfter": {"type": ["integer", "null"], "description": "Pass as ?after= for the next page; null at the end."},
            },
        },
        "BatchEvent": {
            "type": "object",
            "required": ["actorId", "type"],
            "additionalProperties": False,
            "properties": {
                "actorId": {"type": "string"},
                "type": event_type,
                "payload": {"type": "object"},
                "guards": guards,
                "idempotencyKey": {"type": "string", "minLength": 1, "maxLength": 256},
            },
        },
        "BatchRequest": {
            "type": "object",
            "required": ["events"],
            "properties": {"events": {"type": "array", "maxItems": 1000, "items": _ref("BatchEvent")}},
        },
        "BatchResponse": {
            "type": "object",
            "required": ["results"],
            "properties": {
                "results": {
                    "type": "array",
                    "description": "One per event, in order: a send response, or a problem with its status.",
                    "items": {"oneOf": [_ref("SendResponse"), _ref("Problem")]},
                }
            },
        },
        "KeyRequest": {
            "type": "object",
            "required": ["scope"],
            "additionalProperties": False,
            "properties": {
                "scope": {"type": "string", "enum": ["admin", "write", "read"]},
                "name": {"type": "string", "minLength": 1, "maxLength": 128},
            },
        },
        "ApiKey": {
            "type": "object",
            "required": ["id", "name", "scope", "createdAt"],
            "properties": {
                "id": {"type": "string"},
                "name": {"type": ["string", "null"]},
                "scope": {"type": "string", "enum": ["admin", "write", "read"]},
                "createdAt": _TIME,
            },
        },
        "CreatedKey": {
            "allOf": [
                _ref("ApiKey"),
                {
                    "type": "object",
                    "required": ["key"],
                    "properties": {"key": {"type": "string", "description": "The secret (sk_...); shown only in this response."}},
                },
            ]
        },
        "KeyList": {"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": _ref("ApiKey")}}},
    }


_WATCH_DESCRIPTION = """WebSocket (GET with Upgrade). JSON text frames.

Authenticate with the Authorization header, or with a first frame
{"op": "auth", "key": "sk_..."} (scope read; sending needs write).

Client frames: {"op": "subscribe", "actorId" | "versionId", "fromSeq"?},
{"op": "unsubscribe", "actorId" | "versionId"},
{"op": "send", "id", "actorId", "event": {type, payload?, guards?}, "idempotencyKey"?},
{"op": "batch", "id", "events": [{actorId, type, payload?, guards?, idempotencyKey?}, ...]}
(at most 1,000 events, as POST /v1/events/batch takes them; answered by one result frame).
A subscription with fromSeq first replays the history events after that seq and the
migrations at or after it (for a version: what its watchers saw), then goes live.

Server frames: {"op": "change", actorId, versionId, seq, stateValue, status, event, at},
{"op": "result", id, status, body}, {"op": "error", status, type, detail}.

Close codes: 4001 missing, invalid or revoked key; 4008 the watcher fell behind
(resume with fromSeq); 1001 the server is shutting down."""


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the v1 API."""
    paths: dict[str, Any] = {
        "/healthz": {
            "get": _op("Liveness: 200 while the process runs.", scope=None, responses=_ok("Alive.", "Status"), tag="operations")
        },
        "/readyz": {
            "get": _op(
                "Readiness: 200 once recovery is complete, 503 before and while shutting down.",
                scope=None,
                responses=_ok("Ready.", "Status"),
                errors=(503,),
                tag="operations",
            )
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics (text exposition format 0.0.4); no API key, no identifiers.",
                "tags": ["operations"],
                "security": [],
                "responses": {"200": {"description": "Metrics.", "content": {"text/plain": {"schema": {"type": "string"}}}}},
            }
        },
        "/v1/openapi.json": {
            "get": {
                "summary": "This document.",
                "tags": ["operations"],
                "security": [],
                "responses": {"200": {"description": "OpenAPI 3.1.", "content": {_JSON: {"schema": {"type": "object"}}}}},
            }
        },
        "/v1/machines": {
            "post": _op(
                "Deploy a version.",
                description="201 when created, 200 for an identical redeploy of the same id, 409 for a different body under an existing id.",
                scope="admin",
                body="DeployRequest",
                responses={**_ok("Deployed (and migrated).", "DeployResponse", "201"), **_ok("Already deployed with this exact body.", "DeployResponse")},
                errors=(400, 404, 409, 413, 422),
                tag="machines",
            ),
            "get": _op("List versions (without definitions), in deploy order.", scope="read", responses=_ok("Versions.", "VersionList"), tag="machines"),
        },
        "/v1/machines/preview": {
            "post": _op(
                "Preview a deploy: the same evaluation, nothing written.",
                description="Returns who would migrate where, who would stay and why, and a previewToken; "
                "?summary=true returns the counts only. For a version id already deployed: with the same body, "
                "alreadyDeployed and nothing evaluated (its redeploy changes nothing); with another body, 409.",
                scope="admin",
                body="DeployRequest",
                parameters=[_query("summary", "Counts only.", {"type": "boolean", "default": False})],
                responses=_ok("The evaluation.", "Preview"),
                errors=(400, 404, 409, 413, 422),
                tag="machines",
            )
        },
        "/v1/deployments": {
            "get": _op(
                "List deployments in deploy order, with their counts by reason, paged.",
                scope="read",
                parameters=[_query("cursor", "The nextCursor of the previous page.", {"type": "string"}), _LIMIT],
                responses=_ok("A page of deployments.", "DeploymentList"),
                errors=(400, 422),
                tag="machines",
            )
        },
        "/v1/deployments/{deploymentId}": {
            "get": _op(
                "What a deployment did: counts by reason and its status.",
                scope="read",
                parameters=[_path_param("deploymentId", "The deployment id (dep-N).")],
                responses=_ok("The deployment.", "Deployment"),
                errors=(404,),
                tag="machines",
            )
        },
        "/v1/deployments/{deploymentId}/decisions": {
            "get": _op(
                "A deployment's decisions, paged.",
                scope="read",
                parameters=[
                    _path_param("deploymentId", "The deployment id (dep-N)."),
                    _query("cursor", "The nextCursor of the previous page.", {"type": "string"}),
                    _LIMIT,
                ],
                responses=_ok("A page of decisions.", "DeploymentDecisions"),
                errors=(400, 404, 422),
                tag="machines",
            )
        },
        "/v1/actors/{actorId}/decisions": {
            "get": _op(
                "Every migration decision for an actor, oldest first.",
                scope="read",
                parameters=[_ACTOR_ID, _query("after", "Decisions of deployments after this ordinal.", {"type": "integer", "minimum": 0, "default": 0}), _LIMIT],
                responses=_ok("A page of decisions.", "ActorDecisions"),
                errors=(400, 404, 409),
                tag="actors",
            )
        },
        "/v1/machines/{versionId}": {
            "get": _op(
                "Get a version with its definition and actor counts.",
                scope="read",
                parameters=[_path_param("versionId", "The version id.")],
                responses=_ok("The version.", "Version"),
                errors=(404,),
                tag="machines",
            )
        },
        "/v1/actors": {
            "post": _op(
                "Spawn an actor.",
                scope="write",
                body="SpawnRequest",
                responses=_ok("Spawned (durable).", "SpawnResponse", "201"),
                errors=(400, 404, 409, 413, 422),
                tag="actors",
            ),
            "get": _op(
                "List actors, filtered by version and state, paged.",
                scope="read",
                parameters=[
                    _query("versionId", "Only actors on this version (404 if it does not exist).", {"type": "string"}),
                    _query("state", "Only actors in this state: a dotted path such as 'review.pending'.", {"type": "string"}),
                    _query("cursor", "The nextCursor of the previous page.", {"type": "string"}),
                    _LIMIT,
                ],
                responses=_ok("A page of actors.", "ActorList"),
                errors=(400, 404, 422),
                tag="actors",
            ),
        },
        "/v1/actors/{actorId}": {
            "get": _op(
                "Get an actor's snapshot.",
                scope="read",
                parameters=[_ACTOR_ID],
                responses=_ok("The actor.", "Actor"),
                errors=(404, 409),
                tag="actors",
            )
        },
        "/v1/actors/{actorId}/events": {
            "post": _op(
                "Send an event; answered once durable.",
                description="409 event-not-handled lists the accepted events; 409 actor-done for a finished actor. "
                "A retry with the same Idempotency-Key and body returns the first response and applies nothing; "
                "the same key with another body is 422.",
                scope="write",
                body="Event",
                parameters=[
                    _ACTOR_ID,
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "minLength": 1, "maxLength": 256},
                    },
                ],
                responses=_ok("Handled and durable.", "SendResponse"),
                errors=(400, 404, 409, 413, 422),
                tag="events",
            ),
            "get": _op(
                "Read an actor's history, oldest first, paged by seq.",
                scope="read",
                parameters=[_ACTOR_ID, _query("after", "Events with seq > after.", {"type": "integer", "minimum": 0, "default": 0}), _LIMIT],
                responses=_ok("A page of history.", "History"),
                errors=(400, 404, 409),
                tag="events",
            ),
        },
        "/v1/events/batch": {
            "post": _op(
                "Send up to 1,000 events; results in the same order.",
                description="Events to one actor apply in batch order; one bad item does not fail the others.",
                scope="write",
                body="BatchRequest",
                responses=_ok("Per-event results.", "BatchResponse"),
                errors=(400, 413, 422),
                tag="events",
            )
        },
        "/v1/keys": {
            "post": _op(
                "Create an API key; the secret is shown only in this response.",
                scope="admin",
                body="KeyRequest",
                responses=_ok("Created.", "CreatedKey", "201"),
                errors=(400, 413, 422),
                tag="keys",
            ),
            "get": _op("List API keys (never their secrets).", scope="admin", responses=_ok("Keys.", "KeyList"), tag="keys"),
        },
        "/v1/keys/{keyId}": {
            "delete": _op(
                "Revoke an API key, effective for the next request.",
                description="409 when it is the last admin key.",
                scope="admin",
                parameters=[_path_param("keyId", "The key id (key_...).")],
                responses={"204": {"description": "Revoked."}},
                errors=(404, 409),
                tag="keys",
            )
        },
        "/v1/watch": {
            "get": {
                "summary": "Watch state changes and send events over a WebSocket.",
                "description": _WATCH_DESCRIPTION,
                "tags": ["watch"],
                "security": [{"bearerAuth": []}, {}],
                "x-scope": "read",
                "x-websocket": True,
                "responses": {"101": {"description": "Switching protocols."}, **_errors(401, 426, 503)},
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "skruntime",
            "version": skruntime.__version__,
            "description": "Statechart hosting: deploy XState v5 JSON machines, spawn durable actors, send events. "
            "Every error is application/problem+json (RFC 9457).",
        },
        "tags": [{"name": name} for name in ("machines", "actors", "events", "keys", "watch", "operations")],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key (sk_...). Scopes: admin > write > read.",
                }
            },
            "responses": {
                "Problem": {
                    "description": "An error (RFC 9457).",
                    "content": {"application/problem+json": {"schema": _ref("Problem")}},
                }
            },
            "schemas": _schemas(),
        },
    }
