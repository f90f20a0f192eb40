"""OpenAPI 3.1 description of ``/api/v1``: the contract scripts and the province rely on."""

from __future__ import annotations

from edge_node import __version__
from edge_node.domain.lifecycle import ACTIONS

_ERROR = {"$ref": "#/components/schemas/Error"}


def _resp(description: str, schema: dict | None = None) -> dict:
    out: dict = {"description": description}
    if schema is not None:
        out["content"] = {"application/json": {"schema": schema}}
    return out


def _errors(*codes: int) -> dict:
    names = {400: "Bad input; nothing written", 401: "Not logged in",
             403: "Wrong role, missing token scope, or no population-data grant",
             404: "Not found", 423: "Account locked",
             429: "Rate limited; Retry-After header and error.retry_after say when to retry"}
    return {str(c): _resp(names[c], _ERROR) for c in codes}


def spec() -> dict:
    """Return the OpenAPI document."""
    time_limit = {
        "type": "object",
        "properties": {
            "value": {"type": ["number", "null"]},
            "unit": {"type": ["string", "null"],
                     "enum": ["working_days", "working_hours", "same_day", "calendar_days",
                              None]},
        },
    }
    applicant = {
        "type": "object",
        "required": ["full_name", "id_number", "phone", "address"],
        "properties": {
            "full_name": {"type": "string", "maxLength": 100},
            "id_number": {"type": "string", "description": "12-digit CCCD or 9-digit CMND. In "
                          "answers masked as 0010******45 (always in lists; in one dossier "
                          "unless the caller holds a population-data grant in force)"},
            "phone": {"type": "string", "description": "Vietnamese phone, e.g. 0912345678"},
            "address": {"type": "string", "maxLength": 300},
            "email": {"type": "string"},
        },
    }
    dossier = {
        "type": "object",
        "properties": {
            "code": {"type": "string", "example": "DEM.00.00.Z00-261203-0001"},
            "status": {"type": "string", "example": "DA_TIEP_NHAN"},
            "dvcqg_status": {"type": ["integer", "null"], "minimum": 1, "maximum": 10},
            "procedure_code": {"type": "string"}, "procedure_name": {"type": "string"},
            "applicant": applicant,
            "documents_received": {"type": "array", "items": {"type": "string"}},
            "return_method": {"type": "string", "enum": ["counter", "postal", "online"]},
            "postal_address": {"type": "string"}, "fee_vnd": {"type": "integer"},
            "time_limit": time_limit,
            "received_at": {"type": "string", "format": "date-time"},
            "received_effective_at": {"type": "string", "format": "date-time"},
            "due_at": {"type": "string", "format": "date-time"},
            "identity_status": {"type": "string",
                                "enum": ["chua_xac_thuc", "da_xac_thuc", "khong_khop"]},
            "original_due_at": {"type": ["string", "null"], "format": "date-time"},
            "extension_count": {"type": "integer", "maximum": 1},
            "transfer_due_at": {"type": ["string", "null"], "format": "date-time"},
            "current_step": {"type": ["object", "null"]},
            "assignee": {"type": ["string", "null"]},
            "steps": {"type": "array", "items": {"type": "object"}},
            "fee": {"type": "object"}, "obligation": {"type": "object"},
            "supplement": {"type": "object"}, "reason": {"type": "string"},
            "completed_at": {"type": ["string", "null"], "format": "date-time"},
            "result_kind": {"type": ["string", "null"], "enum": ["result", "refusal", None]},
            "returned_at": {"type": ["string", "null"], "format": "date-time"},
            "return_channel": {"type": ["string", "null"]},
            "waybill_no": {"type": ["string", "null"]},
            "postal_fee_vnd": {"type": "integer"}, "correction_count": {"type": "integer"},
            "channel": {"type": "integer", "enum": [1, 2],
                        "description": "DVCQG KenhThucHien: 1 at the counter, 2 online"},
            "national_code": {"type": ["string", "null"],
                              "description": "MaHoSo on the national portal (online dossiers)"},
            "submitted_at": {"type": ["string", "null"], "format": "date-time",
                             "description": "NgayNopHoSo of an online dossier"},
            "online_paid": {"type": "boolean", "description": "paid online (DVCQG)"},
            "identity_note": {"type": "string"},
            "pending_request": {"type": ["string", "null"], "enum": ["withdrawal",
                                                                     "adjustment", None],
                                "description": "a citizen's request from the portal waiting "
                                               "for the clerk (withdraw / resolve_request)"},
            "pending_request_note": {"type": "string"},
        },
    }
    bearer = [{"bearer": []}]
    code_param = {"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}
    attachment = {"type": "object", "properties": {
        "id": {"type": "string"}, "dossier_code": {"type": "string"},
        "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "size": {"type": "integer", "minimum": 1},
        "mime": {"type": "string", "enum": ["application/pdf", "image/jpeg", "image/png"]},
        "name": {"type": "string", "description": "original file name, NFC"},
        "label": {"type": "string"}, "uploaded_at": {"type": "string", "format": "date-time"},
        "uploaded_by": {"type": "string"},
        "removed_at": {"type": ["string", "null"], "format": "date-time"},
        "transfer": {"type": "object", "properties": {
            "state": {"type": "string", "enum": ["pending", "sent", "failed"]},
            "sent_bytes": {"type": "integer"},
            "sent_at": {"type": ["string", "null"], "format": "date-time"},
            "error": {"type": ["string", "null"]}}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Commune edge node API", "version": __version__,
                 "description": "Offline One-stop dossier handling. Instants are UTC ISO 8601; "
                                "money is integer đồng."},
        "servers": [{"url": "/"}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                    "type": "object", "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                                   "fields": {"type": "object",
                                              "additionalProperties": {"type": "string"}}}}}},
                "Procedure": {"type": "object", "properties": {
                    "code": {"type": "string"}, "name": {"type": "string"},
                    "field": {"type": "string"}, "time_limit": time_limit,
                    "fee_vnd": {"type": ["integer", "null"]},
                    "documents": {"type": "array", "items": {"type": "string"}}}},
                "Dossier": dossier,
                "Token": {"type": "object", "properties": {
                    "id": {"type": "string"}, "user": {"type": "string"},
                    "label": {"type": "string"},
                    "scopes": {"type": "array", "items": {"type": "string"}},
                    "created_at": {"type": "string", "format": "date-time"},
                    "expires_at": {"type": "string", "format": "date-time"},
                    "current": {"type": "boolean"}}},
                "PopulationLookup": {"type": "object", "properties": {
                    "id": {"type": "integer"}, "request_id": {"type": "string"},
                    "dossier_code": {"type": "string"}, "officer": {"type": "string"},
                    "purpose": {"type": "string"}, "service_code": {"type": "string"},
                    "id_number_masked": {"type": "string", "example": "0010******45"},
                    "requested_at": {"type": "string", "format": "date-time"},
                    "status": {"type": "string",
                               "enum": ["queued", "found", "not_found", "refused"]},
                    "answered_at": {"type": ["string", "null"], "format": "date-time"},
                    "answer": {"type": "object", "description": "detail only: {found, "
                               "citizen: {full_name, id_number, birth_date, gender, "
                               "permanent_address} | null, note}"}}},
                "NewDossier": {
                    "type": "object",
                    "required": ["procedure_code", "applicant", "return_method"],
                    "properties": {
                        "procedure_code": {"type": "string"}, "applicant": applicant,
                        "documents_received": {"type": "array", "items": {"type": "string"}},
                        "return_method": {"type": "string",
                                          "enum": ["counter", "postal", "online"]},
                        "postal_address": {"type": "string"},
                        "time_limit": {**time_limit, "description":
                                       "only when the catalog has no limit for the procedure"},
                        "decision": {"type": "string", "default": "accept",
                                     "enum": ["accept", "request_supplement", "refuse"],
                                     "description": "request_supplement (Mẫu 02) and refuse "
                                                    "(Mẫu 03) record the visit under a "
                                                    "PN-yyMMdd-NNNN slip number, no clock"},
                        "items": {"type": "array", "items": {"type": "string"}},
                        "reason": {"type": "string"},
                    }},
            },
        },
        "paths": {
            "/healthz": {"get": {"summary": "Liveness and database check", "responses": {
                "200": _resp("Up", {"type": "object", "properties": {
                    "status": {"type": "string"}, "version": {"type": "string"},
                    "db": {"type": "string"},
                    "integrity": {"type": "string",
                                  "description": "PRAGMA quick_check, cached 5 minutes"},
                    "disk_free_bytes": {"type": ["integer", "null"]},
                    "last_backup_at": {"type": ["string", "null"], "format": "date-time"},
                    "last_backup_age_seconds": {"type": ["integer", "null"]},
                    "sync_backlog": {"type": "integer",
                                     "description": "events not yet acknowledged by the hub"},
                }}),
                "503": _resp("Database not usable")}}},
            "/api/v1/session": {
                "post": {"summary": "Log in; returns a Bearer token", "requestBody": {
                    "required": True, "content": {"application/json": {"schema": {
                        "type": "object", "required": ["username", "password"],
                        "properties": {"username": {"type": "string"},
                                       "password": {"type": "string"},
                                       "scopes": {"type": "array", "minItems": 1, "items": {
                                           "type": "string", "enum": ["read", "write",
                                                                      "admin"]},
                                           "description": "default [read, write]; read "
                                           "allows GET, write changes, admin the admin-only "
                                           "endpoints (admin accounts only)"},
                                       "label": {"type": "string", "maxLength": 100}}}}}},
                    "description": "Rate-limited per client address (429 with Retry-After).",
                    "responses": {"201": _resp("Token", {"type": "object", "properties": {
                        "token": {"type": "string"},
                        "expires_at": {"type": "string", "format": "date-time"},
                        "scopes": {"type": "array", "items": {"type": "string"}},
                        "user": {"type": "object"}}}), **_errors(400, 401, 403, 423, 429)}},
                "delete": {"summary": "Revoke the token", "security": bearer,
                           "responses": {"204": _resp("Revoked"), **_errors(401)}},
            },
            "/api/v1/procedures": {"get": {
                "summary": "Search the catalog (diacritics and Đ/đ folded)", "security": bearer,
                "parameters": [{"name": "q", "in": "query", "schema": {"type": "string"}},
                               {"name": "limit", "in": "query",
                                "schema": {"type": "integer", "maximum": 500}}],
                "responses": {"200": _resp("Matches", {"type": "object", "properties": {
                    "items": {"type": "array",
                              "items": {"$ref": "#/components/schemas/Procedure"}}}}),
                    **_errors(400, 401)}}},
            "/api/v1/dossiers": {
                "post": {"summary": "Receive a complete dossier at the counter (role clerk)",
                         "security": bearer, "requestBody": {"required": True, "content": {
                             "application/json": {"schema": {
                                 "$ref": "#/components/schemas/NewDossier"}}}},
                         "responses": {"201": _resp("Received", {
                             "$ref": "#/components/schemas/Dossier"}),
                             **_errors(400, 401, 403)}},
                "get": {"summary": "List dossiers", "security": bearer, "parameters": [
                    {"name": "status", "in": "query", "schema": {"type": "string"},
                     "description": "a state, a comma list, or 'open'"},
                    {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                    {"name": "offset", "in": "query", "schema": {"type": "integer"}}],
                    "responses": {"200": _resp("Dossiers", {"type": "object", "properties": {
                        "items": {"type": "array",
                                  "items": {"$ref": "#/components/schemas/Dossier"}}}}),
                        **_errors(400, 401)}},
            },
            "/api/v1/calendar/due": {"get": {
                "summary": "Due date of a limit from a receipt instant (as intake computes it)",
                "security": bearer, "parameters": [
                    {"name": "received_at", "in": "query", "required": True,
                     "schema": {"type": "string", "format": "date-time"},
                     "description": "ISO 8601 with a time zone"},
                    {"name": "value", "in": "query", "schema": {"type": "integer", "minimum": 1},
                     "description": "required except for same_day"},
                    {"name": "unit", "in": "query", "required": True, "schema": {
                        "type": "string", "enum": ["working_days", "working_hours", "same_day",
                                                   "calendar_days"]}}],
                "responses": {"200": _resp("Due date", {"type": "object", "properties": {
                    "due_at": {"type": "string", "format": "date-time"},
                    "received_effective_at": {"type": "string", "format": "date-time"}}}),
                    **_errors(400, 401)}}},
            "/api/v1/calendar/days": {"get": {
                "summary": "Working or not, and why, for each date of a range (at most 5 years)",
                "security": bearer, "parameters": [
                    {"name": "from", "in": "query", "required": True,
                     "schema": {"type": "string", "format": "date"}},
                    {"name": "to", "in": "query", "required": True,
                     "schema": {"type": "string", "format": "date"}}],
                "responses": {"200": _resp("Days", {"type": "object", "properties": {
                    "days": {"type": "array", "items": {"type": "object", "properties": {
                        "date": {"type": "string", "format": "date"},
                        "working": {"type": "boolean"},
                        "kind": {"type": "string", "enum": [
                            "workday", "weekend", "holiday", "swap_off", "makeup_workday",
                            "override_off", "override_work"]},
                        "reason": {"type": "string"}}}}}}), **_errors(400, 401)}}},
            "/api/v1/dossiers/{code}/actions": {"post": {
                "summary": "Apply a lifecycle action (see docs/lifecycle.md for parameters)",
                "security": bearer,
                "parameters": [{"name": "code", "in": "path", "required": True,
                                "schema": {"type": "string"}}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["action"], "properties": {
                        "action": {"type": "string", "enum": sorted(ACTIONS)},
                        "to_user": {"type": "string"}, "note": {"type": "string"},
                        "reason": {"type": "string"},
                        "items": {"type": "array", "items": {"type": "string"}},
                        "amount_vnd": {"type": "integer", "minimum": 1},
                        "receipt_no": {"type": "string"}, "description": {"type": "string"},
                        "new_due_at": {"type": "string", "format": "date-time"},
                        "result": {"type": "string"},
                        "channel": {"type": "string", "enum": ["counter", "postal", "online"]},
                        "waybill_no": {"type": "string"},
                        "postal_address": {"type": "string", "maxLength": 300},
                        "postal_fee_vnd": {"type": "integer", "minimum": 0}}}}}},
                "responses": {"200": _resp("New state", {"$ref": "#/components/schemas/Dossier"}),
                              "409": _resp("Illegal in this state", _ERROR),
                              **_errors(400, 401, 403, 404)}}},
            "/api/v1/dossiers/{code}/events": {"get": {
                "summary": "The dossier's events, oldest first", "security": bearer,
                "parameters": [{"name": "code", "in": "path", "required": True,
                                "schema": {"type": "string"}}],
                "responses": {"200": _resp("Events", {"type": "object", "properties": {
                    "items": {"type": "array", "items": {"type": "object", "properties": {
                        "event_id": {"type": "string"}, "type": {"type": "string"},
                        "at": {"type": "string", "format": "date-time"},
                        "actor": {"type": "string"}, "actor_role": {"type": "string"},
                        "set": {"type": "object"}, "data": {"type": "object"}}}}}}),
                    **_errors(401, 404)}}},
            "/api/v1/reports/period": {"get": {
                "summary": "Biểu 06a period report and 766 indicators, computed from events",
                "security": bearer, "parameters": [
                    {"name": "from", "in": "query", "required": True,
                     "schema": {"type": "string", "format": "date"}},
                    {"name": "to", "in": "query", "required": True,
                     "schema": {"type": "string", "format": "date"}},
                    {"name": "format", "in": "query",
                     "schema": {"type": "string", "enum": ["json", "csv", "xlsx"]}}],
                "responses": {"200": _resp("Report", {"type": "object", "properties": {
                    "period": {"type": "object"},
                    "received": {"type": "object", "properties": {
                        k: {"type": "integer"} for k in ("total", "online", "direct",
                                                          "carried_over")}},
                    "done": {"type": "object", "properties": {
                        k: {"type": "integer"} for k in ("total", "early", "on_time", "late")}},
                    "in_progress": {"type": "object", "properties": {
                        k: {"type": "integer"} for k in ("total", "within_time", "overdue")}},
                    "ended_without_result": {"type": "object"},
                    "by_field": {"type": "array", "items": {"type": "object"}},
                    "by_procedure": {"type": "array", "items": {"type": "object"}},
                    "indicators": {"type": "object"}}}), **_errors(400, 401)}}},
            "/api/v1/sync/reconcile": {"get": {
                "summary": "Compare per-day digests of acknowledged events with the hub",
                "security": bearer,
                "responses": {"200": _resp("Comparison", {"type": "object", "properties": {
                    "match": {"type": "boolean"}, "pending_events": {"type": "integer"},
                    "days": {"type": "array", "items": {"type": "object"}}}}),
                    "409": _resp("The node needs someone to act before it can compare:"
                                 " not_enrolled, seq_reused, outbox_damaged, revoked_sender,"
                                 " unknown_sender, unsupported_version, recover_pending",
                                 _ERROR),
                    "503": _resp("Hub unreachable or busy; try again later", _ERROR),
                    **_errors(401)}}},
            "/api/v1/dossiers/{code}/attachments": {
                "post": {
                    "summary": "Attach a scanned document (PDF, JPEG or PNG, recognised by its "
                               "first bytes; roles clerk, officer)",
                    "description": "The file is stored by its SHA-256 and sent to the province "
                                   "in the background. Larger than the node's "
                                   "attachment_max_mb (default 20) → 413; another type → 415; "
                                   "the same file already attached → 409. Nothing is written "
                                   "when refused.",
                    "security": bearer, "parameters": [code_param],
                    "requestBody": {"required": True, "content": {"multipart/form-data": {
                        "schema": {"type": "object", "required": ["file"], "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "label": {"type": "string", "maxLength": 300,
                                      "description": "which required document this is"}}}}}},
                    "responses": {"201": _resp("Attached", attachment),
                                  "409": _resp("Already attached", _ERROR),
                                  "413": _resp("Larger than attachment_max_mb", _ERROR),
                                  "415": _resp("Not a PDF, JPEG or PNG", _ERROR),
                                  **_errors(400, 401, 403, 404)}},
                "get": {"summary": "The dossier's attachments, removed ones included (marked)",
                        "security": bearer, "parameters": [code_param],
                        "responses": {"200": _resp("Attachments", {
                            "type": "object", "properties": {
                                "items": {"type": "array", "items": attachment}}}),
                            **_errors(401, 404)}}},
            "/api/v1/dossiers/{code}/attachments/{sha256}": {"get": {
                "summary": "Download an attachment's bytes", "security": bearer,
                "parameters": [code_param, {"name": "sha256", "in": "path", "required": True,
                                            "schema": {"type": "string",
                                                       "pattern": "^[0-9a-f]{64}$"}}],
                "responses": {"200": {"description": "The file", "content": {
                    m: {"schema": {"type": "string", "format": "binary"}}
                    for m in ("application/pdf", "image/jpeg", "image/png")}},
                    **_errors(401, 404)}}},
            "/api/v1/tokens": {"get": {
                "summary": "The caller's live API tokens (never the secrets)", "security": bearer,
                "parameters": [{"name": "all", "in": "query", "schema": {
                    "type": "string", "enum": ["1"]}, "description": "every account's tokens "
                    "(admin account; by token, the admin scope)"}],
                "responses": {"200": _resp("Tokens", {"type": "object", "properties": {
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/Token"}}
                }}), **_errors(401, 403, 429)}}},
            "/api/v1/tokens/{id}": {"delete": {
                "summary": "Revoke one of the caller's tokens (admins: anyone's)",
                "security": bearer,
                "parameters": [{"name": "id", "in": "path", "required": True,
                                "schema": {"type": "string"}}],
                "responses": {"204": _resp("Revoked"), **_errors(401, 404, 429)}}},
            "/api/v1/dossiers/{code}/population-lookups": {
                "get": {"summary": "Population-DB look-ups of one dossier (grant needed)",
                        "security": bearer,
                        "parameters": [{"name": "code", "in": "path", "required": True,
                                        "schema": {"type": "string"}}],
                        "responses": {"200": _resp("Look-ups", {"type": "object", "properties": {
                            "items": {"type": "array", "items": {
                                "$ref": "#/components/schemas/PopulationLookup"}}}}),
                            **_errors(401, 403, 404, 429)}},
                "post": {"summary": "Queue a look-up of the applicant for the province "
                                    "(grant needed; audited)",
                         "security": bearer,
                         "parameters": [{"name": "code", "in": "path", "required": True,
                                         "schema": {"type": "string"}}],
                         "requestBody": {"required": True, "content": {"application/json": {
                             "schema": {"type": "object", "required": ["purpose"],
                                        "properties": {
                                            "purpose": {"type": "string", "minLength": 5,
                                                        "maxLength": 500},
                                            "birth_date": {"type": "string",
                                                           "format": "date"}}}}}},
                         "responses": {"202": _resp("Queued", {
                             "$ref": "#/components/schemas/PopulationLookup"}),
                             **_errors(400, 401, 403, 404, 429)}}},
            "/api/v1/dossiers/{code}/population-lookups/{id}": {"get": {
                "summary": "One look-up with the province's answer, decrypted (grant needed; "
                           "the view is audited)", "security": bearer,
                "parameters": [{"name": "code", "in": "path", "required": True,
                                "schema": {"type": "string"}},
                               {"name": "id", "in": "path", "required": True,
                                "schema": {"type": "integer"}}],
                "responses": {"200": _resp("Look-up", {
                    "$ref": "#/components/schemas/PopulationLookup"}),
                    **_errors(401, 403, 404, 429)}}},
            "/api/v1/dossiers/{code}": {"get": {
                "summary": "One dossier", "security": bearer,
                "parameters": [{"name": "code", "in": "path", "required": True,
                                "schema": {"type": "string"}}],
                "responses": {"200": _resp("Dossier", {"$ref": "#/components/schemas/Dossier"}),
                              **_errors(401, 404)}}},
        },
    }
