"""The OpenAPI 3.1 description of the public HTTP API (OPERATIONS.md "OpenAPI").

The document lives beside the routes, in Sources/WardenHTTP/Routes/openapi.yaml, and the
server serves it at GET /openapi.yaml. Here:

- the repository file is a valid OpenAPI 3.1 document (openapi-spec-validator), and the
  served one is that file byte for byte, as `application/yaml`;
- it describes every endpoint the metadata advertises;
- real flows (the code flow through the login and consent pages, refresh, client
  credentials with both client authentication methods and a public client,
  introspection of access and refresh tokens, revocation, UserInfo, logout, rate limits)
  answer exactly what the document says: status, content type, documented headers, body;
- schemathesis, loading the repository file, runs every operation against the live
  binary with a bounded number of generated requests (positive and negative), some with
  real credentials so that they get past client authentication or carry a live bearer
  token, and checks no 5xx, a documented status and content type, the documented headers,
  and a body matching its schema. Generation is deterministic (derandomized, fixed seed).

One exception is written into the checks, narrowly: UserInfo without any token answers
401 with the bare challenge `Bearer realm="warden"` and an empty body without a
Content-Type (RFC 6750 §3.1), which OpenAPI cannot express beside the JSON body the same
status carries for `invalid_token`; that response is checked for exactly that shape
instead of against the JSON media type."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Iterator
from urllib.parse import quote_plus, urlsplit

import pytest
import requests
import schemathesis
import yaml
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from interop import (
    NO_FAILURE_LIMITS,
    PRELOGIN_COOKIE,
    REPO_ROOT,
    Client,
    Page,
    Server,
    User,
    UserAgent,
    Warden,
    authorization_params,
    finish,
    obtain_code,
    pkce_pair,
    query_params,
)

SPEC_PATH = REPO_ROOT / "Sources" / "WardenHTTP" / "Routes" / "openapi.yaml"

#: Generated requests per operation and generation mode in schemathesis' fuzzing phase
#: (its examples and coverage phases add their own, bounded by the document).
MAX_EXAMPLES = 40
#: A fixed seed: with derandomized generation, every run sends the same requests.
SEED = 7662

API = "https://api.example.com"
REPORTS = "https://reports.example.com"
REDIRECT_URI = "http://127.0.0.1:9/callback"  # never followed: every redirect is read, not taken
SIGNED_OUT_URI = "http://127.0.0.1:9/signed-out"

#: The checks every response goes through: no 5xx, a documented status and content type,
#: the documented headers (required ones present, every one matching its schema), and a
#: body matching the documented schema.
STRICT_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _load_schema() -> schemathesis.BaseSchema:
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {
                "mode": "all",
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",
            },
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": False},
            },
            "request-timeout": 10,
        }
    )
    return schemathesis.openapi.from_path(SPEC_PATH, config=config)


SCHEMA = _load_schema()


# -- the installation ------------------------------------------------------------------------------


@dataclass
class Api:
    """A server with real clients, a user and a live OpenID access token."""

    warden: Warden
    server: Server
    basic: Client  # confidential, client_secret_basic: client credentials and the code flow
    post: Client  # confidential, client_secret_post: client credentials
    public: Client  # public (none): the code flow with PKCE
    user: User
    bearer: str  # an access token with openid profile email, of a grant nothing here ends
    login_form: dict[str, str]  # a login page's csrf_token and authorization_request
    prelogin_cookie: str  # the cookie that goes with that login page's CSRF token


def basic_authorization(client: Client) -> str:
    """RFC 6749 §2.3.1: id and secret form-urlencoded, then joined and base64-encoded."""
    raw = f"{quote_plus(client.client_id)}:{quote_plus(client.client_secret or '')}"
    return "Basic " + base64.b64encode(raw.encode()).decode()


def new_user(warden: Warden) -> User:
    return warden.create_user(
        "alice-" + secrets.token_hex(4),
        extra=("--name", "Alice Example", "--given-name", "Alice", "--family-name", "Example",
               "--email", "alice@example.com", "--email-verified"),
    )


def code_flow_tokens(server: Server, client: Client, user: User, scope: str, agent: UserAgent | None = None) -> dict:
    agent = agent or UserAgent(server)
    code, verifier = obtain_code(agent, client, user, REDIRECT_URI, scope=scope)
    response = server.code_token(client, code, redirect_uri=REDIRECT_URI, code_verifier=verifier)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def api(tmp_path_factory) -> Iterator[Api]:
    # Generated requests fail client authentication and logins on purpose, often: a 429
    # there would hide what the input itself does (the rate limits have a test of their own).
    warden = Warden(tmp_path_factory.mktemp("openapi"), config=dict(NO_FAILURE_LIMITS))
    server = warden.start_server()
    logout = ("--post-logout-redirect-uri", SIGNED_OUT_URI)
    basic = warden.create_code_client(
        name="Reports", scope="openid profile email offline_access reports:read", public=False,
        grant_types=("authorization_code", "refresh_token", "client_credentials"), audiences=(API, REPORTS),
        redirect_uris=(REDIRECT_URI,), extra=logout,
    )
    post = warden.create_client(name="Billing", scope="invoices:read", audiences=(API,), auth_method="client_secret_post")
    public = warden.create_code_client(
        name="Single Page App", scope="openid profile email offline_access", redirect_uris=(REDIRECT_URI,), extra=logout,
    )
    user = new_user(warden)
    bearer = code_flow_tokens(server, public, user, "openid profile email")["access_token"]
    agent = UserAgent(server)
    login_page = agent.authorize(authorization_params(public, REDIRECT_URI, scope="openid", challenge=pkce_pair()[1]))
    assert login_page.status_code == 200 and Page.parse(login_page.text).is_login, login_page.text
    login_form = Page.parse(login_page.text).form("/login").hidden()
    prelogin_cookie = agent.http.cookies.get(PRELOGIN_COOKIE)
    assert login_form.get("csrf_token") and login_form.get("authorization_request") and prelogin_cookie
    yield Api(warden, server, basic, post, public, user, bearer, login_form, prelogin_cookie)
    finish(warden)


# -- the document ----------------------------------------------------------------------------------


def test_the_repository_document_is_valid_openapi_3_1():
    document = yaml.safe_load(SPEC_PATH.read_bytes())
    assert document["openapi"] == "3.1.0"
    validate(document)
    # Every operation says what it answers; no response is left undescribed.
    methods = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in methods:
                assert operation.get("responses"), f"{method.upper()} {path} documents no response"


def test_the_served_document_is_the_repository_file(server):
    response = requests.get(server.url("/openapi.yaml"), timeout=10)
    assert response.status_code == 200, response.status_code
    assert response.headers.get("Content-Type", "").split(";")[0].strip() == "application/yaml", dict(response.headers)
    assert response.content == SPEC_PATH.read_bytes(), "GET /openapi.yaml differs from the repository file"
    validate(yaml.safe_load(response.content))


def test_the_document_describes_every_endpoint_the_metadata_advertises(api):
    paths = yaml.safe_load(SPEC_PATH.read_bytes())["paths"]
    for document in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
        metadata = requests.get(api.server.url(document), timeout=10).json()
        for name, value in metadata.items():
            if name.endswith("_endpoint") or name == "jwks_uri":
                assert value.startswith(api.server.issuer + "/"), (name, value)
                path = value[len(api.server.issuer):]
                assert path in paths, f"{name} {path} is not in the OpenAPI document"


# -- real flows, each response checked against the document ---------------------------------------


def conforms(response: requests.Response, *, path: str | None = None) -> requests.Response:
    """Checks one real response against the document's operation for its request."""
    request = response.request
    operation = SCHEMA[path or urlsplit(request.url).path][request.method]
    operation.Case().validate_response(response, checks=STRICT_CHECKS)
    return response


def test_the_code_flow_and_its_tokens_answer_as_documented(api):
    server, client = api.server, api.public
    agent = UserAgent(server)
    verifier, challenge = pkce_pair()
    params = authorization_params(client, REDIRECT_URI, scope="openid profile email offline_access",
                                  challenge=challenge, nonce="n-0S6_WzA2Mj")

    login_page = conforms(agent.authorize(params))
    assert login_page.status_code == 200 and Page.parse(login_page.text).is_login
    failed = conforms(agent.login(login_page, api.user.username, "not the password"))
    assert failed.status_code == 200 and Page.parse(failed.text).is_login
    signed_in = conforms(agent.login(login_page, api.user.username, api.user.password))
    assert signed_in.status_code == 303
    consent_page = conforms(agent.follow(signed_in))
    assert consent_page.status_code == 200 and Page.parse(consent_page.text).is_consent
    allowed = conforms(agent.consent(consent_page, "allow"))
    assert allowed.status_code == 303
    code = query_params(allowed.headers["Location"])["code"]

    tokens = conforms(server.code_token(client, code, redirect_uri=REDIRECT_URI, code_verifier=verifier))
    assert tokens.status_code == 200 and {"refresh_token", "id_token"} <= set(tokens.json())
    refreshed = conforms(server.refresh(client, tokens.json()["refresh_token"]))
    assert refreshed.status_code == 200 and "id_token" in refreshed.json()
    access_token, id_token = refreshed.json()["access_token"], refreshed.json()["id_token"]

    # UserInfo: header, form field, both, none, a token without openid.
    assert conforms(requests.get(server.url("/userinfo"), headers={"Authorization": f"Bearer {access_token}"},
                                 timeout=10)).status_code == 200
    assert conforms(requests.post(server.url("/userinfo"), data={"access_token": access_token},
                                  timeout=10)).status_code == 200
    both = conforms(requests.post(server.url("/userinfo"), data={"access_token": access_token},
                                  headers={"Authorization": f"Bearer {access_token}"}, timeout=10))
    assert both.status_code == 400 and both.json()["error"] == "invalid_request"
    not_openid = api.server.access_token(api.post)
    insufficient = conforms(requests.get(server.url("/userinfo"), headers={"Authorization": f"Bearer {not_openid}"},
                                         timeout=10))
    assert insufficient.status_code == 403 and insufficient.json()["error"] == "insufficient_scope"
    invalid = conforms(requests.get(server.url("/userinfo"), headers={"Authorization": "Bearer " + id_token}, timeout=10))
    assert invalid.status_code == 401 and invalid.json()["error"] == "invalid_token"
    assert_bare_bearer_challenge(requests.get(server.url("/userinfo"), timeout=10))
    preflight = conforms(requests.options(server.url("/userinfo"), timeout=10))
    assert preflight.status_code == 204
    # A code presented twice: refused, and its grant revoked (RFC 6749 §4.1.2).
    reused = conforms(server.code_token(client, code, redirect_uri=REDIRECT_URI, code_verifier=verifier))
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"

    # A session exists now, and consent was given: prompt=none answers at once, in each mode.
    again = authorization_params(client, REDIRECT_URI, scope="openid profile", challenge=pkce_pair()[1], prompt="none")
    assert conforms(agent.authorize(again)).status_code == 302
    form_post = conforms(agent.authorize(dict(again, response_mode="form_post")))
    assert form_post.status_code == 200 and any(form.action == REDIRECT_URI for form in Page.parse(form_post.text).forms)
    assert conforms(agent.post("/authorize", again)).status_code == 303
    cancelled = conforms(agent.get("/authorize/cancel", params=again))
    assert cancelled.status_code == 302 and query_params(cancelled.headers["Location"])["error"] == "access_denied"
    untrusted = conforms(agent.authorize(dict(again, redirect_uri="http://attacker.example/cb")))
    assert untrusted.status_code == 400

    # Logout: a confirmation page without the hint, then with the session's hint a redirect.
    confirmation = conforms(agent.post("/logout", {"client_id": client.client_id}))
    assert confirmation.status_code == 200 and any(form.action == "/logout" for form in Page.parse(confirmation.text).forms)
    ended = conforms(agent.get("/logout", params={"id_token_hint": tokens.json()["id_token"],
                                                  "post_logout_redirect_uri": SIGNED_OUT_URI, "state": "s1"}))
    assert ended.status_code == 302 and ended.headers["Location"] == SIGNED_OUT_URI + "?state=s1"
    signed_out = conforms(agent.get("/logout"))
    assert signed_out.status_code == 200
    refused = conforms(agent.get("/logout", params={"client_id": client.client_id,
                                                    "post_logout_redirect_uri": "http://attacker.example/"}))
    assert refused.status_code == 400
    expired = conforms(agent.post("/consent", {"csrf_token": "x", "authorization_request": "", "decision": "allow"}))
    assert expired.status_code == 403


def assert_bare_bearer_challenge(response: requests.Response) -> None:
    """RFC 6750 §3.1: no token, so no error code: the challenge alone, no body."""
    assert response.status_code == 401, response.status_code
    assert response.headers.get("WWW-Authenticate") == 'Bearer realm="warden"', dict(response.headers)
    assert response.content == b"" and "Content-Type" not in response.headers, dict(response.headers)
    assert response.headers.get("Cache-Control") == "no-store" and response.headers.get("X-Request-Id"), dict(response.headers)


def test_client_authentication_introspection_and_revocation_answer_as_documented(api):
    server = api.server
    # client_credentials with Basic (two audiences: `aud` is an array) and with the body.
    two = conforms(server.token(api.basic, scope="reports:read", resource=[API, REPORTS]))
    assert two.status_code == 200
    one = conforms(server.token(api.post))
    assert one.status_code == 200
    for token in (two.json()["access_token"], one.json()["access_token"]):
        introspected = conforms(server.introspect(api.basic, token))
        assert introspected.json()["active"] is True
    assert isinstance(conforms(server.introspect(api.basic, two.json()["access_token"])).json()["aud"], list)
    assert conforms(server.introspect(api.post, "not a token")).json() == {"active": False}

    # A refresh token, introspected by the client it was issued to.
    tokens = code_flow_tokens(server, api.basic, new_user(api.warden), "reports:read offline_access")
    refresh = conforms(server.introspect(api.basic, tokens["refresh_token"]))
    assert refresh.json()["active"] is True and refresh.json()["token_type"] == "refresh_token"

    # Revocation: of a refresh token, of an unknown token, of another client's token.
    assert conforms(server.revoke(api.basic, tokens["refresh_token"])).status_code == 200
    assert conforms(server.revoke(api.post, "unknown")).status_code == 200
    foreign = conforms(server.revoke(api.post, two.json()["access_token"]))
    assert foreign.status_code == 400 and foreign.json()["error"] == "unauthorized_client"

    # Errors: each status the document names for these endpoints.
    wrong_secret = Client(api.basic.client_id, "wrong", api.basic.raw)
    assert conforms(server.token(wrong_secret)).status_code == 401
    public_introspects = conforms(server.introspect(api.public, tokens["access_token"]))
    assert public_introspects.status_code == 401
    assert conforms(server.token(api.post, scope="openid")).status_code == 400
    assert conforms(server.token(api.basic, resource="https://elsewhere.example.com")).json()["error"] == "invalid_target"
    unsupported = conforms(server.grant(api.basic, "password", username="a", password="b"))
    assert unsupported.json()["error"] == "unsupported_grant_type"
    public_refresh = conforms(server.refresh(api.public, "not-a-refresh-token"))
    assert public_refresh.status_code == 400 and public_refresh.json()["error"] == "invalid_grant"


def test_discovery_health_and_assets_answer_as_documented(api):
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server",
                 "/.well-known/jwks.json", "/healthz", "/static/warden.css", "/static/logo"):
        response = conforms(requests.get(api.server.url(path), timeout=10))
        assert response.status_code == (404 if path == "/static/logo" else 200), (path, response.status_code)


def test_a_jwks_with_every_algorithm_answers_as_documented(warden):
    warden.rotate(algorithm="EdDSA", now=True)
    warden.rotate(algorithm="RS256", now=True)
    server = warden.start_server()
    jwks = conforms(requests.get(server.url("/.well-known/jwks.json"), timeout=10)).json()
    assert {key["kty"] for key in jwks["keys"]} == {"EC", "RSA", "OKP"}, jwks


def test_rate_limits_answer_as_documented(warden):
    warden.write_config({"client_authentication_failures_per_client": 1, "login_failures_per_account": 1})
    server = warden.start_server()
    client = warden.create_client(name="limited", scope="invoices:read")
    wrong = Client(client.client_id, "wrong", client.raw)
    statuses = [conforms(server.token(wrong)).status_code for _ in range(3)]
    assert statuses[0] == 401 and statuses[-1] == 429, statuses

    spa = warden.create_code_client(name="spa", scope="profile", redirect_uris=(REDIRECT_URI,))
    user = warden.create_user("bob")
    agent = UserAgent(server)
    page = agent.authorize(authorization_params(spa, REDIRECT_URI, challenge=pkce_pair()[1]))
    statuses = [conforms(agent.login(page, user.username, "wrong")).status_code for _ in range(3)]
    assert statuses[0] == 200 and statuses[-1] == 429, statuses


# -- schemathesis ----------------------------------------------------------------------------------


def _roll(case: schemathesis.Case) -> int:
    """0-3, a stable function of the request generated (never of the run): whether and how
    to put real credentials in. Hypothesis replays a failing example to shrink it, and
    the same request must get the same credentials every time."""
    generated = [case.method, case.path, case.query, case.body, dict(case.headers or {}), case.cookies]
    text = json.dumps(generated, sort_keys=True, default=lambda value: f"<{type(value).__name__}>")
    return hashlib.sha256(text.encode()).digest()[0] % 4


def with_real_credentials(case: schemathesis.Case, api: Api) -> dict[str, dict[str, str]]:
    """Three requests in four present real credentials the way the generated request
    chose: a client_secret_post client when the body has client_secret, a public client
    when it has client_id alone, else HTTP Basic; a live access token for UserInfo (in the
    form field when the body has one); a live login form's CSRF token, cookie and
    authorization request at /login (so that the generated username and password are
    tried); a registered client_id at the other browser pages. Returns the headers and
    cookies to send over the generated ones (`requests.request` keyword arguments)."""
    if _roll(case) == 0:
        return {}
    body = case.body if isinstance(case.body, dict) else None
    query = case.query if isinstance(case.query, dict) else None
    if case.path in ("/token", "/introspect", "/revoke", "/par"):
        if body is not None and "client_secret" in body:
            body["client_id"], body["client_secret"] = api.post.client_id, api.post.client_secret
        elif body is not None and "client_id" in body:
            body["client_id"] = api.public.client_id
        else:
            return {"headers": {"Authorization": basic_authorization(api.basic)}}
    elif case.path == "/userinfo" and case.method in ("GET", "POST"):
        if body is not None and "access_token" in body:
            body["access_token"] = api.bearer
        else:
            return {"headers": {"Authorization": f"Bearer {api.bearer}"}}
    elif case.path == "/login" and body is not None:
        body.update(api.login_form)
        return {"cookies": {PRELOGIN_COOKIE: api.prelogin_cookie}}
    elif query is not None and "client_id" in query:
        query["client_id"] = api.public.client_id
    elif body is not None and "client_id" in body:
        body["client_id"] = api.public.client_id
    return {}


def is_bare_bearer_challenge(case: schemathesis.Case, response: schemathesis.Response) -> bool:
    return (
        case.path == "/userinfo"
        and response.status_code == 401
        and not response.content
        and "content-type" not in response.headers
    )


@SCHEMA.parametrize()
def test_every_operation_answers_as_documented(case, api):
    # Own copies: generated containers may be shared with later cases (the documented
    # examples' are), and both this test and the transport write into them.
    for name in ("query", "body", "cookies", "headers"):
        if isinstance(getattr(case, name), dict):
            setattr(case, name, dict(getattr(case, name)))
    credentials = with_real_credentials(case, api)
    headers = credentials.get("headers")
    response = case.call(base_url=api.server.base_url, headers=headers, cookies=credentials.get("cookies"))
    if is_bare_bearer_challenge(case, response):
        # The one body-less answer of an operation whose status otherwise carries JSON.
        assert response.headers.get("www-authenticate") == ['Bearer realm="warden"'], response.headers
        case.validate_response(response, checks=[not_a_server_error, status_code_conformance, response_headers_conformance],
                               headers=headers)
        return
    case.validate_response(response, checks=STRICT_CHECKS, headers=headers)
