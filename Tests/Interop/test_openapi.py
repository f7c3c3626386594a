"""The OpenAPI 3.1 description of the public HTTP API (OPERATIONS.md "OpenAPI").

The document lives beside the routes, in Sources/WardenHTTP/Routes/openapi.yaml, and the
server serves it at GET /openapi.yaml. Here:

- the repository file is a valid OpenAPI 3.1 document (openapi-spec-validator), and the
  served one is that file byte for byte, as `application/yaml`;
- it describes every endpoint the metadata advertises;
- real flows (the code flow through the login and consent pages, refresh, client
  credentials with both client authentication methods and a public client,
  introspection of access and refresh tokens, revocation, UserInfo, logout, the device
  flow (RFC 8628) through its pages and its polls, dynamic client registration (RFC 7591,
  7592) with `registration: open`, `token` and `off`, rate limits) answer exactly what the
  document says: status, content type, documented headers, body;
- schemathesis, loading the repository file, runs every operation against the live
  binary (registration open) with a bounded number of generated requests (positive and
  negative), some with real credentials so that they get past client authentication,
  carry a live bearer token, a live CSRF token with its cookie, a pending user code or
  device code, or a client's current registration access token, and checks no 5xx, a
  documented status and content type, the documented headers, and a body matching its
  schema. Generation is deterministic (derandomized, fixed seed).

One exception is written into the checks, narrowly: UserInfo without any token answers
401 with the bare challenge `Bearer realm="warden"` and an empty body without a
Content-Type (RFC 6750 §3.1), which OpenAPI cannot express beside the JSON body the same
status carries for `invalid_token`; that response is checked for exactly that shape
instead of against the JSON media type."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import sqlite3
import time
from dataclasses import dataclass
from typing import Iterator
from urllib.parse import quote_plus, unquote, urlencode, urlsplit

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
    LOGIN_ERROR,
    NO_FAILURE_LIMITS,
    PRELOGIN_COOKIE,
    REPO_ROOT,
    SESSION_COOKIE,
    Client,
    Page,
    Server,
    User,
    UserAgent,
    Warden,
    authorization_params,
    finish,
    jwt_claims_unverified,
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
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
#: A well-formed user code that names nothing (about one chance in 25 billion that it does).
UNKNOWN_USER_CODE = "BBBB-BBBB"
REGISTRATION_PATH = "/register/{client_id}"

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
class Registration:
    """A client registered over HTTP, with the credentials of its latest registration
    response (the registration access token changes with every replacement)."""

    client_id: str
    client_secret: str | None
    token: str

    @classmethod
    def of(cls, response: requests.Response) -> "Registration":
        assert response.status_code == 201, response.text
        body = response.json()
        return cls(body["client_id"], body.get("client_secret"), body["registration_access_token"])

    def renewed(self, response: requests.Response) -> None:
        """After a successful replacement: its new token (and new secret, if it issued one)."""
        body = response.json()
        self.token = body["registration_access_token"]
        self.client_secret = body.get("client_secret", self.client_secret)


@dataclass
class Api:
    """A server (registration open) with real clients, a user, a live OpenID access token,
    live forms of the login and device pages, pending device requests and a registered client."""

    warden: Warden
    server: Server
    basic: Client  # confidential, client_secret_basic: client credentials, the code flow, the device flow
    post: Client  # confidential, client_secret_post: client credentials
    public: Client  # public (none): the code flow with PKCE, the device flow
    user: User
    bearer: str  # an access token with openid profile email, of a grant nothing here ends
    login_form: dict[str, str]  # a login page's csrf_token and authorization_request
    prelogin_cookie: str  # the cookie that goes with that login page's CSRF token
    device_csrf: str  # the code entry page's CSRF token for that same pre-login cookie
    device_codes: dict[str, str]  # client_id -> a device code nobody decides (basic, public)
    user_code: str  # the user code of a pending request nobody decides
    device_session: str  # a session cookie of `user`, signed in through the device pages
    registration: Registration  # a client registered over HTTP, kept current


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


def authorize_device(server: Server, client: Client, **params) -> requests.Response:
    """POST /device_authorization with the client's registered authentication; always a form,
    even an empty one (a confidential client may send nothing but its Basic header)."""
    kwargs = client.credentials()
    data = list(kwargs.pop("data").items()) + [(name, value) for name, value in params.items() if value is not None]
    return requests.post(server.url("/device_authorization"), data=urlencode(data), timeout=10,
                         headers={"Content-Type": "application/x-www-form-urlencoded"}, **kwargs)


def started_device(server: Server, client: Client, **params) -> dict:
    response = authorize_device(server, client, **params)
    assert response.status_code == 200, response.text
    return response.json()


def poll(server: Server, client: Client, device_code: str) -> requests.Response:
    """One device poll at /token (RFC 8628 section 3.4)."""
    return server.grant(client, DEVICE_GRANT, device_code=device_code)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def register(server: Server, metadata: dict, **kwargs) -> requests.Response:
    return requests.post(server.url("/register"), json=metadata, timeout=10, **kwargs)


#: A confidential web application's metadata, as `/register` takes it.
WEB_APPLICATION = {
    "client_name": "Registered Reports",
    "redirect_uris": [REDIRECT_URI],
    "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
    "scope": "openid profile offline_access",
    "post_logout_redirect_uris": [SIGNED_OUT_URI],
    "contacts": ["ops@example.com"],
    "software_id": "reports",
    "software_version": "2.1",
}


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
    # Registration is open, so that /register and /register/{client_id} are there to exercise.
    warden = Warden(tmp_path_factory.mktemp("openapi"), config=dict(NO_FAILURE_LIMITS, registration="open"))
    server = warden.start_server()
    logout = ("--post-logout-redirect-uri", SIGNED_OUT_URI)
    basic = warden.create_code_client(
        name="Reports", scope="openid profile email offline_access reports:read", public=False,
        grant_types=("authorization_code", "refresh_token", "client_credentials", "device_code"), audiences=(API, REPORTS),
        redirect_uris=(REDIRECT_URI,), extra=logout,
    )
    post = warden.create_client(name="Billing", scope="invoices:read", audiences=(API,), auth_method="client_secret_post")
    public = warden.create_code_client(
        name="Single Page App", scope="openid profile email offline_access", redirect_uris=(REDIRECT_URI,), extra=logout,
        grant_types=("authorization_code", "refresh_token", "device_code"),
    )
    user = new_user(warden)
    bearer = code_flow_tokens(server, public, user, "openid profile email")["access_token"]
    agent = UserAgent(server)
    login_page = agent.authorize(authorization_params(public, REDIRECT_URI, scope="openid", challenge=pkce_pair()[1]))
    assert login_page.status_code == 200 and Page.parse(login_page.text).is_login, login_page.text
    login_form = Page.parse(login_page.text).form("/login").hidden()
    prelogin_cookie = agent.http.cookies.get(PRELOGIN_COOKIE)
    assert login_form.get("csrf_token") and login_form.get("authorization_request") and prelogin_cookie
    # The device pages: their CSRF token for that pre-login cookie, pending requests nobody
    # decides (polled by generated /token requests, typed into generated page requests), and
    # a session signed in through them.
    entry = agent.get("/device")
    assert entry.status_code == 200 and agent.http.cookies.get(PRELOGIN_COOKIE) == prelogin_cookie, entry.text
    device_csrf = Page.parse(entry.text).form("/device").hidden()["csrf_token"]
    device_codes = {client.client_id: started_device(server, client)["device_code"] for client in (basic, public)}
    user_code = started_device(server, public, scope="openid")["user_code"]
    device_session = device_sign_in(server, public, user)
    registration = Registration.of(register(server, WEB_APPLICATION))
    yield Api(warden, server, basic, post, public, user, bearer, login_form, prelogin_cookie, device_csrf, device_codes,
              user_code, device_session, registration)
    finish(warden)


def device_sign_in(server: Server, client: Client, user: User) -> str:
    """A session of `user`, signed in through the device pages (a code of `client`'s typed at
    the code entry page, then the sign-in page): its cookie."""
    agent = UserAgent(server)
    form = Page.parse(agent.get("/device").text).form("/device").hidden()
    sign_in = agent.post("/device", dict(form, user_code=started_device(server, client)["user_code"]))
    assert sign_in.status_code == 200, sign_in.text
    signed_in = agent.post("/device/login", dict(Page.parse(sign_in.text).form("/device/login").hidden(),
                                                 username=user.username, password=user.password))
    assert signed_in.status_code == 303 and agent.session_cookie, (signed_in.status_code, signed_in.text[:300])
    return agent.session_cookie


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
        # Registration is open on this server: both new endpoints are advertised.
        assert {"device_authorization_endpoint", "registration_endpoint"} <= set(metadata), metadata
        for name, value in metadata.items():
            if name.endswith("_endpoint") or name == "jwks_uri":
                assert value.startswith(api.server.issuer + "/"), (name, value)
                path = value[len(api.server.issuer):]
                assert path in paths, f"{name} {path} is not in the OpenAPI document"


# -- real flows, each response checked against the document ---------------------------------------


def conforms(response: requests.Response, *, path: str | None = None) -> requests.Response:
    """Checks one real response against the document's operation for its request (`path`:
    the document's path template, when it has parameters)."""
    request = response.request
    sent = urlsplit(request.url).path
    operation = SCHEMA[path or sent][request.method]
    parameters = {}
    if path is not None:
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path))
        match = re.fullmatch(pattern, sent)
        assert match, (path, sent)
        parameters = {name: unquote(value) for name, value in match.groupdict().items()}
    operation.Case(path_parameters=parameters or None).validate_response(response, checks=STRICT_CHECKS)
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


def test_the_device_flow_answers_as_documented(api):
    server, client, user = api.server, api.public, api.user
    # The device asks (RFC 8628 section 3.1), then polls: pending, then too fast.
    first = conforms(authorize_device(server, client, scope="openid profile offline_access"))
    assert first.status_code == 200, first.text
    denied_device = first.json()
    assert denied_device["verification_uri"] == server.issuer + "/device", denied_device
    assert denied_device["verification_uri_complete"] == f"{server.issuer}/device?user_code={denied_device['user_code']}"
    pending = conforms(poll(server, client, denied_device["device_code"]))
    assert pending.status_code == 400 and pending.json()["error"] == "authorization_pending", pending.text
    too_fast = conforms(poll(server, client, denied_device["device_code"]))
    assert too_fast.status_code == 400 and too_fast.json()["error"] == "slow_down", too_fast.text

    # The endpoint's errors.
    not_registered = conforms(authorize_device(server, api.post))
    assert not_registered.status_code == 400 and not_registered.json()["error"] == "unauthorized_client"
    assert conforms(authorize_device(server, client, scope="reports:read")).json()["error"] == "invalid_scope"
    assert conforms(authorize_device(server, api.basic, resource="https://elsewhere.example.com")).json()["error"] == "invalid_target"
    assert conforms(authorize_device(server, Client(api.basic.client_id, "wrong", api.basic.raw))).status_code == 401
    unknown = conforms(poll(server, client, "not-a-device-code"))
    assert unknown.status_code == 400 and unknown.json()["error"] == "invalid_grant"

    # The person, on another screen: the code entry page (pre-filled from
    # verification_uri_complete), a wrong code, sign-in (wrong, then right), consent, done.
    approved_device = started_device(server, client, scope="openid profile offline_access")
    agent = UserAgent(server)
    entry = conforms(agent.get("/device", params={"user_code": approved_device["user_code"]}))
    assert entry.status_code == 200
    entry_page = Page.parse(entry.text)
    assert entry_page.ids["user_code"].get("value") == approved_device["user_code"], entry_page.ids
    form = entry_page.form("/device").hidden()
    wrong = conforms(agent.post("/device", dict(form, user_code=UNKNOWN_USER_CODE)))
    assert wrong.status_code == 400 and Page.parse(wrong.text).form("/device")
    expired_form = conforms(agent.post("/device", dict(form, csrf_token="forged", user_code=approved_device["user_code"])))
    assert expired_form.status_code == 403
    sign_in = conforms(agent.post("/device", dict(form, user_code=approved_device["user_code"].lower())))
    assert sign_in.status_code == 200, sign_in.text
    sign_in_form = Page.parse(sign_in.text).form("/device/login").hidden()
    failed = conforms(agent.post("/device/login", dict(sign_in_form, username=user.username, password="not the password")))
    assert failed.status_code == 200 and LOGIN_ERROR in failed.text
    signed_in = conforms(agent.post("/device/login", dict(sign_in_form, username=user.username, password=user.password)))
    assert signed_in.status_code == 303
    assert signed_in.headers["Location"] == "/device/consent?user_code=" + approved_device["user_code"], signed_in.headers
    consent = conforms(agent.follow(signed_in))
    assert consent.status_code == 200
    consent_form = Page.parse(consent.text).form("/device/consent").hidden()
    done = conforms(agent.post("/device/consent", dict(consent_form, decision="allow")))
    assert done.status_code == 200 and Page.parse(done.text).h1 == "You're all set", done.text
    replayed = conforms(agent.post("/device/consent", dict(consent_form, decision="allow")))
    assert replayed.status_code == 403

    # The device polls once more and gets the tokens of an ordinary user grant; then never again.
    issued = conforms(poll(server, client, approved_device["device_code"]))
    assert issued.status_code == 200, issued.text
    assert {"refresh_token", "id_token"} <= set(issued.json()), issued.json()
    assert jwt_claims_unverified(issued.json()["access_token"])["sub"] == user.id
    again = conforms(poll(server, client, approved_device["device_code"]))
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert conforms(server.refresh(client, issued.json()["refresh_token"])).status_code == 200

    # Signed in now: a typed code goes straight to the consent page; this one is denied.
    redirected = conforms(agent.post("/device", dict(Page.parse(agent.get("/device").text).form("/device").hidden(),
                                                     user_code=denied_device["user_code"])))
    assert redirected.status_code == 303, redirected.text
    consent = conforms(agent.follow(redirected))
    denial = conforms(agent.post("/device/consent", dict(Page.parse(consent.text).form("/device/consent").hidden(),
                                                         decision="deny")))
    assert denial.status_code == 200 and Page.parse(denial.text).h1 == "Request denied", denial.text
    denied = conforms(poll(server, client, denied_device["device_code"]))
    assert denied.status_code == 400 and denied.json()["error"] == "access_denied", denied.text
    decided = conforms(agent.get("/device/consent", params={"user_code": denied_device["user_code"]}))
    assert decided.status_code == 400
    assert conforms(UserAgent(server).get("/device/consent", params={"user_code": UNKNOWN_USER_CODE})).status_code == 200

    # A device code past its expiry (moved into the past in the database, not waited for).
    expiring = started_device(server, client)
    expire_device_code(api.warden, expiring["device_code"])
    expired = conforms(poll(server, client, expiring["device_code"]))
    assert expired.status_code == 400 and expired.json()["error"] == "expired_token", expired.text


def expire_device_code(warden: Warden, device_code: str) -> None:
    """Moves a device code's expiry one second into the past, behind the server's back."""
    connection = sqlite3.connect(str(warden.database), timeout=10)
    try:
        with connection:
            changed = connection.execute(
                "UPDATE device_authorizations SET expires_at = ? WHERE device_code_digest = ?",
                (int(time.time()) - 1, hashlib.sha256(device_code.encode()).digest())).rowcount
    finally:
        connection.close()
    assert changed == 1, changed


def test_registration_answers_as_documented(api):
    server = api.server
    # RFC 7591: a confidential web application; an unknown member is ignored, not echoed.
    registered = conforms(register(server, dict(WEB_APPLICATION, unknown_member="ignored")))
    assert registered.status_code == 201, registered.text
    information = registered.json()
    assert {"client_secret", "registration_access_token"} <= set(information) and "unknown_member" not in information
    client_id, token = information["client_id"], information["registration_access_token"]
    assert information["registration_client_uri"] == f"{server.issuer}/register/{client_id}", information
    uri = information["registration_client_uri"]
    # The registered client works.
    client = Client(client_id, information["client_secret"], information)
    assert conforms(server.token(client, scope="profile")).status_code == 200

    # RFC 7592: read, replace (a new token; the old one is refused), delete.
    read = conforms(requests.get(uri, headers=bearer(token), timeout=10), path=REGISTRATION_PATH)
    assert read.status_code == 200 and read.json()["client_name"] == WEB_APPLICATION["client_name"], read.text
    replaced = conforms(requests.put(uri, headers=bearer(token), timeout=10, json=dict(
        WEB_APPLICATION, client_id=client_id, client_name="Renamed Reports", client_secret=information["client_secret"])),
        path=REGISTRATION_PATH)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["client_name"] == "Renamed Reports" and "client_secret" not in replaced.json(), replaced.json()
    new_token = replaced.json()["registration_access_token"]
    assert new_token != token
    stale = conforms(requests.get(uri, headers=bearer(token), timeout=10), path=REGISTRATION_PATH)
    assert stale.status_code == 401 and stale.json()["error"] == "invalid_token", stale.text
    wrong_id = conforms(requests.put(uri, headers=bearer(new_token), json=dict(WEB_APPLICATION, client_id="another"),
                                     timeout=10), path=REGISTRATION_PATH)
    assert wrong_id.status_code == 400 and wrong_id.json()["error"] == "invalid_client_metadata", wrong_id.text
    cli_client = conforms(requests.get(server.url(f"/register/{api.basic.client_id}"), headers=bearer(new_token),
                                       timeout=10), path=REGISTRATION_PATH)
    assert cli_client.status_code == 401
    deleted = conforms(requests.delete(uri, headers=bearer(new_token), timeout=10), path=REGISTRATION_PATH)
    assert deleted.status_code == 204 and deleted.content == b"", deleted.content
    gone = conforms(requests.delete(uri, headers=bearer(new_token), timeout=10), path=REGISTRATION_PATH)
    assert gone.status_code == 401

    # A public native application and a device: no secret.
    native = conforms(register(server, {"token_endpoint_auth_method": "none", "client_name": "Notes",
                                        "redirect_uris": ["com.example.notes:/callback"], "scope": "openid"}))
    assert native.status_code == 201 and "client_secret" not in native.json(), native.text
    device = conforms(register(server, {"token_endpoint_auth_method": "none", "grant_types": [DEVICE_GRANT]}))
    assert device.status_code == 201 and device.json()["response_types"] == [], device.text

    # The errors of RFC 7591 section 3.2.2, and a body that is not JSON.
    refused = {
        "invalid_redirect_uri": {"redirect_uris": ["http://app.example.com/callback"]},
        "invalid_client_metadata": {"redirect_uris": [REDIRECT_URI], "grant_types": ["password"]},
    }
    for error, metadata in refused.items():
        response = conforms(register(server, metadata))
        assert response.status_code == 400 and response.json()["error"] == error, (error, response.text)
    assert conforms(register(server, ["not", "an", "object"])).json()["error"] == "invalid_client_metadata"
    not_json = conforms(requests.post(server.url("/register"), data="client_name=x", timeout=10,
                                      headers={"Content-Type": "application/x-www-form-urlencoded"}))
    assert not_json.status_code == 400 and not_json.json()["error"] == "invalid_request", not_json.text


def test_registration_off_by_token_and_the_address_budget_answer_as_documented(warden):
    # Off (the default): no such paths, nothing in the metadata.
    off = warden.start_server()
    assert conforms(register(off, WEB_APPLICATION)).status_code == 404
    assert conforms(requests.get(off.url("/register/unknown"), headers=bearer("x"), timeout=10),
                    path=REGISTRATION_PATH).status_code == 404
    metadata = conforms(requests.get(off.url("/.well-known/oauth-authorization-server"), timeout=10)).json()
    assert "registration_endpoint" not in metadata and metadata["device_authorization_endpoint"] == off.issuer + "/device_authorization"
    assert off.stop() == 0

    # By initial access token, and every registration counted against the address's budget
    # (three a minute here), which typed user codes share.
    warden.write_config({"registration": "token", "login_failures_per_address": 3})
    server = warden.start_server()
    initial = warden.run_json("registration-tokens", "create", "--max-uses", "1")["token"]
    missing = conforms(register(server, WEB_APPLICATION))
    assert missing.status_code == 401 and missing.json()["error"] == "invalid_token", missing.text
    registered = conforms(register(server, WEB_APPLICATION, headers=bearer(initial)))
    assert registered.status_code == 201, registered.text
    used_up = conforms(register(server, WEB_APPLICATION, headers=bearer(initial)))
    assert used_up.status_code == 401, used_up.text
    limited = conforms(register(server, WEB_APPLICATION, headers=bearer(initial)))
    assert limited.status_code == 429 and limited.json()["error"] == "slow_down", limited.text
    information = registered.json()
    limited_read = conforms(requests.get(information["registration_client_uri"], timeout=10,
                                         headers=bearer(information["registration_access_token"])), path=REGISTRATION_PATH)
    assert limited_read.status_code == 429, limited_read.text
    agent = UserAgent(server)
    form = Page.parse(agent.get("/device").text).form("/device").hidden()
    typed = conforms(agent.post("/device", dict(form, user_code=UNKNOWN_USER_CODE)))
    assert typed.status_code == 429, typed.status_code


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
    when it has client_id alone, else HTTP Basic (and, polling with a device code, a
    pending device code of that client); a live access token for UserInfo (in the form
    field when the body has one); a live login form's CSRF token, cookie and authorization
    request at /login (so that the generated username and password are tried); the code
    entry page's CSRF token and cookie and a pending user code at POST /device and
    /device/login; a signed-in session (and, to post a decision, its current CSRF token
    and a fresh pending user code) at /device/consent; the current registration access
    token of a registered client (and its id, in the path and in a replacement's body) at
    /register/{client_id}; a registered client_id at the other browser pages. Returns the
    headers and cookies to send over the generated ones (`requests.request` keyword
    arguments)."""
    if _roll(case) == 0:
        return {}
    body = case.body if isinstance(case.body, dict) else None
    query = case.query if isinstance(case.query, dict) else None
    if case.path in ("/token", "/introspect", "/revoke", "/par", "/device_authorization"):
        if body is not None and "client_secret" in body:
            body["client_id"], body["client_secret"] = api.post.client_id, api.post.client_secret
            chosen, credentials = api.post, {}
        elif body is not None and "client_id" in body:
            body["client_id"] = api.public.client_id
            chosen, credentials = api.public, {}
        else:
            chosen, credentials = api.basic, {"headers": {"Authorization": basic_authorization(api.basic)}}
        if body is not None and "device_code" in body and chosen.client_id in api.device_codes:
            body["device_code"] = api.device_codes[chosen.client_id]
        return credentials
    elif case.path in ("/device", "/device/login") and case.method == "POST" and body is not None:
        body.update(csrf_token=api.device_csrf, user_code=api.user_code)
        return {"cookies": {PRELOGIN_COOKIE: api.prelogin_cookie}}
    elif case.path == "/device/consent" and case.method == "GET":
        case.query = dict(query or {}, user_code=api.user_code)
        return {"cookies": {SESSION_COOKIE: api.device_session}}
    elif case.path == "/device/consent" and case.method == "POST" and body is not None:
        # A decision is made once, and spends the session's CSRF token: a fresh request, and
        # the token its consent page carries now.
        agent = UserAgent(api.server)
        agent.http.cookies.set(SESSION_COOKIE, api.device_session)
        user_code = started_device(api.server, api.public)["user_code"]
        page = agent.get("/device/consent", params={"user_code": user_code})
        assert page.status_code == 200, page.text
        body.update(Page.parse(page.text).form("/device/consent").hidden())
        return {"cookies": {SESSION_COOKIE: api.device_session}}
    elif case.path == REGISTRATION_PATH:
        registration = api.registration
        case.path_parameters = dict(case.path_parameters or {}, client_id=registration.client_id)
        if case.method == "PUT" and body is not None:
            body["client_id"] = registration.client_id
            if "client_secret" in body:
                body["client_secret"] = registration.client_secret or ""
        return {"headers": bearer(registration.token)}
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


def keep_registration_current(case: schemathesis.Case, api: Api, response: schemathesis.Response,
                              headers: dict[str, str] | None) -> None:
    """A replacement with the real token retires it; a deletion removes the client: the
    next generated requests get the new token, or a newly registered client."""
    if case.path != REGISTRATION_PATH or headers != bearer(api.registration.token):
        return
    if case.method == "PUT" and response.status_code == 200:
        api.registration.renewed(response)
    elif case.method == "DELETE" and response.status_code == 204:
        api.registration = Registration.of(register(api.server, WEB_APPLICATION))


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
    for name in ("query", "body", "cookies", "headers", "path_parameters"):
        if isinstance(getattr(case, name), dict):
            setattr(case, name, dict(getattr(case, name)))
    credentials = with_real_credentials(case, api)
    headers = credentials.get("headers")
    response = case.call(base_url=api.server.base_url, headers=headers, cookies=credentials.get("cookies"))
    keep_registration_current(case, api, response, headers)
    if is_bare_bearer_challenge(case, response):
        # The one body-less answer of an operation whose status otherwise carries JSON.
        assert response.headers.get("www-authenticate") == ['Bearer realm="warden"'], response.headers
        case.validate_response(response, checks=[not_a_server_error, status_code_conformance, response_headers_conformance],
                               headers=headers)
        return
    case.validate_response(response, checks=STRICT_CHECKS, headers=headers)
