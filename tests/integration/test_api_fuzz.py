"""Fuzz the JSON API from its own OpenAPI document: no input gives a 500.

Strategies are built from ``/api/v1/openapi.json`` itself: each operation,
its path and query parameters and its request body, mostly well-formed
(so the handlers' deeper checks run) and sometimes any JSON at all.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_node.domain.clock import local, now_utc
from edge_node.services import population
from tests.conftest import add_user, valid_dossier

# Operations that end the caller's own token would starve the rest of the run;
# their own tests cover them (tests/integration/test_tokens.py).
SKIP = {("delete", "/api/v1/session"), ("delete", "/api/v1/tokens/{id}")}
JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) |
                    st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
                    lambda inner: st.lists(inner, max_size=4) |
                    st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=12)


def _resolve(schema: dict, spec: dict) -> dict:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _scalar(kind: str, schema: dict) -> st.SearchStrategy:
    fmt = schema.get("format")
    if kind == "string":
        if fmt == "date":
            return st.dates().map(lambda d: d.isoformat()) | st.text(max_size=12)
        if fmt == "date-time":
            return st.datetimes(timezones=st.just(local(now_utc()).tzinfo)).map(
                lambda d: d.isoformat()) | st.text(max_size=25)
        return st.text(max_size=schema.get("maxLength", 60))
    if kind == "integer":
        return st.integers(-10, 10**4) | st.integers()
    if kind == "number":
        return st.floats(allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    return JSON


def from_schema(schema: dict, spec: dict, depth: int = 0) -> st.SearchStrategy:
    """Values that mostly fit *schema*, and any JSON now and then."""
    schema = _resolve(schema, spec)
    if depth > 4:
        return JSON
    if "enum" in schema:
        return st.sampled_from(schema["enum"]) | st.text(max_size=8)
    kinds = schema.get("type", "object")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    options = []
    for kind in kinds:
        if kind == "object":
            props = schema.get("properties", {})
            required = [k for k in schema.get("required", []) if k in props]
            optional = {k: from_schema(v, spec, depth + 1) for k, v in props.items()
                        if k not in required}
            options.append(st.fixed_dictionaries(
                {k: from_schema(props[k], spec, depth + 1) for k in required},
                optional=optional))
        elif kind == "array":
            options.append(st.lists(from_schema(schema.get("items", {}), spec, depth + 1),
                                    max_size=4))
        else:
            options.append(_scalar(kind, schema))
    return st.one_of(*options) | JSON if depth == 0 else st.one_of(*options)


def _operations(spec: dict) -> list[tuple[str, str, dict]]:
    return [(method, path, op) for path, item in sorted(spec["paths"].items())
            for method, op in sorted(item.items())
            if path.startswith("/api/") and (method, path) not in SKIP]


def test_no_api_input_gives_a_500(app, db):
    app.config["EDGE"].values.update(login_rate_per_minute=10**6, api_rate_per_minute=10**6)
    add_user(db, "canbo1", "clerk")
    add_user(db, "quantri", "admin")
    population.grant(db, "canbo1", decision="1/QĐ-CAT",
                     until=(local(now_utc()).date() + timedelta(days=1)).isoformat(),
                     actor="test", now=now_utc())
    client = app.test_client()
    tokens = {}
    for name, scopes in (("canbo1", ["read", "write"]), ("quantri", ["read", "write", "admin"])):
        resp = client.post("/api/v1/session", json={"username": name,
                                                    "password": "mat-khau-thu-nghiem",
                                                    "scopes": scopes})
        tokens[name] = resp.get_json()["token"]
    created = client.post("/api/v1/dossiers", json=valid_dossier(),
                          headers={"Authorization": f"Bearer {tokens['canbo1']}"})
    real_code = created.get_json()["code"]
    spec = client.get("/api/v1/openapi.json").get_json()
    operations = _operations(spec)
    path_value = st.sampled_from([real_code, "1", "KHONG-CO"]) | st.text(
        st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20)

    @st.composite
    def calls(draw):
        method, path, op = draw(st.sampled_from(operations))
        url, query = path, {}
        for param in op.get("parameters", []):
            if param["in"] == "path":
                url = url.replace("{" + param["name"] + "}",
                                  quote(str(draw(path_value)), safe=""))
            elif param.get("required") or draw(st.booleans()):
                value = draw(from_schema(param.get("schema", {}), spec, depth=1))
                if param["name"] == "format" and value in ("csv", "xlsx"):
                    value = "json"  # files are checked elsewhere; keep answers JSON
                query[param["name"]] = str(value)
        body = None
        content = op.get("requestBody", {}).get("content", {}).get("application/json")
        if content:
            body = draw(from_schema(content["schema"], spec))
            if (method, path) == ("post", "/api/v1/dossiers") and draw(st.booleans()):
                # a valid dossier with one field broken: the validators' own paths run
                body = valid_dossier()
                key = draw(st.sampled_from(sorted(body) + ["time_limit", "decision", "items"]))
                body[key] = draw(JSON | from_schema(
                    spec["components"]["schemas"]["NewDossier"]["properties"].get(key, {}),
                    spec, depth=1))
        who = draw(st.sampled_from(["canbo1", "quantri", None]))
        return method, url, query, body, who

    @settings(max_examples=400, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow])
    @given(call=calls())
    def run(call):
        method, url, query, body, who = call
        headers = {"Authorization": f"Bearer {tokens[who]}"} if who else {}
        resp = getattr(client, method)(url, query_string=query, json=body, headers=headers)
        assert resp.status_code < 500, (method, url, query, body, resp.get_data(as_text=True))
        if resp.status_code != 204 and not 300 <= resp.status_code < 400:
            # (a 3xx is the router tidying a path, e.g. "//" from an encoded slash)
            assert resp.is_json, (method, url, resp.status_code)
            if resp.status_code >= 400:
                assert set(resp.get_json()["error"]) >= {"code", "message"}

    run()
