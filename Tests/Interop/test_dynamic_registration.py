"""Dynamic Client Registration (RFC 7591) and its management (RFC 7592), as
shared/design/DEVICES-AND-REGISTRATION.md ("Dynamic Client Registration") and the issue 15 contract
describe them, against the real binary.

- `registration: off|token|open`: off is 404 and no `registration_endpoint`; open logs a warning;
  bad `registration` / `registration_scopes` values stop startup with one line.
- POST /register: the 201 answer (the metadata as stored, no-store), defaults, unknown members
  ignored and not echoed (no audiences, consent skipping or chosen ids/secrets), wrong JSON types,
  bodies that are no JSON object, other content types, 64 KiB, and every refusal of the contract
  (each its own case; nothing stored).
- Registered clients work, through libraries nobody here wrote: Authlib's OAuth2Session runs the code
  flow with PKCE for a public and a confidential (client_secret_basic) client; a private_key_jwt
  client with an inline JWK Set (joserfc keys) gets a client_credentials token; a device client starts
  /device_authorization; and an MCP-style client discovers the registration endpoint, registers
  itself with a loopback redirect URI and, with requests-oauth2client 1.8.0, gets a token for
  `resource` = the server's default audience (the issuer here: `effectiveDefaultAudience`).
  PyJWT and joserfc verify the tokens from the JWKS; introspection names the registered client.
- Back-channel logout: a registered client's `backchannel_logout_uri` must be https, and the sender
  posts to it only if its host resolves to public addresses (https://localhost: a logged failure,
  retried, and no connection), while a CLI-made client's http loopback URI gets its logout token.
- `registration: token`: initial access tokens (`warden registration-tokens create|list|revoke`,
  JSON and text), each way one fails (missing, wrong, expired, revoked, used up: 401 with
  `WWW-Authenticate`), a use counted only for a registration that succeeds.
- RFC 7592: GET, PUT (full replacement, client_id and client_secret rules, the secret kept, a new one
  for a client becoming confidential, the token rotating), DELETE (the client's tokens dead at once),
  the 401s (missing, wrong, another client's token, an initial access token, a CLI client, an
  unknown id, the token before a PUT; nothing changes), 405s, `clients list` / `show` naming the
  origin, the log events, and no credential in the logs.
- Storage-sensitive rules on SQLite and on PostgreSQL (two instances of one issuer there): `max_uses`
  under concurrent registrations, concurrent PUTs with one token (one wins), and the delete cascade.
- The per-address budget (`login_failures_per_address`): every registration counts; failed
  management requests count and successful ones are forgiven; over it, 429 `slow_down`.

Redirect URIs here are never listened on (the code is read off the Location header), except the MCP
client's loopback listener (interop.RedirectCatcher); the back-channel logout test listens on loopback
for the two logout URIs it registers."""

from __future__ import annotations

import json
import re
import secrets
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterator

import pytest
import requests

from interop import (
    ALLOWED_ALGORITHMS,
    NO_FAILURE_LIMITS,
    Client,
    RedirectCatcher,
    Server,
    User,
    UserAgent,
    Warden,
    assert_authorization_error,
    assert_html_page,
    assert_oauth_error,
    assert_one_line_failure,
    assert_rfc9068_token,
    finish,
    jwt_header,
    obtain_code,
    query_params,
    verify_with_joserfc,
    verify_with_pyjwt,
    wait_until,
)
from proof_of_possession import JwksHost, assertion_form, dpop_proof, new_key, public_jwks

REDIRECT = "http://127.0.0.1:8765/callback"
WEB_REDIRECT = "https://app.example.com/callback"
NATIVE_REDIRECT = "com.example.app:/callback"
API = "https://api.example.com"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
CHALLENGE = 'Bearer realm="warden", error="invalid_token"'
OIDC_SCOPES = {"openid", "profile", "email", "offline_access"}
#: The open installation names its registration scopes.
OPEN_SCOPES = ["openid", "profile", "email", "offline_access", "mcp:tools"]
OPEN_CONFIG = {"registration": "open", "registration_scopes": OPEN_SCOPES, "log_format": "json", **NO_FAILURE_LIMITS}
#: The token-mode installations do not: theirs are `scopes` plus OpenID Connect's. They accept
#: http `jwks_uri`s (for a loopback key host).
TOKEN_CONFIG = {"registration": "token", "scopes": ["invoices:read"], "allow_http_jwks_uri": True, "log_format": "json",
                **NO_FAILURE_LIMITS}
TOKEN_SCOPES = OIDC_SCOPES | {"invoices:read"}
#: A registered client's private key (its public half goes into `jwks`).
CLIENT_KEY = new_key("ES256", kid="registered-client-key")


# -- installations -----------------------------------------------------------------------------------------


@dataclass
class Env:
    warden: Warden
    #: One server on SQLite; two instances of one issuer on PostgreSQL.
    servers: tuple[Server, ...]
    #: A resource server that introspects (made by the CLI).
    api: Client
    #: A code client made by the CLI (which /register/<id> must not touch).
    cli_client: Client
    alice: User
    #: An initial access token without limits (token mode), and one that expires 1 s after setup.
    token: dict | None = None
    expiring: dict | None = None

    @property
    def server(self) -> Server:
        return self.servers[0]

    @property
    def issuer(self) -> str:
        return self.servers[0].issuer


def provision(warden: Warden, *, instances: int = 1, tokens: bool = False) -> Env:
    """The CLI's clients, a user and (token mode) initial access tokens first, then the servers."""
    api = warden.create_client(name="api", scope="", audiences=(), auth_method="client_secret_post")
    cli_client = warden.create_code_client("CLI App", (REDIRECT,), "profile")
    alice = warden.create_user("alice")
    env = Env(warden, (), api, cli_client, alice)
    if tokens:
        env.token = warden.run_json("registration-tokens", "create")
        env.expiring = warden.run_json("registration-tokens", "create", "--expires-in", "1")
    first = warden.start_server()
    env.servers = (first, *(warden.start_server(issuer=first.issuer) for _ in range(instances - 1)))
    return env


@pytest.fixture(scope="module")
def open_env(tmp_path_factory) -> Iterator[Env]:
    """`registration: open`, on SQLite."""
    warden = Warden(tmp_path_factory.mktemp("registration-open"), config=OPEN_CONFIG)
    try:
        yield provision(warden)
    finally:
        finish(warden)


@pytest.fixture(scope="module")
def token_env(tmp_path_factory) -> Iterator[Env]:
    """`registration: token`, on SQLite."""
    warden = Warden(tmp_path_factory.mktemp("registration-token"), config=TOKEN_CONFIG)
    try:
        yield provision(warden, tokens=True)
    finally:
        finish(warden)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def backend(request, tmp_path_factory) -> Iterator[Env]:
    """`registration: token` on each storage backend: the SQLite installation above, and two
    instances of one issuer on a PostgreSQL database of their own."""
    if request.param == "sqlite":
        yield request.getfixturevalue("token_env")
        return
    cluster = request.getfixturevalue("postgres")
    url = cluster.create_database("registration")
    warden = Warden(tmp_path_factory.mktemp("registration-pg"), config=TOKEN_CONFIG, database_url=url)
    try:
        env = provision(warden, instances=2, tokens=True)
        assert not warden.database.exists(), f"a SQLite file appeared: {warden.database}"
        yield env
    finally:
        finish(warden)
        cluster.drop_database(url)


def budget_installation(tmp_path, limit: int) -> tuple[Warden, Server]:
    """An open installation of its own whose per-address budget is `limit` a minute."""
    warden = Warden(tmp_path / "budget", config={"registration": "open", "login_failures_per_address": limit})
    return warden, warden.start_server()


# -- helpers: requests -------------------------------------------------------------------------------------


def bearer(token: str | None) -> dict:
    return {"Authorization": f"Bearer {token}"} if token is not None else {}


def register(server: Server, document, *, token: str | None = None, headers: dict | None = None,
             data: bytes | None = None) -> requests.Response:
    """POST /register with `document` as JSON (or the raw `data`), and the initial access token if any."""
    body = data if data is not None else json.dumps(document).encode()
    return requests.post(server.url("/register"), data=body, timeout=30,
                         headers={"Content-Type": "application/json", **bearer(token), **(headers or {})})


def registered(response: requests.Response) -> dict:
    """RFC 7591 §3.2.1: 201, JSON, not to be cached; the body."""
    assert response.status_code == 201, f"expected 201, got {response.status_code}: {response.text!r}"
    assert response.headers.get("Content-Type", "").split(";")[0].strip() == "application/json", dict(response.headers)
    assert response.headers.get("Cache-Control") == "no-store", dict(response.headers)
    assert response.headers.get("Pragma") == "no-cache", dict(response.headers)
    return response.json()


def new_client(env: Env, document: dict, *, server: Server | None = None) -> dict:
    """A registration that succeeded (with the installation's initial access token in token mode)."""
    return registered(register(server or env.server, document, token=env.token["token"] if env.token else None))


def as_client(body: dict) -> Client:
    """A registration response as interop's Client (its auth method, id and secret)."""
    return Client(client_id=body["client_id"], client_secret=body.get("client_secret"), raw=body)


def manage(method: str, body: dict, token: str | None, document: dict | None = None, *,
           server: Server | None = None) -> requests.Response:
    """GET, PUT or DELETE on the client's registration_client_uri (or the same path at `server`)."""
    url = body["registration_client_uri"]
    if server is not None:
        url = server.url("/register/" + body["client_id"])
    headers, data = bearer(token), None
    if document is not None:
        headers["Content-Type"], data = "application/json", json.dumps(document).encode()
    return requests.request(method, url, data=data, headers=headers, timeout=30)


def assert_invalid_token(response: requests.Response) -> None:
    """401 invalid_token with the Bearer challenge (RFC 6750 §3, RFC 7591 §3, RFC 7592 §2)."""
    assert_oauth_error(response, "invalid_token", 401)
    assert response.headers.get("WWW-Authenticate") == CHALLENGE, dict(response.headers)


def public(**changes) -> dict:
    """A public (`none`) code client's document, with `changes` (None removes a member)."""
    document = {"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}
    document.update(changes)
    return {name: value for name, value in document.items() if value is not None}


def confidential(**changes) -> dict:
    """A client_secret_basic document for the code flow and client credentials."""
    return public(**{"token_endpoint_auth_method": "client_secret_basic",
                     "grant_types": ["authorization_code", "refresh_token", "client_credentials"], **changes})


# -- helpers: the database, the CLI and the logs -------------------------------------------------------------


def read(warden: Warden, query: str, params: tuple = ()) -> list[tuple]:
    """A read-only query, written with SQLite's `?` placeholders on both backends."""
    return warden.sql(query.replace("?", "%s") if warden.is_postgres else query, params)


def client_count(warden: Warden) -> int:
    return read(warden, "SELECT COUNT(*) FROM clients")[0][0]


def initial_token(env: Env, token_id: str) -> dict:
    """One initial access token as `registration-tokens list --json` shows it."""
    (found,) = [entry for entry in env.warden.run_json("registration-tokens", "list") if entry["id"] == token_id]
    return found


def events(env: Env, name: str, **fields) -> list[dict]:
    """The JSON log lines (stdout of every server) of security event `name` with `fields`."""
    found = []
    for server in env.servers:
        for line in server.stdout().splitlines():
            if line.startswith("{"):
                entry = json.loads(line)
                if entry.get("event") == name and all(entry.get(key) == value for key, value in fields.items()):
                    found.append(entry)
    return found


# -- helpers: tokens ---------------------------------------------------------------------------------------


def verify_access_token(server: Server, token: str, *, audience: str) -> dict:
    """What a resource server does: joserfc and PyJWT, each from the JWKS; the claims."""
    metadata = server.metadata()
    assert jwt_header(token)["typ"] == "at+jwt", jwt_header(token)
    _, claims = verify_with_joserfc(token, requests.get(metadata["jwks_uri"], timeout=10).json(),
                                    issuer=server.issuer, audience=audience)
    assert verify_with_pyjwt(token, metadata["jwks_uri"], issuer=server.issuer, audience=audience) == claims
    return claims


def verify_id_token(server: Server, token: str, client_id: str) -> tuple[dict, dict]:
    """PyJWT as a relying party: the key from the JWKS by kid, iss, aud = the client; (header, claims)."""
    import jwt as pyjwt

    key = pyjwt.PyJWKClient(server.metadata()["jwks_uri"], cache_jwk_set=False, timeout=10).get_signing_key_from_jwt(token)
    claims = pyjwt.decode(token, key.key, algorithms=ALLOWED_ALGORITHMS, audience=client_id, issuer=server.issuer,
                          leeway=5, options={"require": ["iss", "aud", "sub", "exp", "iat"]})
    return jwt_header(token), claims


def introspection(env: Env, token: str, server: Server | None = None) -> dict:
    response = (server or env.server).introspect(env.api, token)
    assert response.status_code == 200, response.text
    return response.json()


def user_tokens(env: Env, client: Client, scope: str, *, server: Server | None = None) -> dict:
    """A code flow (fresh browser: sign-in and consent) and its token response."""
    server = server or env.server
    agent = UserAgent(server)
    code, verifier = obtain_code(agent, client, env.alice, REDIRECT, scope=scope)
    response = server.code_token(client, code, redirect_uri=REDIRECT, code_verifier=verifier)
    assert response.status_code == 200, response.text
    return response.json()


def authlib_walk(env: Env, session, *, nonce: str | None = None) -> tuple[str, str, list[str]]:
    """Authlib makes the authorization URL (S256); a browser without JavaScript signs alice in and
    consents. Returns (the redirect back to the client, the code_verifier, the pages shown)."""
    from authlib.common.security import generate_token

    verifier = generate_token(48)
    extra = {"nonce": nonce} if nonce else {}
    url, _ = session.create_authorization_url(env.server.metadata()["authorization_endpoint"], code_verifier=verifier, **extra)
    assert "code_challenge_method=S256" in url, url
    agent = UserAgent(env.server)
    response, pages = agent.walk(agent.get(url), env.alice)
    assert response.status_code in (302, 303), f"{response.status_code} {response.text[:300]!r}"
    return response.headers["Location"], verifier, pages


# == modes, metadata and startup ==============================================================================


@pytest.mark.parametrize("document", ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"])
def test_the_metadata_names_the_registration_endpoint_when_registration_is_on(open_env, token_env, document):
    for env in (open_env, token_env):
        metadata = requests.get(env.server.url(document), timeout=10).json()
        assert metadata.get("registration_endpoint") == env.issuer + "/register", metadata


def test_registration_off_is_404_and_not_in_the_metadata(server: Server):
    for document in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
        assert "registration_endpoint" not in requests.get(server.url(document), timeout=10).json()
    assert register(server, public()).status_code == 404
    for method in ("GET", "PUT", "DELETE"):
        response = requests.request(method, server.url("/register/" + secrets.token_hex(16)), timeout=10,
                                    headers=bearer("x"), json={})
        assert response.status_code == 404, (method, response.status_code, response.text)


def test_open_registration_logs_a_warning_at_startup(open_env):
    warnings = [json.loads(line) for line in open_env.server.stdout().splitlines()
                if line.startswith("{") and "registration is open" in line]
    assert [entry["level"] for entry in warnings] == ["warning"], warnings


@pytest.mark.parametrize("setting, value", [
    ("registration", "sometimes"),
    ("registration", "on"),
    ("registration_scopes", ["a b"]),
    ("registration_scopes", ["profile", ""]),
], ids=["sometimes", "on", "two-scopes-in-one", "empty-scope"])
def test_a_bad_registration_setting_stops_startup_with_one_line(tmp_path, setting, value):
    installation = Warden(tmp_path / "w", config={setting: value})
    result = installation.run("serve", "--port", "0", check=False, timeout=30)
    line = assert_one_line_failure(result, setting)
    if setting == "registration":
        assert value in line, line


# == POST /register: the answer ==============================================================================


def test_the_answer_is_the_metadata_as_stored(open_env):
    document = {
        "redirect_uris": [WEB_REDIRECT, REDIRECT], "token_endpoint_auth_method": "client_secret_post",
        "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
        "client_name": "Photo Book", "client_uri": "https://app.example.com", "logo_uri": "https://app.example.com/logo.png",
        "scope": "openid profile", "contacts": ["ops@example.com"],
        "post_logout_redirect_uris": ["https://app.example.com/bye"],
        "backchannel_logout_uri": "https://app.example.com/backchannel",
        "id_token_signed_response_alg": "ES256", "dpop_bound_access_tokens": False,
        "software_id": "4NRB1-0XZABZI9E6-5SM3R", "software_version": "2.1",
    }
    before = time.time()
    body = registered(register(open_env.server, document, headers={"Content-Type": "application/json; charset=utf-8"}))
    client_id = body["client_id"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{16,}", client_id), body
    assert isinstance(body["client_secret"], str) and len(body["client_secret"]) >= 32, body
    assert body["client_secret_expires_at"] == 0, body
    assert type(body["client_id_issued_at"]) is int and before - 2 <= body["client_id_issued_at"] <= time.time() + 2, body
    assert len(body["registration_access_token"]) >= 32, body
    assert body["registration_client_uri"] == f"{open_env.issuer}/register/{client_id}", body
    generated = {"client_id", "client_secret", "client_secret_expires_at", "client_id_issued_at",
                 "registration_access_token", "registration_client_uri"}
    assert {name: value for name, value in body.items() if name not in generated} == document
    # GET: the same, without the credentials (only their digests are kept).
    information = manage("GET", body, body["registration_access_token"])
    assert information.status_code == 200, information.text
    assert information.headers.get("Cache-Control") == "no-store", dict(information.headers)
    expected = {name: value for name, value in body.items()
                if name not in ("client_secret", "client_secret_expires_at", "registration_access_token")}
    assert information.json() == expected
    wait_until(lambda: events(open_env, "client_registered", client_id=client_id), message="no client_registered event")


def test_a_minimal_document_gets_the_defaults(open_env):
    body = registered(register(open_env.server, {"redirect_uris": [WEB_REDIRECT]}))
    assert body["client_name"] == "Unnamed application"
    assert body["token_endpoint_auth_method"] == "client_secret_basic" and body["client_secret"], body
    assert body["grant_types"] == ["authorization_code"] and body["response_types"] == ["code"], body
    assert set(body["scope"].split()) == set(OPEN_SCOPES), body
    assert body["dpop_bound_access_tokens"] is False and body["id_token_signed_response_alg"] == "RS256", body
    for optional in ("jwks", "jwks_uri", "contacts", "client_uri", "logo_uri", "software_id", "software_version",
                     "post_logout_redirect_uris", "backchannel_logout_uri"):
        assert optional not in body, (optional, body)


def test_unknown_members_are_ignored_and_not_echoed(open_env):
    """Nothing the operator alone may give comes through a document: no audiences, no
    consent skipping, no optional PKCE, no exchange audiences, no PAR setting."""
    unknown = {"audience": [API], "audiences": [API], "skip_consent": True, "pkce_optional": True,
               "exchange_audiences": [API], "require_pushed_authorization_requests": True,
               "x-vendor": {"tier": "gold"}, "tos_uri": "https://app.example.com/tos"}
    body = registered(register(open_env.server, public(**unknown)))
    assert not set(unknown) & set(body), body
    shown = open_env.warden.run_json("clients", "show", positional=(body["client_id"],))
    assert shown["audience"] == [] and shown["skip_consent"] is False and shown["pkce_optional"] is False, shown
    assert shown["require_pushed_authorization_requests"] is False, shown
    assert not set(unknown) & set(manage("GET", body, body["registration_access_token"]).json())


def test_a_document_cannot_choose_the_client_id_or_secret(open_env):
    body = registered(register(open_env.server, confidential(client_id="chosen-id", client_secret="chosen-secret-" + "x" * 30)))
    assert body["client_id"] != "chosen-id" and body["client_secret"] != "chosen-secret-" + "x" * 30, body
    assert read(open_env.warden, "SELECT COUNT(*) FROM clients WHERE id = ?", ("chosen-id",)) == [(0,)]


def test_registered_clients_get_the_default_audience_and_cannot_ask_for_another(open_env):
    client = as_client(registered(register(open_env.server, confidential(scope="mcp:tools"))))
    claims = assert_rfc9068_token(open_env.server.access_token(client, scope="mcp:tools"), open_env.server, client,
                                  audience=open_env.issuer, scope="mcp:tools")
    assert claims["aud"] == open_env.issuer
    assert_oauth_error(open_env.server.token(client, resource=API), "invalid_target")


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_the_id_token_algorithm_may_be_rs256_or_the_access_token_algorithm(open_env, alg):
    assert registered(register(open_env.server, public(id_token_signed_response_alg=alg)))["id_token_signed_response_alg"] == alg


def test_with_eddsa_access_tokens_the_id_token_algorithm_may_be_eddsa_not_es256(tmp_path):
    warden = Warden(tmp_path / "eddsa", config={"registration": "open", "signing_algorithm": "EdDSA"})
    try:
        server = warden.start_server()
        assert registered(register(server, public(id_token_signed_response_alg="EdDSA")))["id_token_signed_response_alg"] == "EdDSA"
        assert_oauth_error(register(server, public(id_token_signed_response_alg="ES256")), "invalid_client_metadata")
    finally:
        finish(warden)


@pytest.mark.parametrize("uri", [
    "http://127.0.0.1:49152/callback", "http://[::1]/callback", "http://localhost:3000/cb", "https://app.example.com/cb?x=1",
])
def test_loopback_http_and_https_redirect_uris_are_accepted(open_env, uri):
    for document in (public(redirect_uris=[uri]), confidential(redirect_uris=[uri])):
        assert registered(register(open_env.server, document))["redirect_uris"] == [uri]


def test_a_private_use_scheme_is_accepted_for_a_public_client(open_env):
    assert registered(register(open_env.server, public(redirect_uris=[NATIVE_REDIRECT])))["redirect_uris"] == [NATIVE_REDIRECT]


def test_a_private_key_jwt_client_may_give_an_https_jwks_uri(open_env):
    uri = "https://keys.example.com/jwks.json"
    body = registered(register(open_env.server, confidential(token_endpoint_auth_method="private_key_jwt", jwks_uri=uri)))
    assert body["jwks_uri"] == uri and "jwks" not in body and "client_secret" not in body, body


def test_registered_clients_must_use_pkce(open_env):
    """A document cannot make PKCE optional: public and confidential clients alike are refused
    an authorization request without a code challenge."""
    for document in (public(), confidential()):
        client = registered(register(open_env.server, document))
        response = UserAgent(open_env.server).authorize({
            "response_type": "code", "client_id": client["client_id"], "redirect_uri": REDIRECT, "scope": "profile",
            "state": "s"})
        assert_authorization_error(response, REDIRECT, "invalid_request", issuer=open_env.issuer, state="s")


def test_with_allow_http_jwks_uri_a_loopback_jwks_uri_is_registered_and_used(token_env):
    host = JwksHost()
    try:
        uri = host.serve("/client.json", public_jwks(CLIENT_KEY))
        body = new_client(token_env, {"token_endpoint_auth_method": "private_key_jwt", "grant_types": ["client_credentials"],
                                      "jwks_uri": uri, "scope": "invoices:read"})
        assert body["jwks_uri"] == uri and "jwks" not in body, body
        token_endpoint = token_env.issuer + "/token"
        response = requests.post(token_endpoint, timeout=10, data={
            "grant_type": "client_credentials", "scope": "invoices:read",
            **assertion_form(CLIENT_KEY, body["client_id"], token_endpoint)})
        assert response.status_code == 200, response.text
        assert host.count("/client.json") >= 1
    finally:
        host.close()


def test_dpop_bound_access_tokens_is_in_force(open_env):
    client = as_client(registered(register(open_env.server, confidential(dpop_bound_access_tokens=True))))
    assert client.raw["dpop_bound_access_tokens"] is True
    assert_oauth_error(open_env.server.token(client), {"invalid_request", "invalid_dpop_proof"})
    key = new_key("ES256", kid=None)
    proof = dpop_proof(key, "POST", open_env.issuer + "/token")
    response = requests.post(open_env.server.url("/token"), data={"grant_type": "client_credentials"},
                             auth=client.basic, headers={"DPoP": proof}, timeout=10)
    assert response.status_code == 200 and response.json()["token_type"] == "DPoP", response.text


def test_an_html_client_name_is_shown_as_text_on_the_consent_page(open_env):
    """Anyone may name a client in open mode: the consent page must not run what it is called."""
    name = '<script>alert(1)</script><img src=x onerror=alert(2)>'
    client = as_client(registered(register(open_env.server, public(client_name=name))))
    agent = UserAgent(open_env.server)
    code_params = {"response_type": "code", "client_id": client.client_id, "redirect_uri": REDIRECT, "scope": "profile",
                   "state": "s", "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "code_challenge_method": "S256"}
    login = agent.authorize(code_params)
    consent = agent.follow(agent.login(login, open_env.alice.username, open_env.alice.password))
    page = assert_html_page(consent)
    assert page.is_consent and page.scripts == 0, consent.text[:500]
    assert name in page.text and "<script>" not in consent.text, consent.text[:1000]


# == POST /register: refusals =================================================================================


#: (member, a value of the wrong JSON type for it)
WRONG_TYPE_CASES = [
    ("redirect_uris", REDIRECT), ("redirect_uris", [REDIRECT, 7]), ("token_endpoint_auth_method", 5),
    ("grant_types", "authorization_code"), ("response_types", "code"), ("client_name", 7),
    ("client_uri", {"href": "https://a.example"}), ("logo_uri", True), ("scope", ["profile"]),
    ("contacts", "ops@example.com"), ("jwks_uri", 3), ("post_logout_redirect_uris", WEB_REDIRECT),
    ("backchannel_logout_uri", [WEB_REDIRECT]), ("id_token_signed_response_alg", 256), ("software_id", 1),
    ("software_version", 2.1), ("dpop_bound_access_tokens", "true"), ("dpop_bound_access_tokens", 1),
    ("dpop_bound_access_tokens", 0), ("jwks", '{"keys": []}'), ("jwks", [public_jwks(CLIENT_KEY)]),
]


@pytest.mark.parametrize("member, value", WRONG_TYPE_CASES,
                         ids=[f"{member}-{type(value).__name__}-{index}" for index, (member, value) in enumerate(WRONG_TYPE_CASES)])
def test_a_known_member_of_the_wrong_json_type_is_invalid_client_metadata(open_env, member, value):
    before = client_count(open_env.warden)
    document = public(**{member: value})
    if member == "jwks":
        document["token_endpoint_auth_method"] = "private_key_jwt"
    assert_oauth_error(register(open_env.server, document), "invalid_client_metadata")
    assert client_count(open_env.warden) == before


@pytest.mark.parametrize("data", [b"[]", b'"a string"', b"42", b"null", b"true", b"{", b"", b"\xff\xfe"],
                         ids=["array", "string", "number", "null", "boolean", "truncated", "empty", "not-utf8"])
def test_a_body_that_is_not_a_json_object_is_invalid_client_metadata(open_env, data):
    before = client_count(open_env.warden)
    assert_oauth_error(register(open_env.server, None, data=data), "invalid_client_metadata")
    assert client_count(open_env.warden) == before


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain", "application/jwt", None])
def test_another_content_type_is_invalid_request(open_env, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    response = requests.post(open_env.server.url("/register"), data=json.dumps(public()).encode(),
                             headers=headers, timeout=10)
    if content_type is None:
        assert "Content-Type" not in response.request.headers
    assert_oauth_error(response, "invalid_request")


def padded_document(size: int) -> bytes:
    """A valid public client's document of exactly `size` bytes (an unknown member pads it)."""
    empty = len(json.dumps(public(padding="")).encode())
    data = json.dumps(public(padding="x" * (size - empty))).encode()
    assert len(data) == size
    return data


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_of_64_kib_is_taken_and_one_byte_more_is_invalid_request(open_env, chunked):
    def send(data: bytes) -> requests.Response:
        body = iter([data[:30_000], data[30_000:]]) if chunked else data
        return requests.post(open_env.server.url("/register"), data=body, timeout=10,
                             headers={"Content-Type": "application/json"})

    registered(send(padded_document(64 * 1024)))
    before = client_count(open_env.warden)
    assert_oauth_error(send(padded_document(64 * 1024 + 1)), "invalid_request")
    assert client_count(open_env.warden) == before


REDIRECT_REFUSALS = {
    "relative": public(redirect_uris=["/callback"]),
    "no-scheme": public(redirect_uris=["app.example.com/callback"]),
    "fragment": public(redirect_uris=["https://app.example.com/callback#top"]),
    "http-not-loopback": public(redirect_uris=["http://app.example.com/callback"]),
    "http-loopback-lookalike": public(redirect_uris=["http://127.0.0.1.example.com/callback"]),
    "one-bad-among-good": public(redirect_uris=[REDIRECT, "http://evil.example.com/callback"]),
    "scheme-without-dot": public(redirect_uris=["myapp:/callback"]),
    "localhost-parsed-as-scheme": public(redirect_uris=["localhost:3000/callback"]),
    "private-use-scheme-confidential": confidential(redirect_uris=[NATIVE_REDIRECT]),
    "private-use-scheme-post": public(token_endpoint_auth_method="client_secret_post", redirect_uris=[NATIVE_REDIRECT]),
}
METADATA_REFUSALS = {
    "no-redirect-uris-for-code": public(redirect_uris=None),
    "empty-redirect-uris-for-code": public(redirect_uris=[]),
    "scope-outside-registration-scopes": public(scope="openid admin"),
    "scope-not-a-scope": public(scope='profile "x"'),
    "client-credentials-public": public(grant_types=["client_credentials"], redirect_uris=None),
    "token-exchange": confidential(grant_types=[TOKEN_EXCHANGE]),
    "token-exchange-alias": confidential(grant_types=["token_exchange"]),
    "password-grant": confidential(grant_types=["password"]),
    "implicit-grant": public(grant_types=["implicit"]),
    "empty-grant-types": public(grant_types=[]),
    "private-key-jwt-without-keys": confidential(token_endpoint_auth_method="private_key_jwt"),
    "jwks-with-client-secret-basic": confidential(jwks=public_jwks(CLIENT_KEY)),
    "jwks-uri-with-none": public(jwks_uri="https://keys.example.com/jwks.json"),
    "jwks-with-a-private-key": confidential(token_endpoint_auth_method="private_key_jwt",
                                            jwks={"keys": [CLIENT_KEY.as_dict(private=True)]}),
    "jwks-with-a-symmetric-key": confidential(token_endpoint_auth_method="private_key_jwt",
                                              jwks={"keys": [{"kty": "oct", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}]}),
    "jwks-without-keys": confidential(token_endpoint_auth_method="private_key_jwt", jwks={"keys": []}),
    "jwks-and-jwks-uri": confidential(token_endpoint_auth_method="private_key_jwt", jwks=public_jwks(CLIENT_KEY),
                                      jwks_uri="https://keys.example.com/jwks.json"),
    "jwks-uri-http": confidential(token_endpoint_auth_method="private_key_jwt", jwks_uri="http://keys.example.com/jwks.json"),
    "auth-method-unknown": public(token_endpoint_auth_method="bogus"),
    "auth-method-tls": public(token_endpoint_auth_method="tls_client_auth"),
    "auth-method-client-secret-jwt": public(token_endpoint_auth_method="client_secret_jwt"),
    "response-types-token": public(response_types=["token"]),
    "response-types-code-and-token": public(response_types=["code", "token"]),
    "response-types-hybrid": public(response_types=["code id_token"]),
    "response-types-empty": public(response_types=[]),
    "id-token-alg-hs256": public(id_token_signed_response_alg="HS256"),
    "id-token-alg-none": public(id_token_signed_response_alg="none"),
    "id-token-alg-ps256": public(id_token_signed_response_alg="PS256"),
    "id-token-alg-eddsa-without-keys": public(id_token_signed_response_alg="EdDSA"),
    "backchannel-logout-uri-http": public(backchannel_logout_uri="http://app.example.com/logout"),
    "backchannel-logout-uri-http-loopback": public(backchannel_logout_uri="http://127.0.0.1:8765/logout"),
    "client-uri-ftp": public(client_uri="ftp://app.example.com"),
    "logo-uri-javascript": public(logo_uri="javascript:alert(1)"),
    "logo-uri-relative": public(logo_uri="/logo.png"),
}
#: Not named by the contract's refusal lists, yet never to be accepted: either code will do.
OTHER_REFUSALS = {
    "post-logout-http-not-loopback": public(post_logout_redirect_uris=["http://app.example.com/bye"]),
    "backchannel-private-use-scheme": public(backchannel_logout_uri="com.example.app:/logout"),
}


@pytest.mark.parametrize("case, document, error", [
    *((case, document, "invalid_redirect_uri") for case, document in REDIRECT_REFUSALS.items()),
    *((case, document, "invalid_client_metadata") for case, document in METADATA_REFUSALS.items()),
    *((case, document, {"invalid_client_metadata", "invalid_redirect_uri"}) for case, document in OTHER_REFUSALS.items()),
], ids=[*REDIRECT_REFUSALS, *METADATA_REFUSALS, *OTHER_REFUSALS])
def test_a_document_breaking_a_rule_is_refused_and_nothing_is_stored(open_env, case, document, error):
    before = client_count(open_env.warden)
    body = assert_oauth_error(register(open_env.server, document), error)
    assert body.get("error_description"), body
    assert client_count(open_env.warden) == before


# == registered clients at work ==============================================================================


def test_a_public_client_registered_over_http_runs_the_code_flow_with_pkce_in_authlib(open_env):
    from authlib.integrations.requests_client import OAuth2Session

    scope = "openid profile offline_access"
    body = registered(register(open_env.server, public(
        client_name="Registered SPA", grant_types=["authorization_code", "refresh_token"], scope=scope)))
    metadata = open_env.server.metadata()
    session = OAuth2Session(body["client_id"], token_endpoint_auth_method="none", redirect_uri=REDIRECT, scope=scope,
                            code_challenge_method="S256")
    nonce = secrets.token_urlsafe(16)
    location, verifier, pages = authlib_walk(open_env, session, nonce=nonce)
    assert pages == ["login", "consent"], pages
    assert query_params(location).get("iss") == open_env.issuer, location
    token = session.fetch_token(metadata["token_endpoint"], authorization_response=location, code_verifier=verifier)
    assert token["token_type"] == "Bearer" and token["scope"] == scope and token.get("refresh_token"), token

    claims = verify_access_token(open_env.server, token["access_token"], audience=open_env.issuer)
    assert claims["client_id"] == body["client_id"] and claims["sub"] == open_env.alice.id and claims["scope"] == scope
    header, identity = verify_id_token(open_env.server, token["id_token"], body["client_id"])
    assert header["alg"] == "RS256" and identity["sub"] == open_env.alice.id and identity["nonce"] == nonce
    seen = introspection(open_env, token["access_token"])
    assert seen["active"] is True and seen["client_id"] == body["client_id"] and seen["sub"] == open_env.alice.id, seen

    renewed = session.refresh_token(metadata["token_endpoint"], refresh_token=token["refresh_token"])
    assert renewed["refresh_token"] != token["refresh_token"]
    assert introspection(open_env, renewed["access_token"])["client_id"] == body["client_id"]


def test_a_confidential_client_registered_over_http_runs_the_code_flow_in_authlib(open_env):
    from authlib.integrations.requests_client import OAuth2Session

    scope = "openid profile"
    body = registered(register(open_env.server, confidential(
        client_name="Registered Web", scope=scope + " mcp:tools", id_token_signed_response_alg="ES256")))
    assert body["token_endpoint_auth_method"] == "client_secret_basic"
    metadata = open_env.server.metadata()
    session = OAuth2Session(body["client_id"], body["client_secret"], token_endpoint_auth_method="client_secret_basic",
                            redirect_uri=REDIRECT, scope=scope, code_challenge_method="S256")
    location, verifier, _ = authlib_walk(open_env, session, nonce="n-" + secrets.token_hex(8))
    token = session.fetch_token(metadata["token_endpoint"], authorization_response=location, code_verifier=verifier)
    # Warden takes only the registered method, so Authlib authenticated with HTTP Basic.
    assert token["scope"] == scope, token

    claims = verify_access_token(open_env.server, token["access_token"], audience=open_env.issuer)
    assert claims["client_id"] == body["client_id"] and claims["sub"] == open_env.alice.id
    header, identity = verify_id_token(open_env.server, token["id_token"], body["client_id"])
    assert header["alg"] == "ES256" and identity["sub"] == open_env.alice.id, header
    # The client introspects its own token (Authlib, Basic); the resource server sees the same client.
    own = session.introspect_token(metadata["introspection_endpoint"], token=token["access_token"])
    assert own.status_code == 200 and own.json()["active"] is True and own.json()["client_id"] == body["client_id"], own.text
    assert introspection(open_env, token["access_token"])["client_id"] == body["client_id"]
    # And the same secret gets a client credentials token.
    machine = session.fetch_token(metadata["token_endpoint"], grant_type="client_credentials", scope="mcp:tools")
    assert verify_access_token(open_env.server, machine["access_token"], audience=open_env.issuer)["sub"] == body["client_id"]


def test_a_private_key_jwt_client_with_inline_jwks_gets_a_client_credentials_token(open_env):
    body = registered(register(open_env.server, {
        "client_name": "Key Service", "token_endpoint_auth_method": "private_key_jwt", "grant_types": ["client_credentials"],
        "jwks": public_jwks(CLIENT_KEY), "scope": "mcp:tools",
    }))
    assert body["jwks"] == public_jwks(CLIENT_KEY) and "client_secret" not in body, body
    token_endpoint = open_env.server.metadata()["token_endpoint"]
    form = {"grant_type": "client_credentials", "scope": "mcp:tools",
            **assertion_form(CLIENT_KEY, body["client_id"], token_endpoint)}
    response = requests.post(token_endpoint, data=form, timeout=10)
    assert response.status_code == 200, response.text
    client = as_client(body)
    assert_rfc9068_token(response.json()["access_token"], open_env.server, client, audience=open_env.issuer, scope="mcp:tools")
    # An assertion signed with another key is refused.
    other = new_key("ES256", kid=CLIENT_KEY.as_dict()["kid"])
    refused = requests.post(token_endpoint, timeout=10, data={
        "grant_type": "client_credentials", **assertion_form(other, body["client_id"], token_endpoint)})
    assert_oauth_error(refused, "invalid_client", 401)


def test_a_device_client_registered_over_http_starts_a_device_authorization(open_env):
    body = registered(register(open_env.server, {
        "client_name": "Living Room TV", "grant_types": [DEVICE_GRANT], "token_endpoint_auth_method": "none",
        "scope": "openid profile"}))
    assert body["grant_types"] == [DEVICE_GRANT] and body["redirect_uris"] == [] and "client_secret" not in body, body
    response = requests.post(open_env.server.url("/device_authorization"), timeout=10,
                             data={"client_id": body["client_id"], "scope": "profile"})
    assert response.status_code == 200, response.text
    device = response.json()
    assert device["device_code"] and re.fullmatch(r"[A-Z]{4}-[A-Z]{4}", device["user_code"]), device
    assert device["verification_uri"] == open_env.issuer + "/device", device
    poll = requests.post(open_env.server.url("/token"), timeout=10, data={
        "grant_type": DEVICE_GRANT, "client_id": body["client_id"], "device_code": device["device_code"]})
    assert_oauth_error(poll, "authorization_pending")


def test_an_mcp_client_discovers_registers_and_gets_a_token_for_the_default_audience(open_env):
    """MCP's authorization flow: metadata → registration_endpoint → open registration of a public
    client with a loopback redirect URI → PKCE code flow with `resource` (requests-oauth2client)."""
    from requests_oauth2client import OAuth2Client

    catcher = RedirectCatcher()
    try:
        metadata = requests.get(open_env.server.url("/.well-known/oauth-authorization-server"), timeout=10).json()
        assert "S256" in metadata["code_challenge_methods_supported"], metadata
        assert "none" in metadata["token_endpoint_auth_methods_supported"], metadata
        response = requests.post(metadata["registration_endpoint"], timeout=10, json={
            "client_name": "Example MCP Client", "redirect_uris": [catcher.redirect_uri],
            "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        })
        body = registered(response)
        assert body["redirect_uris"] == [catcher.redirect_uri] and set(body["scope"].split()) == set(OPEN_SCOPES), body

        # The server's default audience: no `default_audience` configured, so the issuer.
        resource = metadata["issuer"]
        oauth = OAuth2Client.from_discovery_document(metadata, issuer=open_env.issuer, client_id=body["client_id"],
                                                     redirect_uri=catcher.redirect_uri, testing=True)
        request = oauth.authorization_request(scope="mcp:tools offline_access", resource=resource)
        assert query_params(str(request.uri)).get("resource") == resource, request.uri
        agent = UserAgent(open_env.server)
        final, pages = agent.walk(agent.get(str(request.uri)), open_env.alice)
        assert pages == ["login", "consent"], pages
        location = final.headers["Location"]
        assert requests.get(location, timeout=10).status_code == 200  # the app's listener gets the code
        assert catcher.wait()["query"]["code"] == query_params(location)["code"]
        token = oauth.authorization_code(request.validate_callback(location), resource=resource)
        assert token.refresh_token and token.scope == "mcp:tools offline_access", token

        claims = verify_access_token(open_env.server, token.access_token, audience=resource)
        assert claims["aud"] == resource and claims["client_id"] == body["client_id"], claims
        assert claims["sub"] == open_env.alice.id and claims["scope"] == "mcp:tools offline_access", claims
        renewed = oauth.refresh_token(token, resource=resource)
        assert verify_access_token(open_env.server, renewed.access_token, audience=resource)["aud"] == resource
    finally:
        catcher.close()


class ConnectionRecorder:
    """A loopback TCP listener (127.0.0.1, and ::1 on the same port where there is one) that
    records every connection it accepts and closes it at once: it speaks neither TLS nor HTTP."""

    def __init__(self):
        self.lock = threading.Lock()
        self.accepted: list[tuple] = []
        self.stopping = threading.Event()
        self.sockets = [socket.create_server(("127.0.0.1", 0))]
        self.port = self.sockets[0].getsockname()[1]
        try:
            self.sockets.append(socket.create_server(("::1", self.port), family=socket.AF_INET6))
        except OSError:
            pass  # no IPv6 loopback here
        self.threads = [threading.Thread(target=self._accept, args=(sock,), daemon=True) for sock in self.sockets]
        for thread in self.threads:
            thread.start()

    def _accept(self, sock: socket.socket) -> None:
        sock.settimeout(0.2)
        while not self.stopping.is_set():
            try:
                connection, peer = sock.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            with self.lock:
                self.accepted.append(peer)
            connection.close()

    def connections(self) -> list[tuple]:
        with self.lock:
            return list(self.accepted)

    def close(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=5)
        for sock in self.sockets:
            sock.close()


def backchannel_log_lines(env: Env, client_id: str) -> list[dict]:
    """The JSON log lines of the back-channel sender about `client_id`."""
    return [entry for entry in events(env, "backchannel_logout") if entry.get("client_id") == client_id]


def test_back_channel_logout_to_a_registered_client_goes_only_to_a_public_address(open_env):
    """A backchannel_logout_uri registered over HTTP is a stranger's: https://localhost passes the
    registration rules, yet when the session ends the sender resolves it, finds a loopback address
    and fails (logged, retried later) without connecting. In the same browser session and the
    same `sessions revoke`, a CLI-made client with an http loopback URI gets its logout token."""
    env = open_env
    recorder, control = ConnectionRecorder(), RedirectCatcher(path="/bcl")
    try:
        body = registered(register(env.server, public(
            client_name="Registered BCL", scope="openid profile",
            backchannel_logout_uri=f"https://localhost:{recorder.port}/bcl")))
        assert body["backchannel_logout_uri"] == f"https://localhost:{recorder.port}/bcl", body
        registered_client = as_client(body)
        cli_client = env.warden.create_code_client(
            "CLI BCL control", (REDIRECT,), "openid profile",
            extra=("--skip-consent", "--backchannel-logout-uri", control.redirect_uri))
        assert env.warden.run_json("clients", "show", positional=(cli_client.client_id,))["origin"] == "cli"
        assert env.warden.run_json("clients", "show", positional=(registered_client.client_id,))["origin"] == "registration"
        wait_until(lambda: env.server.code_token(cli_client, "x").status_code != 401,
                   message="a client created with the CLI did not reach the server")

        # One browser session; each client gets an ID token in it.
        user = env.warden.create_user("bcl-" + secrets.token_hex(4))
        agent = UserAgent(env.server)
        sids = []
        for client, first in ((registered_client, True), (cli_client, False)):
            code, verifier = obtain_code(agent, client, user, REDIRECT, scope="openid profile",
                                         nonce=secrets.token_urlsafe(12), **({} if first else {"expect_login": False}))
            response = env.server.code_token(client, code, redirect_uri=REDIRECT, code_verifier=verifier)
            assert response.status_code == 200 and "id_token" in response.json(), response.text
            _, identity = verify_id_token(env.server, response.json()["id_token"], client.client_id)
            sids.append(identity["sid"])
        assert sids[0] and sids[0] == sids[1], sids

        result = env.warden.run("sessions", "revoke", "--username", user.username)
        assert not result.stderr.strip(), result.stderr

        # The control: the CLI client's loopback receiver gets a logout token for the session.
        delivery = control.wait(timeout=15)
        assert delivery["method"] == "POST" and list(delivery["form"]) == ["logout_token"], delivery
        _, claims = verify_with_joserfc(delivery["form"]["logout_token"], env.server.jwks(), issuer=env.issuer,
                                        audience=cli_client.client_id)
        assert claims["sub"] == user.id and claims["sid"] == sids[0], claims
        assert "http://schemas.openid.net/event/backchannel-logout" in claims["events"], claims

        # The registered client: a failed first attempt and a failed retry, and not one connection.
        def failures() -> list[dict]:
            return [entry for entry in backchannel_log_lines(env, registered_client.client_id)
                    if entry.get("message", "").startswith("back-channel logout failed")]

        wait_until(lambda: len(failures()) >= 1, timeout=15,
                   message="no 'back-channel logout failed' line for the registered client")
        wait_until(lambda: len(failures()) >= 2, timeout=20,
                   message=f"the failed back-channel logout was not retried: {failures()}")
        time.sleep(1)
        assert recorder.connections() == [], f"the server connected to the loopback listener: {recorder.connections()}"
        assert [str(entry["attempt"]) for entry in failures()][:2] == ["1", "2"], failures()
        assert all(entry["message"].endswith("will retry") for entry in failures()[:2]), failures()
        lines = backchannel_log_lines(env, registered_client.client_id)
        assert not [entry for entry in lines if entry.get("message") == "back-channel logout delivered"], lines
        assert not [entry for entry in backchannel_log_lines(env, cli_client.client_id)
                    if entry.get("message", "").startswith("back-channel logout failed")], "the control failed"
        assert env.server.healthy()
    finally:
        recorder.close()
        control.close()


# == registration: token =====================================================================================


def refused_initial_token(env: Env, case: str) -> str | None:
    """The Authorization header value (or None) of each way an initial access token fails."""
    warden = env.warden
    if case == "missing":
        return None
    if case == "wrong":
        return "Bearer " + secrets.token_urlsafe(32)
    if case == "not-bearer":
        return "Basic " + env.token["token"]
    if case == "expired":
        expires_at = env.expiring["expires_at"]
        wait_until(lambda: time.time() >= expires_at + 2, timeout=5)  # made with --expires-in 1 at setup
        return "Bearer " + env.expiring["token"]
    if case == "revoked":
        made = warden.run_json("registration-tokens", "create")
        warden.run("registration-tokens", "revoke", positional=(made["id"],))
        return "Bearer " + made["token"]
    if case == "registration-access-token":
        return "Bearer " + new_client(env, public())["registration_access_token"]
    if case == "used-up":
        made = warden.run_json("registration-tokens", "create", "--max-uses", "1")
        registered(register(env.server, public(), token=made["token"]))
        return "Bearer " + made["token"]
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["missing", "wrong", "not-bearer", "expired", "revoked", "used-up",
                                  "registration-access-token"])
def test_token_mode_refuses_a_registration_without_a_usable_initial_token(token_env, case):
    authorization = refused_initial_token(token_env, case)
    before = client_count(token_env.warden)
    headers = {"Authorization": authorization} if authorization else {}
    assert_invalid_token(register(token_env.server, public(), headers=headers))
    # The token is checked before the document: without a usable one, nothing is learned of the rules.
    assert_invalid_token(register(token_env.server, public(redirect_uris=["http://evil.example.com/cb"]), headers=headers))
    assert client_count(token_env.warden) == before


def test_token_mode_registers_with_an_initial_token_and_counts_the_use(token_env):
    made = token_env.warden.run_json("registration-tokens", "create", "--max-uses", "2")
    body = registered(register(token_env.server, public(), token=made["token"]))
    assert set(body["scope"].split()) == TOKEN_SCOPES, body  # the default registration scopes
    assert initial_token(token_env, made["id"])["uses"] == 1


def test_an_invalid_document_does_not_spend_a_use(token_env):
    made = token_env.warden.run_json("registration-tokens", "create", "--max-uses", "1")
    for document in (public(redirect_uris=["http://evil.example.com/cb"]), public(scope="admin"), None):
        data = b"[]" if document is None else None
        assert register(token_env.server, document, token=made["token"], data=data).status_code == 400
    assert initial_token(token_env, made["id"])["uses"] == 0
    registered(register(token_env.server, public(), token=made["token"]))
    assert initial_token(token_env, made["id"])["uses"] == 1


def test_registration_tokens_create_list_and_revoke_in_json(token_env):
    warden = token_env.warden
    before = time.time()
    made = warden.run_json("registration-tokens", "create", "--expires-in", "600", "--max-uses", "5")
    assert set(made) == {"id", "token", "created_at", "expires_at", "max_uses", "uses", "revoked"}, made
    assert made["expires_at"] - made["created_at"] == 600 and before - 2 <= made["created_at"] <= time.time() + 2, made
    assert made["max_uses"] == 5 and made["uses"] == 0 and made["revoked"] is False, made
    plain = warden.run_json("registration-tokens", "create")
    assert set(plain) == {"id", "token", "created_at", "uses", "revoked"}, plain

    listing = warden.run("registration-tokens", "list", "--json").stdout
    assert made["token"] not in listing and plain["token"] not in listing, "list shows token values"
    entries = {entry["id"]: entry for entry in json.loads(listing)}
    assert all("token" not in entry for entry in entries.values()), entries
    assert entries[made["id"]] == {name: value for name, value in made.items() if name != "token"}

    result = warden.run("registration-tokens", "revoke", positional=(made["id"],))
    assert made["id"] in result.stdout, result.stdout
    assert initial_token(token_env, made["id"])["revoked"] is True
    assert initial_token(token_env, plain["id"])["revoked"] is False
    assert_invalid_token(register(token_env.server, public(), token=made["token"]))
    wait_until(lambda: events(token_env, "registration_token_created", id=made["id"]), timeout=10,
               message="the server did not log registration_token_created")
    wait_until(lambda: events(token_env, "registration_token_revoked", id=made["id"]), timeout=10,
               message="the server did not log registration_token_revoked")


def test_registration_tokens_create_and_list_in_text(token_env):
    warden = token_env.warden
    output = warden.run("registration-tokens", "create", "--max-uses", "3").stdout
    fields = dict(re.findall(r"^(id|token):\s+(\S+)", output, re.MULTILINE))
    assert set(fields) == {"id", "token"}, output
    registered(register(token_env.server, public(), token=fields["token"]))
    listing = warden.run("registration-tokens", "list").stdout
    (line,) = [line for line in listing.splitlines() if line.startswith(fields["id"])]
    assert "1/3" in line and fields["token"] not in listing, listing


@pytest.mark.parametrize("options", [("--expires-in", "0"), ("--max-uses", "0"), ("--expires-in", "-5"),
                                     ("--max-uses", "-1")], ids=" ".join)
def test_registration_tokens_create_refuses_a_bad_option(token_env, options):
    before = len(token_env.warden.run_json("registration-tokens", "list"))
    result = token_env.warden.run("registration-tokens", "create", *options, check=False)
    assert result.returncode != 0 and options[0] in result.stderr, result
    assert len(token_env.warden.run_json("registration-tokens", "list")) == before


def test_revoking_an_unknown_or_revoked_registration_token_fails_with_one_line(token_env):
    warden = token_env.warden
    assert_one_line_failure(warden.run("registration-tokens", "revoke", positional=("no-such-id",), check=False))
    made = warden.run_json("registration-tokens", "create")
    warden.run("registration-tokens", "revoke", positional=(made["id"],))
    assert_one_line_failure(warden.run("registration-tokens", "revoke", positional=(made["id"],), check=False), made["id"])


# == RFC 7592 management ======================================================================================


def test_get_answers_the_client_information_without_credentials(token_env):
    body = new_client(token_env, confidential(client_name="Reader"))
    response = manage("GET", body, body["registration_access_token"])
    assert response.status_code == 200 and response.headers.get("Cache-Control") == "no-store", response.text
    information = response.json()
    assert "client_secret" not in information and "registration_access_token" not in information, information
    assert information["registration_client_uri"] == body["registration_client_uri"]
    assert information["client_name"] == "Reader" and information["client_id"] == body["client_id"]


MANAGEMENT_401 = ["missing", "wrong", "not-bearer", "another-clients-token", "initial-access-token", "cli-client", "unknown-id",
                  "token-before-put"]


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize("case", MANAGEMENT_401)
def test_management_without_the_clients_token_is_401_and_changes_nothing(token_env, case, method):
    env = token_env
    target = new_client(env, confidential(client_name="Target"))
    token = target["registration_access_token"]
    other = new_client(env, public(client_name="Other"))
    old = token
    if case == "token-before-put":
        put = manage("PUT", target, token, confidential(client_id=target["client_id"], client_name="Target"))
        assert put.status_code == 200, put.text
        token = put.json()["registration_access_token"]
    headers = {
        "missing": {}, "wrong": bearer(secrets.token_urlsafe(32)), "not-bearer": {"Authorization": "Basic " + token},
        "another-clients-token": bearer(other["registration_access_token"]), "cli-client": bearer(token),
        "unknown-id": bearer(token), "token-before-put": bearer(old), "initial-access-token": bearer(env.token["token"]),
    }[case]
    victim = {"cli-client": env.cli_client.client_id, "unknown-id": secrets.token_hex(16)}.get(case, target["client_id"])
    before = client_count(env.warden)
    cli_before = env.warden.run_json("clients", "show", positional=(env.cli_client.client_id,))
    information = manage("GET", target, token).json()
    document = confidential(client_id=victim, client_name="Hijacked", redirect_uris=["https://evil.example.com/cb"])
    response = requests.request(method, env.issuer + "/register/" + victim, headers=headers, timeout=10,
                                **({"json": document} if method == "PUT" else {}))
    assert_invalid_token(response)
    assert client_count(env.warden) == before
    assert manage("GET", target, token).json() == information, "the client changed"
    assert env.warden.run_json("clients", "show", positional=(env.cli_client.client_id,)) == cli_before


def test_put_replaces_everything_and_rotates_the_registration_token(token_env):
    env = token_env
    body = new_client(env, confidential(client_name="Before", scope="invoices:read profile", contacts=["a@example.com"],
                                        client_uri="https://app.example.com"))
    old = body["registration_access_token"]
    response = manage("PUT", body, old, {"client_id": body["client_id"], "redirect_uris": [WEB_REDIRECT]})
    assert response.status_code == 200, response.text
    assert response.headers.get("Cache-Control") == "no-store", dict(response.headers)
    replaced = response.json()
    new = replaced["registration_access_token"]
    assert new and new != old, replaced
    # Full replacement: what was not sent is back to its default.
    assert replaced["client_name"] == "Unnamed application" and replaced["redirect_uris"] == [WEB_REDIRECT], replaced
    assert set(replaced["scope"].split()) == TOKEN_SCOPES and replaced["grant_types"] == ["authorization_code"], replaced
    assert "contacts" not in replaced and "client_uri" not in replaced, replaced
    assert replaced["client_id"] == body["client_id"] and replaced["client_id_issued_at"] == body["client_id_issued_at"]
    assert replaced["registration_client_uri"] == body["registration_client_uri"]
    # The old token no longer works, the new one does.
    assert_invalid_token(manage("GET", body, old))
    current = manage("GET", body, new)
    assert current.status_code == 200 and current.json()["client_name"] == "Unnamed application", current.text
    wait_until(lambda: events(env, "client_updated", client_id=body["client_id"]), message="no client_updated event")


@pytest.mark.parametrize("client_id", ["another", None], ids=["different", "missing"])
def test_put_needs_the_clients_own_id(token_env, client_id):
    body = new_client(token_env, confidential(client_name="Kept"))
    document = confidential(client_name="Changed", client_id=secrets.token_hex(16) if client_id else None)
    assert_oauth_error(manage("PUT", body, body["registration_access_token"], document), "invalid_client_metadata")
    assert manage("GET", body, body["registration_access_token"]).json()["client_name"] == "Kept", "a refused PUT rotated or changed"


def test_put_with_a_wrong_client_secret_is_refused_and_a_matching_one_accepted(token_env):
    body = new_client(token_env, confidential(client_name="Kept"))
    token = body["registration_access_token"]
    wrong = confidential(client_id=body["client_id"], client_secret="not-" + body["client_secret"], client_name="Changed")
    assert_oauth_error(manage("PUT", body, token, wrong), "invalid_client_metadata")
    assert manage("GET", body, token).json()["client_name"] == "Kept"
    right = dict(wrong, client_secret=body["client_secret"])
    response = manage("PUT", body, token, right)
    assert response.status_code == 200 and response.json()["client_name"] == "Changed", response.text
    assert "client_secret" not in response.json(), "the kept secret must not be echoed"


def test_put_keeps_a_confidential_clients_secret(token_env):
    env = token_env
    body = new_client(env, confidential(scope="invoices:read"))
    client = as_client(body)
    env.server.access_token(client, scope="invoices:read")  # known to the server's client cache
    response = manage("PUT", body, body["registration_access_token"],
                      confidential(client_id=body["client_id"], token_endpoint_auth_method="client_secret_post",
                                   scope="invoices:read"))
    assert response.status_code == 200, response.text
    replaced = response.json()
    assert "client_secret" not in replaced and replaced["token_endpoint_auth_method"] == "client_secret_post", replaced
    posted = as_client(dict(replaced, client_secret=body["client_secret"]))
    assert env.server.access_token(posted, scope="invoices:read")  # the same secret, now in the body
    assert_oauth_error(env.server.token(client, scope="invoices:read"), "invalid_client", 401)  # Basic is no longer its method


def test_put_making_a_public_client_confidential_issues_a_secret(token_env):
    env = token_env
    body = new_client(env, public(grant_types=["authorization_code"]))
    assert "client_secret" not in body
    response = manage("PUT", body, body["registration_access_token"],
                      confidential(client_id=body["client_id"], scope="invoices:read"))
    assert response.status_code == 200, response.text
    replaced = response.json()
    assert replaced["token_endpoint_auth_method"] == "client_secret_basic", replaced
    assert isinstance(replaced.get("client_secret"), str) and len(replaced["client_secret"]) >= 32, replaced
    assert replaced["client_secret_expires_at"] == 0, replaced
    client = as_client(replaced)
    assert_rfc9068_token(env.server.access_token(client, scope="invoices:read"), env.server, client,
                         audience=env.issuer, scope="invoices:read")
    assert "client_secret" not in manage("GET", replaced, replaced["registration_access_token"]).json()


@pytest.mark.parametrize("change, error", [
    ({"redirect_uris": ["http://app.example.com/cb"]}, "invalid_redirect_uri"),
    ({"scope": "admin"}, "invalid_client_metadata"),
    ({"grant_types": [TOKEN_EXCHANGE]}, "invalid_client_metadata"),
    ({"client_name": 5}, "invalid_client_metadata"),
], ids=["redirect", "scope", "grant", "type"])
def test_put_follows_the_registration_rules_and_changes_nothing_when_refused(token_env, change, error):
    body = new_client(token_env, confidential(client_name="Kept"))
    token = body["registration_access_token"]
    information = manage("GET", body, token).json()
    assert_oauth_error(manage("PUT", body, token, confidential(client_id=body["client_id"], **change)), error)
    assert manage("GET", body, token).json() == information


def test_put_needs_a_json_body_and_changes_nothing_without_one(token_env):
    body = new_client(token_env, confidential(client_name="Kept"))
    token = body["registration_access_token"]
    response = requests.put(body["registration_client_uri"], timeout=10,
                            data=json.dumps(confidential(client_id=body["client_id"], client_name="Changed")),
                            headers={"Content-Type": "application/x-www-form-urlencoded", **bearer(token)})
    assert_oauth_error(response, "invalid_request")
    assert manage("GET", body, token).json()["client_name"] == "Kept"


def test_delete_removes_the_client(token_env):
    env = token_env
    body = new_client(env, confidential(scope="invoices:read"))
    response = manage("DELETE", body, body["registration_access_token"])
    assert response.status_code == 204 and response.content == b"", (response.status_code, response.text)
    assert_invalid_token(manage("GET", body, body["registration_access_token"]))
    assert_invalid_token(manage("DELETE", body, body["registration_access_token"]))
    assert env.warden.run("clients", "show", positional=(body["client_id"],), check=False).returncode != 0
    assert_oauth_error(env.server.token(as_client(body)), "invalid_client", 401)
    wait_until(lambda: events(env, "client_deleted", client_id=body["client_id"]), message="no client_deleted event")


@pytest.mark.parametrize("path, methods", [("/register", ("GET", "PUT", "DELETE", "PATCH")),
                                           ("/register/{id}", ("POST", "PATCH"))], ids=["register", "register-id"])
def test_other_methods_are_405_with_allow(open_env, path, methods):
    body = registered(register(open_env.server, public()))
    url = open_env.server.url(path.replace("{id}", body["client_id"]))
    for method in methods:
        response = requests.request(method, url, headers=bearer(body["registration_access_token"]), timeout=10)
        assert response.status_code == 405, (method, response.status_code, response.text)
        allowed = {name.strip() for name in response.headers.get("Allow", "").split(",")}
        assert method not in allowed and allowed, (method, response.headers.get("Allow"))
        assert allowed == {"POST"} if path == "/register" else {"GET", "PUT", "DELETE"} <= allowed, allowed


def test_clients_list_and_show_name_the_origin(token_env):
    env = token_env
    body = new_client(env, public(client_name="From HTTP"))
    lines = env.warden.run("clients", "list").stdout.splitlines()
    (registered_line,) = [line for line in lines if line.startswith(body["client_id"])]
    (cli_line,) = [line for line in lines if line.startswith(env.cli_client.client_id)]
    assert registered_line.endswith("(registration)") and cli_line.endswith("(cli)"), (registered_line, cli_line)
    origins = {entry["client_id"]: entry["origin"] for entry in env.warden.run_json("clients", "list")}
    assert origins[body["client_id"]] == "registration" and origins[env.cli_client.client_id] == "cli", origins
    assert env.warden.run_json("clients", "show", positional=(body["client_id"],))["origin"] == "registration"
    assert env.warden.run_json("clients", "show", positional=(env.cli_client.client_id,))["origin"] == "cli"


# == storage-sensitive: SQLite and PostgreSQL =================================================================


def at_once(count: int, work) -> list:
    """`work(i)` in `count` threads released together."""
    barrier = threading.Barrier(count)

    def run(index):
        barrier.wait(timeout=30)
        return work(index)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def test_max_uses_holds_under_concurrent_registrations(backend):
    env = backend
    made = env.warden.run_json("registration-tokens", "create", "--max-uses", "3")
    before = client_count(env.warden)
    responses = at_once(12, lambda i: register(env.servers[i % len(env.servers)], public(client_name=f"Racer {i}"),
                                               token=made["token"]))
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] * 3 + [401] * 9, statuses
    for response in responses:
        if response.status_code == 401:
            assert_invalid_token(response)
    assert client_count(env.warden) == before + 3
    assert initial_token(env, made["id"])["uses"] == 3


def test_of_concurrent_puts_with_one_token_exactly_one_succeeds(backend):
    env = backend
    body = new_client(env, confidential(client_name="Contended"))
    token = body["registration_access_token"]
    for round_ in range(3):
        names = [f"Writer {round_}-{i}" for i in range(6)]
        responses = at_once(6, lambda i: manage("PUT", body, token, confidential(client_id=body["client_id"], client_name=names[i]),
                                                server=env.servers[i % len(env.servers)]))
        winners = [(names[i], response) for i, response in enumerate(responses) if response.status_code == 200]
        assert len(winners) == 1, [(response.status_code, response.text) for response in responses]
        for response in responses:
            if response.status_code != 200:
                assert_invalid_token(response)
        name, winner = winners[0]
        token = winner.json()["registration_access_token"]
        for server in env.servers:
            current = manage("GET", body, token, server=server)
            assert current.status_code == 200 and current.json()["client_name"] == name, current.text


def test_delete_ends_the_clients_tokens_and_grants_at_once(backend):
    env = backend
    first, last = env.servers[0], env.servers[-1]
    body = new_client(env, confidential(scope="openid profile offline_access invoices:read",
                                        grant_types=["authorization_code", "refresh_token", "client_credentials", DEVICE_GRANT]))
    client = as_client(body)
    machine = first.access_token(client, scope="invoices:read")
    user = user_tokens(env, client, "openid profile offline_access", server=first)
    device = requests.post(first.url("/device_authorization"), auth=client.basic, data={"scope": "profile"}, timeout=10)
    assert device.status_code == 200, device.text
    for server in env.servers:  # active, and so in every instance's caches
        for token in (machine, user["access_token"]):
            assert introspection(env, token, server)["client_id"] == client.client_id
    (grant,), = read(env.warden, "SELECT id FROM grants WHERE client_id = ?", (client.client_id,))
    owned = {table: f"SELECT COUNT(*) FROM {table} WHERE client_id = ?"
             for table in ("grants", "consents", "device_authorizations")}
    assert {table: read(env.warden, query, (client.client_id,))[0][0] for table, query in owned.items()} == \
        {"grants": 1, "consents": 1, "device_authorizations": 1}
    assert read(env.warden, "SELECT COUNT(*) FROM refresh_tokens WHERE grant_id = ?", (grant,)) == [(1,)]

    assert manage("DELETE", body, body["registration_access_token"], server=last).status_code == 204
    for server in env.servers:
        for token in (machine, user["access_token"]):
            assert introspection(env, token, server) == {"active": False}, "a deleted client's token is still active"
        refreshed = server.refresh(client, user["refresh_token"])
        assert_oauth_error(refreshed, {"invalid_client", "invalid_grant"}, None)
        assert refreshed.status_code in (400, 401), refreshed.status_code
        assert_oauth_error(server.token(client), "invalid_client", 401)
        poll = requests.post(server.url("/token"), auth=client.basic, timeout=10,
                             data={"grant_type": DEVICE_GRANT, "device_code": device.json()["device_code"]})
        assert_oauth_error(poll, "invalid_client", 401)
        assert_invalid_token(manage("GET", body, body["registration_access_token"], server=server))
    assert {table: read(env.warden, query, (client.client_id,))[0][0] for table, query in owned.items()} == \
        {"grants": 0, "consents": 0, "device_authorizations": 0}
    assert read(env.warden, "SELECT COUNT(*) FROM refresh_tokens WHERE grant_id = ?", (grant,)) == [(0,)]
    assert read(env.warden, "SELECT COUNT(*) FROM clients WHERE id = ?", (client.client_id,)) == [(0,)]


def test_no_credential_reaches_the_logs(backend):
    """Initial access tokens, client secrets and registration access tokens are shown once, to
    their holder: never in the server's logs (nor in the CLI's security events)."""
    env = backend
    made = env.warden.run_json("registration-tokens", "create")
    body = registered(register(env.server, confidential(), token=made["token"]))
    put = manage("PUT", body, body["registration_access_token"], confidential(client_id=body["client_id"]))
    assert put.status_code == 200, put.text
    assert manage("GET", body, put.json()["registration_access_token"]).status_code == 200
    wait_until(lambda: events(env, "registration_token_created", id=made["id"]), timeout=10,
               message="the server did not log registration_token_created")
    logs = "".join(server.stdout() + server.stderr() for server in env.servers)
    for name, value in (("initial access token", made["token"]), ("client secret", body["client_secret"]),
                        ("registration access token", body["registration_access_token"]),
                        ("rotated registration access token", put.json()["registration_access_token"])):
        assert value not in logs, f"the {name} is in the logs"


# == the per-address budget ===================================================================================


def test_every_registration_counts_against_the_address_budget(tmp_path):
    warden, server = budget_installation(tmp_path, limit=3)
    try:
        registered(register(server, public()))
        assert register(server, public(scope="admin")).status_code == 400
        registered(register(server, public()))  # a success is not forgiven
        response = register(server, public())
        assert_oauth_error(response, "slow_down", 429)
        assert 1 <= int(response.headers["Retry-After"]) <= 60, dict(response.headers)
        assert client_count(warden) == 2
    finally:
        finish(warden)


def test_failed_management_requests_count_and_successful_ones_are_forgiven(tmp_path):
    warden, server = budget_installation(tmp_path, limit=3)
    try:
        body = registered(register(server, public()))  # 1 of 3, kept
        for _ in range(5):  # forgiven
            assert manage("GET", body, body["registration_access_token"]).status_code == 200
        for _ in range(2):  # 2 and 3 of 3
            assert_invalid_token(manage("GET", body, "wrong-" + secrets.token_hex(8)))
        response = manage("GET", body, body["registration_access_token"])
        assert_oauth_error(response, "slow_down", 429)
        assert 1 <= int(response.headers["Retry-After"]) <= 60, dict(response.headers)
    finally:
        finish(warden)

