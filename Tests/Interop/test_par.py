"""Pushed Authorization Requests (RFC 9126; shared/design/PROOF-OF-POSSESSION.md, "Pushed
Authorization Requests"): POST /par with every client authentication method, its JSON
errors (never a redirect), /authorize?client_id&request_uri using the pushed parameters
alone, single use, expiry and the purge, `require_pushed_authorization_requests` (config and
`--require-par`), the metadata, no credentials stored, DPoP at /par (RFC 9449 §10.1), the
HTTP edges, and requests-oauth2client (a third-party client) pushing, signing in and
redeeming the code with its own ID token validation.

A cookie-keeping `requests` session (interop.UserAgent) plays the browser; redirect URIs
here are never listened on: the code is read from the Location header. Keys, client
assertions and DPoP proofs come from proof_of_possession.py (joserfc)."""

from __future__ import annotations

import http.client
import json
import re
import secrets
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
import requests

from interop import (
    NO_FAILURE_LIMITS,
    Client,
    Page,
    Server,
    User,
    UserAgent,
    Warden,
    assert_authorization_error,
    assert_html_page,
    assert_oauth_error,
    assert_redirect_to,
    authorization_params,
    finish,
    obtain_code,
    pkce_pair,
    redirect_target,
    wait_until,
)
from proof_of_possession import assertion_form, dpop_proof, new_key, public_jwks, thumbprint

REDIRECT = "http://127.0.0.1:8765/callback"
WEB_REDIRECT = "https://app.example.com/callback"
OTHER_LOOPBACK = "http://127.0.0.1:9999/callback"
SCOPE = "openid profile email offline_access"
API = "https://api.example.com"
PREFIX = "urn:ietf:params:oauth:request_uri:"
#: PROOF-OF-POSSESSION.md: a pushed request lives 60 seconds.
EXPIRES_IN = 60
FORM = "application/x-www-form-urlencoded"


# -- the installation shared by this module ------------------------------------------------------


@dataclass
class Env:
    warden: Warden
    server: Server
    clients: dict[str, Client]
    #: The private key of the private_key_jwt clients (its public half is registered).
    key: object
    alice: User

    def url(self, path: str) -> str:
        return self.server.url(path)

    @property
    def par_url(self) -> str:
        return self.server.issuer + "/par"

    @property
    def token_url(self) -> str:
        return self.server.issuer + "/token"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """One installation: its clients and user are made before the server starts, so that
    every one of them is there from the first request."""
    warden = Warden(tmp_path_factory.mktemp("par"), config=dict(NO_FAILURE_LIMITS))
    key = new_key("ES256", kid="par-client-key")
    jwks_file = warden.root / "client-jwks.json"
    jwks_file.write_text(json.dumps(public_jwks(key)))
    create = warden.create_code_client
    skip = ("--skip-consent",)
    clients = {
        # Public, consent asked.
        "public": create("PAR SPA", (REDIRECT,), SCOPE),
        # Public, first party: no consent page.
        "trusted": create("Trusted App", (REDIRECT,), SCOPE, extra=skip),
        "other": create("Other App", (REDIRECT,), SCOPE, extra=skip),
        # Confidential, two redirect URIs (so redirect_uri is required), an audience.
        "basic": create("Basic Web", (REDIRECT, WEB_REDIRECT), SCOPE, public=False, audiences=(API,), extra=skip),
        "post": create("Post Web", (REDIRECT,), SCOPE, public=False, auth_method="client_secret_post", extra=skip),
        "jwt": create("Key Web", (REDIRECT,), SCOPE, public=False, auth_method="private_key_jwt",
                      extra=("--jwks", str(jwks_file), *skip)),
        # Client credentials only, yet with a redirect URI.
        "backend": create("Backend", (REDIRECT,), "profile", public=False, grant_types=("client_credentials",)),
        "strict": create("Strict App", (REDIRECT,), SCOPE, extra=("--require-par", *skip)),
        "reload": create("Reload App", (REDIRECT,), SCOPE),
        "deny": create("Deny App", (REDIRECT,), SCOPE),
        "expiring": create("Expiring App", (REDIRECT,), SCOPE, extra=skip),
        "purged": create("Purged App", (REDIRECT,), SCOPE, extra=skip),
        "stored": create("Stored Web", (REDIRECT,), SCOPE, public=False, auth_method="client_secret_post", extra=skip),
        "stored_jwt": create("Stored Key Web", (REDIRECT,), SCOPE, public=False, auth_method="private_key_jwt",
                             extra=("--jwks", str(jwks_file), *skip)),
        # requests-oauth2client's clients (consent asked).
        "rp_post": create("RP Post", (REDIRECT,), SCOPE, public=False, auth_method="client_secret_post"),
        "rp_jwt": create("RP Key", (REDIRECT,), SCOPE, public=False, auth_method="private_key_jwt",
                         extra=("--jwks", str(jwks_file),)),
        "rp_dpop": create("RP DPoP", (REDIRECT,), SCOPE, public=False, auth_method="client_secret_post"),
    }
    alice = warden.create_user("alice")
    server = warden.start_server()
    yield Env(warden, server, clients, key, alice)
    finish(warden)


@pytest.fixture(scope="module")
def alice_agent(env) -> UserAgent:
    """Alice's browser, signed in once through a plain (not pushed) authorization request."""
    agent = UserAgent(env.server)
    obtain_code(agent, env.clients["trusted"], env.alice, REDIRECT, scope="profile", expect_login=True)
    return agent


# -- helpers -------------------------------------------------------------------------------------------


def pushed_params(client: Client | None = None, *, redirect_uri: str | None = REDIRECT, scope: str = "profile",
                  state: str | None = None, challenge: str | None = None, **extra) -> dict:
    """Authorization request parameters for /par (no client_id: the authentication adds it);
    a fresh state and S256 challenge unless given. None values are left out."""
    if challenge is None:
        challenge = pkce_pair()[1]
    params = {
        "response_type": "code", "redirect_uri": redirect_uri, "scope": scope,
        "state": state if state is not None else secrets.token_urlsafe(12),
        "code_challenge": challenge, "code_challenge_method": "S256", **extra,
    }
    return {name: value for name, value in params.items() if value is not None}


def authentication(env: Env, client: Client, *, audience: str | None = None, with_client_id: bool = False):
    """(form pairs, requests keyword arguments) authenticating `client` with its registered method."""
    method = client.auth_method
    if method == "client_secret_basic":
        pairs = [("client_id", client.client_id)] if with_client_id else []
        return pairs, {"auth": client.basic}
    if method == "client_secret_post":
        return [("client_id", client.client_id), ("client_secret", client.client_secret)], {}
    if method == "none":
        return [("client_id", client.client_id)], {}
    if method == "private_key_jwt":
        form = assertion_form(env.key, client.client_id, audience or env.par_url)
        pairs = [("client_id", client.client_id)] if with_client_id else []
        return pairs + list(form.items()), {}
    raise AssertionError(f"unexpected auth method {method}")


def push(env: Env, client: Client, params: dict | list | None = None, *, dpop: str | None = None,
         audience: str | None = None, with_client_id: bool = False, **changes) -> requests.Response:
    """POST /par: `client` authenticated with its method, then the parameters (`changes`
    applied to pushed_params(); a None change removes the parameter)."""
    if params is None:
        params = pushed_params()
        for name, value in changes.items():
            if value is None:
                params.pop(name, None)
            else:
                params[name] = value
    pairs, kwargs = authentication(env, client, audience=audience, with_client_id=with_client_id)
    items = list(params.items()) if isinstance(params, dict) else list(params)
    headers = {"DPoP": dpop} if dpop is not None else {}
    return requests.post(env.par_url, data=pairs + items, headers=headers, allow_redirects=False, timeout=30, **kwargs)


def assert_pushed(response: requests.Response) -> str:
    """RFC 9126 §2.2: 201, exactly {request_uri, expires_in: 60}, no-store, JSON. Returns the URI."""
    assert response.status_code == 201, f"expected 201, got {response.status_code}: {response.text[:500]!r}"
    assert "Location" not in response.headers, response.headers["Location"]
    assert response.headers.get("Content-Type", "").split(";")[0].strip() == "application/json", dict(response.headers)
    assert "no-store" in response.headers.get("Cache-Control", ""), dict(response.headers)
    body = response.json()
    assert set(body) == {"request_uri", "expires_in"}, body
    assert body["expires_in"] == EXPIRES_IN and type(body["expires_in"]) is int, body
    uri = body["request_uri"]
    assert isinstance(uri, str) and uri.startswith(PREFIX), body
    # At least 128 bits of randomness: 22 base64url characters (or more of a narrower alphabet).
    assert re.fullmatch(r"[A-Za-z0-9_-]{22,}", uri[len(PREFIX):]), f"too short or not URL-safe: {uri!r}"
    return uri


def pushed(env: Env, client: Client, params: dict | None = None, **kwargs) -> str:
    return assert_pushed(push(env, client, params, **kwargs))


def assert_par_error(response: requests.Response, errors: str | set[str], status: int | set[int] = 400) -> dict:
    """An RFC 6749 §5.2 / RFC 9126 §2.3 JSON error, never a redirect."""
    assert response.status_code < 500, f"5xx: {response.status_code} {response.text!r}"
    statuses = {status} if isinstance(status, int) else status
    assert response.status_code in statuses, f"expected {statuses}, got {response.status_code}: {response.text[:500]!r}"
    assert "Location" not in response.headers, f"an error at /par is never a redirect: {response.headers['Location']}"
    return assert_oauth_error(response, errors, status=None)


def assert_error_page(response: requests.Response, status: int = 400) -> Page:
    """The authorization endpoint's HTML error page: no redirect, no form, no code."""
    page = assert_html_page(response, status)  # also: text/html, no Location, security headers
    assert not page.is_login and not page.is_consent, "a login or consent page instead of the error page"
    assert "code=" not in response.text
    return page


def by_reference(client: Client, request_uri: str, **extra) -> dict:
    return {"client_id": client.client_id, "request_uri": request_uri, **extra}


def walk(agent: UserAgent, response: requests.Response, user: User | None, *, decision: str = "allow",
         pages: list[str] | None = None) -> requests.Response:
    """From an /authorize response through login (as `user`) and consent (`decision`),
    following redirects on the server, to the first response that is none of those."""
    response, seen = agent.walk(response, user, decision=decision)
    if pages is not None:
        assert seen == pages, f"pages shown: {seen}, expected {pages}"
    return response


def code_from(env: Env, response: requests.Response, state: str, redirect_uri: str = REDIRECT) -> str:
    query = assert_redirect_to(response, redirect_uri)
    assert "error" not in query and "code" in query, query
    assert query.get("state") == state, f"state {query.get('state')!r}, pushed {state!r}"
    assert query.get("iss") == env.server.issuer, query
    return query["code"]


def rows(env: Env, client: Client) -> dict:
    """The client's pushed requests: digest -> (parameters, typeof(expires_at), expires_at)."""
    return {
        digest: (parameters, kind, expires_at)
        for digest, parameters, kind, expires_at in env.warden.sql(
            "SELECT digest, parameters, typeof(expires_at), expires_at FROM pushed_authorization_requests WHERE client_id = ?",
            (client.client_id,),
        )
    }


def push_and_find_row(env: Env, client: Client, **changes) -> tuple[str, object]:
    """Pushes and returns (request_uri, the digest of the row it stored)."""
    before = set(rows(env, client))
    uri = pushed(env, client, **changes)
    new = set(rows(env, client)) - before
    assert len(new) == 1, f"expected one new pushed_authorization_requests row, got {len(new)}"
    return uri, new.pop()


def write_sql(warden: Warden, query: str, params: tuple = ()) -> int:
    """Writes the SQLite database behind the server's back (test set-up only)."""
    connection = sqlite3.connect(str(warden.database), timeout=10)
    try:
        with connection:
            return connection.execute(query, params).rowcount
    finally:
        connection.close()


def expire(env: Env, digest) -> None:
    """Moves a pushed request's expires_at (unix seconds, an integer on SQLite) into the past."""
    (kind, value), = env.warden.sql("SELECT typeof(expires_at), expires_at FROM pushed_authorization_requests WHERE digest = ?",
                                    (digest,))
    assert kind == "integer", f"expires_at is stored as {kind} ({value!r}), not as integer unix seconds"
    assert abs(value - (time.time() + EXPIRES_IN)) < 5, f"expires_at {value} is not 60 s from now ({time.time():.0f})"
    assert write_sql(env.warden, "UPDATE pushed_authorization_requests SET expires_at = ? WHERE digest = ?",
                     (int(time.time()) - 10, digest)) == 1


# -- metadata ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("document", ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"])
def test_metadata_names_the_par_endpoint_and_does_not_require_it(env, document):
    metadata = requests.get(env.url(document), timeout=10).json()
    assert metadata.get("pushed_authorization_request_endpoint") == env.server.issuer + "/par", metadata
    assert metadata.get("require_pushed_authorization_requests") is False, (
        "require_pushed_authorization_requests must be present and false by default",
        metadata.get("require_pushed_authorization_requests"),
    )


# -- /par: success with every client authentication method ---------------------------------------------------


@pytest.mark.parametrize("client_name, options", [
    ("basic", {}),
    ("basic", {"with_client_id": True}),  # RFC 9126 §2.1: client_id may come along with Basic
    ("post", {}),
    ("public", {}),
    ("jwt", {"audience": "par"}),
    ("jwt", {"audience": "issuer"}),
    ("jwt", {"audience": "par", "with_client_id": True}),
], ids=["basic", "basic+client_id", "post", "public", "jwt-aud-par", "jwt-aud-issuer", "jwt+client_id"])
def test_par_answers_201_with_a_request_uri(env, client_name, options):
    options = dict(options)
    if "audience" in options:
        options["audience"] = env.par_url if options["audience"] == "par" else env.server.issuer
    client = env.clients[client_name]
    uris = {pushed(env, client, **options) for _ in range(3)}
    assert len(uris) == 3, f"request_uri values repeat: {uris}"


@pytest.mark.parametrize("client_name", ["basic", "post", "other", "jwt"])  # "other": public, no consent page
def test_a_pushed_request_leads_to_a_code_the_client_redeems(env, alice_agent, client_name):
    client = env.clients[client_name]
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(12)
    uri = pushed(env, client, pushed_params(state=state, challenge=challenge, scope="profile email"))
    code = code_from(env, alice_agent.authorize(by_reference(client, uri)), state)
    pairs, kwargs = authentication(env, client, audience=env.token_url)
    data = [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", REDIRECT),
            ("code_verifier", verifier)] + pairs
    response = requests.post(env.token_url, data=data, timeout=30, **kwargs)
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert tokens["token_type"].lower() == "bearer" and set(tokens["scope"].split()) == {"profile", "email"}, tokens


# -- /par: client authentication failures ------------------------------------------------------------------


def test_par_with_a_wrong_basic_secret_is_invalid_client(env):
    client = env.clients["basic"]
    response = requests.post(env.par_url, data=pushed_params(), auth=(client.client_id, "wrong-secret"), timeout=30)
    assert_par_error(response, "invalid_client", 401)
    assert response.headers.get("WWW-Authenticate", "").lower().startswith("basic"), dict(response.headers)


def test_par_with_a_wrong_posted_secret_is_invalid_client(env):
    client = env.clients["post"]
    data = dict(pushed_params(), client_id=client.client_id, client_secret="wrong-secret")
    assert_par_error(requests.post(env.par_url, data=data, timeout=30), "invalid_client", 401)


@pytest.mark.parametrize("client_name", ["basic", "post", "jwt"])
def test_a_confidential_client_sending_only_its_client_id_is_invalid_client(env, client_name):
    data = dict(pushed_params(), client_id=env.clients[client_name].client_id)
    assert_par_error(requests.post(env.par_url, data=data, timeout=30), "invalid_client", 401)


def test_an_unknown_client_is_invalid_client(env):
    data = dict(pushed_params(), client_id="no-such-client")
    assert_par_error(requests.post(env.par_url, data=data, timeout=30), "invalid_client", 401)


def test_no_client_at_all_is_refused(env):
    assert_par_error(requests.post(env.par_url, data=pushed_params(), timeout=30),
                     {"invalid_client", "invalid_request"}, {400, 401})


def test_an_assertion_signed_by_another_key_is_invalid_client(env):
    client = env.clients["jwt"]
    stranger = new_key("ES256", kid=env.key.as_dict(private=False)["kid"])
    data = dict(pushed_params(), **assertion_form(stranger, client.client_id, env.par_url))
    assert_par_error(requests.post(env.par_url, data=data, timeout=30), "invalid_client", 401)


def test_an_assertion_replayed_at_par_is_invalid_client(env):
    client = env.clients["jwt"]
    form = assertion_form(env.key, client.client_id, env.par_url)
    assert_pushed(requests.post(env.par_url, data=dict(pushed_params(), **form), timeout=30))
    assert_par_error(requests.post(env.par_url, data=dict(pushed_params(), **form), timeout=30), "invalid_client", 401)


def test_basic_for_one_client_with_another_client_id_in_the_body_is_refused(env):
    client, other = env.clients["basic"], env.clients["trusted"]
    response = requests.post(env.par_url, data=dict(pushed_params(), client_id=other.client_id), auth=client.basic, timeout=30)
    assert_par_error(response, {"invalid_request", "invalid_client"}, {400, 401})


# -- /par: what /authorize would check, answered as JSON ----------------------------------------------------


@pytest.mark.parametrize("client_name, change, errors", [
    # issue14-contract.md: an unregistered redirect_uri, or none when several are registered, is invalid_redirect_uri.
    ("public", {"redirect_uri": "https://evil.example.com/callback"}, {"invalid_redirect_uri"}),
    ("public", {"redirect_uri": "http://127.0.0.2:8765/callback"}, {"invalid_redirect_uri"}),
    ("basic", {"redirect_uri": "https://app.example.com/callback/"}, {"invalid_redirect_uri"}),
    # Two registered: redirect_uri is required.
    ("basic", {"redirect_uri": None}, {"invalid_redirect_uri"}),
    # As /authorize answers them: a missing response_type is malformed, another one unsupported.
    ("public", {"response_type": None}, {"invalid_request"}),
    ("public", {"response_type": "token"}, {"unsupported_response_type"}),
    ("public", {"response_type": "code id_token"}, {"unsupported_response_type"}),
    ("public", {"scope": "profile admin"}, {"invalid_scope"}),
    ("public", {"code_challenge": None, "code_challenge_method": None}, {"invalid_request"}),
    ("basic", {"code_challenge": None, "code_challenge_method": None}, {"invalid_request"}),
    ("public", {"code_challenge_method": "plain", "code_challenge": "a" * 43}, {"invalid_request"}),
    ("public", {"code_challenge_method": "S512"}, {"invalid_request"}),
    ("public", {"code_challenge": "abc"}, {"invalid_request"}),
    ("public", {"request_uri": PREFIX + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, {"invalid_request"}),
    ("public", {"request_uri": "https://rp.example.com/request.jwt"}, {"invalid_request"}),
    ("backend", {}, {"unauthorized_client"}),
    ("basic", {"resource": "https://evil.example.com"}, {"invalid_target"}),
    ("public", {"scope": "openid", "prompt": "bogus"}, {"invalid_request"}),
    ("public", {"scope": "openid", "prompt": "none login"}, {"invalid_request"}),
    ("public", {"scope": "openid", "max_age": "soon"}, {"invalid_request"}),
    ("public", {"scope": "openid", "nonce": "n" * 256}, {"invalid_request"}),
    ("public", {"scope": "openid", "id_token_hint": "not-an-id-token"}, {"invalid_request"}),
    ("public", {"scope": "openid", "claims": "{not json"}, {"invalid_request"}),
    ("public", {"response_mode": "fragment"}, {"invalid_request"}),
    ("public", {"dpop_jkt": "too-short"}, {"invalid_request"}),
], ids=lambda value: value if isinstance(value, str) else repr(value)[:60])
def test_par_checks_the_request_and_answers_json(env, client_name, change, errors):
    response = push(env, env.clients[client_name], **change)
    assert_par_error(response, errors)


def test_a_repeated_parameter_is_invalid_request(env):
    params = list(pushed_params(state="one").items()) + [("state", "two")]
    assert_par_error(push(env, env.clients["public"], params), "invalid_request")


# -- /authorize with a request_uri -------------------------------------------------------------------------


def test_the_full_flow_with_login_and_consent(env):
    """A fresh browser: the pushed request's login page, login, consent, a code, the token."""
    client = env.clients["public"]
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(12)
    uri = pushed(env, client, pushed_params(state=state, challenge=challenge, scope="profile email"))
    agent = UserAgent(env.server)
    first = agent.authorize(by_reference(client, uri))
    assert assert_html_page(first, 200).is_login, "no login page for the pushed request"
    code = code_from(env, walk(agent, first, env.alice, pages=["login", "consent"]), state)
    response = env.server.code_token(client, code, redirect_uri=REDIRECT, code_verifier=verifier)
    assert response.status_code == 200, response.text
    assert set(response.json()["scope"].split()) == {"profile", "email"}, response.json()


def test_query_parameters_other_than_client_id_and_request_uri_are_ignored(env, alice_agent):
    """RFC 9126 §4: only the pushed parameters count; a different state, scope, redirect_uri
    (another loopback port, which /authorize would accept), challenge, prompt and response
    mode in the query change nothing."""
    client = env.clients["trusted"]
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(12)
    uri = pushed(env, client, pushed_params(state=state, challenge=challenge, scope="profile"))
    query = by_reference(
        client, uri, state="from-the-query", scope="email offline_access", redirect_uri=OTHER_LOOPBACK,
        code_challenge=pkce_pair()[1], code_challenge_method="S256", prompt="login", response_mode="form_post",
        response_type="token",
    )
    response = alice_agent.authorize(query)
    assert response.status_code in (302, 303), (
        f"expected the code redirect of the pushed request, got {response.status_code}: {response.text[:300]!r}"
    )
    code = code_from(env, response, state)
    token = env.server.code_token(client, code, redirect_uri=REDIRECT, code_verifier=verifier)
    assert token.status_code == 200, f"the pushed code_challenge was not the one used: {token.text}"
    assert token.json()["scope"] == "profile", token.json()


def test_a_request_uri_works_with_post_to_authorize_too(env, alice_agent):
    """OpenID Connect Core §3.1.2.1: /authorize takes POST as well; client_id and request_uri in the body."""
    client = env.clients["trusted"]
    state = secrets.token_urlsafe(12)
    uri = pushed(env, client, pushed_params(state=state))
    response = alice_agent.post("/authorize", by_reference(client, uri))
    assert response.status_code == 303, f"expected 303 after a POST, got {response.status_code}: {response.text[:300]!r}"
    code_from(env, response, state)
    assert_error_page(alice_agent.post("/authorize", by_reference(client, uri)))


def test_a_pushed_response_mode_is_used(env, alice_agent):
    client = env.clients["trusted"]
    state = secrets.token_urlsafe(12)
    uri = pushed(env, client, pushed_params(state=state, response_mode="form_post"))
    response = alice_agent.authorize(by_reference(client, uri))
    page = assert_html_page(response, 200)
    form = page.form(REDIRECT)
    fields = form.hidden()
    assert fields.get("state") == state and fields.get("iss") == env.server.issuer and fields.get("code"), fields


def test_a_request_uri_is_single_use(env, alice_agent):
    client = env.clients["trusted"]
    state = secrets.token_urlsafe(12)
    uri = pushed(env, client, pushed_params(state=state))
    code_from(env, alice_agent.authorize(by_reference(client, uri)), state)
    assert_error_page(alice_agent.authorize(by_reference(client, uri)))
    # Nor does a browser that is not signed in get a login page for it.
    assert_error_page(UserAgent(env.server).authorize(by_reference(client, uri)))


@pytest.fixture(scope="module")
def twin(env) -> Server:
    """A second server of the same installation with the same issuer (scaled out)."""
    return env.warden.start_server(issuer=env.server.issuer)


def test_a_request_uri_pushed_at_one_instance_is_used_at_another_once(env, alice_agent, twin):
    client = env.clients["trusted"]
    state = secrets.token_urlsafe(12)
    uri = pushed(env, client, pushed_params(state=state))
    twin_url = twin.url("/authorize?" + urlencode(by_reference(client, uri)))
    code_from(env, alice_agent.get(twin_url), state)
    assert_error_page(alice_agent.authorize(by_reference(client, uri)))
    assert_error_page(alice_agent.get(twin_url))


def test_concurrent_uses_of_one_request_uri_give_one_code(env, alice_agent, twin):
    """PROOF-OF-POSSESSION.md: PAR identifiers are single use across instances."""
    client = env.clients["trusted"]
    state = secrets.token_urlsafe(12)
    uri = pushed(env, client, pushed_params(state=state))
    query = "/authorize?" + urlencode(by_reference(client, uri))
    urls = [(env.server if i % 2 == 0 else twin).url(query) for i in range(10)]
    cookies = alice_agent.http.cookies.get_dict()
    barrier = threading.Barrier(len(urls))

    def attempt(url: str) -> requests.Response:
        with requests.Session() as session:
            session.cookies.update(cookies)
            barrier.wait(timeout=10)
            return session.get(url, allow_redirects=False, timeout=30)

    with ThreadPoolExecutor(len(urls)) as pool:
        responses = list(pool.map(attempt, urls))
    codes = [response for response in responses if response.status_code in (302, 303)]
    assert len(codes) == 1, f"{len(codes)} redirects for one request_uri: {[r.status_code for r in responses]}"
    code_from(env, codes[0], state)
    for response in responses:
        if response is not codes[0]:
            assert_error_page(response)


def test_a_request_uri_of_another_client_gets_the_error_page(env, alice_agent):
    uri = pushed(env, env.clients["trusted"])
    assert_error_page(alice_agent.authorize(by_reference(env.clients["other"], uri)))
    assert_error_page(UserAgent(env.server).authorize(by_reference(env.clients["other"], uri)))


def test_an_unknown_request_uri_gets_the_error_page(env, alice_agent):
    uri = PREFIX + secrets.token_urlsafe(32)
    assert_error_page(alice_agent.authorize(by_reference(env.clients["trusted"], uri)))
    assert_error_page(UserAgent(env.server).authorize(by_reference(env.clients["trusted"], uri)))


def test_a_request_uri_without_client_id_gets_the_error_page(env):
    uri = pushed(env, env.clients["trusted"])
    assert_error_page(UserAgent(env.server).authorize({"request_uri": uri}))


def test_an_expired_request_uri_gets_the_error_page(env, alice_agent):
    client = env.clients["expiring"]
    uri, digest = push_and_find_row(env, client)
    expire(env, digest)
    assert_error_page(alice_agent.authorize(by_reference(client, uri)))


def test_the_login_and_consent_pages_can_be_reloaded(env):
    """The request_uri is consumed when the authorization ends, not when it is first read."""
    client = env.clients["reload"]
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(12)
    uri = pushed(env, client, pushed_params(state=state, challenge=challenge))
    agent = UserAgent(env.server)
    assert assert_html_page(agent.authorize(by_reference(client, uri)), 200).is_login
    second = agent.authorize(by_reference(client, uri))
    assert assert_html_page(second, 200).is_login, "reloading the login page of a pushed request failed"
    signed_in = agent.login(second, env.alice.username, env.alice.password)
    assert signed_in.status_code == 303, f"login answered {signed_in.status_code}: {signed_in.text[:300]!r}"
    consent = agent.follow(signed_in)
    assert assert_html_page(consent, 200).is_consent, consent.text[:300]
    again = agent.follow(signed_in)
    assert assert_html_page(again, 200).is_consent, "reloading the consent page of a pushed request failed"
    response = agent.consent(again, "allow")
    code = code_from(env, response, state)
    assert env.server.code_token(client, code, redirect_uri=REDIRECT, code_verifier=verifier).status_code == 200
    assert_error_page(agent.authorize(by_reference(client, uri)))


def test_denying_consent_consumes_the_request_uri(env):
    client = env.clients["deny"]
    state = secrets.token_urlsafe(12)
    uri = pushed(env, client, pushed_params(state=state))
    agent = UserAgent(env.server)
    response = walk(agent, agent.authorize(by_reference(client, uri)), env.alice, decision="deny", pages=["login", "consent"])
    assert_authorization_error(response, REDIRECT, "access_denied", issuer=env.server.issuer, state=state, status=303)
    assert_error_page(agent.authorize(by_reference(client, uri)))


def test_an_error_redirect_uses_the_pushed_parameters_and_consumes_the_request_uri(env):
    """prompt=none, pushed, for a browser not signed in: login_required goes back with the
    pushed state, and the request_uri is spent."""
    client = env.clients["trusted"]
    state = secrets.token_urlsafe(12)
    uri = pushed(env, client, pushed_params(state=state, scope="openid", prompt="none", nonce="n-1"))
    agent = UserAgent(env.server)
    response = agent.authorize(by_reference(client, uri))
    assert_authorization_error(response, REDIRECT, "login_required", issuer=env.server.issuer, state=state)
    assert_error_page(agent.authorize(by_reference(client, uri)))


def test_a_request_uri_that_is_not_a_pushed_one_keeps_request_uri_not_supported(env):
    client = env.clients["trusted"]
    state = secrets.token_urlsafe(12)
    params = authorization_params(client, REDIRECT, state=state, challenge=pkce_pair()[1],
                                  request_uri="https://rp.example.com/requests/1.jwt")
    response = UserAgent(env.server).authorize(params)
    assert_authorization_error(response, REDIRECT, "request_uri_not_supported", issuer=env.server.issuer, state=state)


# -- require_pushed_authorization_requests -----------------------------------------------------------------


def test_clients_json_shows_require_pushed_authorization_requests(env):
    assert env.clients["strict"].raw.get("require_pushed_authorization_requests") is True, env.clients["strict"].raw
    assert env.clients["trusted"].raw.get("require_pushed_authorization_requests") is False, env.clients["trusted"].raw


def test_a_require_par_client_must_push(env, alice_agent):
    strict = env.clients["strict"]
    state = secrets.token_urlsafe(12)
    params = authorization_params(strict, REDIRECT, state=state, challenge=pkce_pair()[1])
    assert_authorization_error(UserAgent(env.server).authorize(params), REDIRECT, "invalid_request",
                               issuer=env.server.issuer, state=state)
    assert_authorization_error(alice_agent.authorize(params), REDIRECT, "invalid_request",
                               issuer=env.server.issuer, state=state)
    # Pushed, it works.
    state = secrets.token_urlsafe(12)
    uri = pushed(env, strict, pushed_params(state=state))
    code_from(env, alice_agent.authorize(by_reference(strict, uri)), state)
    # Other clients of the same server are unaffected.
    trusted = env.clients["trusted"]
    state = secrets.token_urlsafe(12)
    code_from(env, alice_agent.authorize(authorization_params(trusted, REDIRECT, state=state, challenge=pkce_pair()[1])), state)


@pytest.fixture(scope="module")
def strict_env(tmp_path_factory):
    """A second installation with `require_pushed_authorization_requests: true`."""
    warden = Warden(tmp_path_factory.mktemp("par-required"), config={"require_pushed_authorization_requests": True})
    clients = {"app": warden.create_code_client("App", (REDIRECT,), SCOPE, extra=("--skip-consent",))}
    alice = warden.create_user("alice")
    server = warden.start_server()
    yield Env(warden, server, clients, None, alice)
    finish(warden)


def test_config_requiring_par_is_in_the_metadata(strict_env):
    for document in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
        metadata = requests.get(strict_env.url(document), timeout=10).json()
        assert metadata.get("require_pushed_authorization_requests") is True, (document, metadata)
        assert metadata.get("pushed_authorization_request_endpoint") == strict_env.server.issuer + "/par", metadata


def test_config_requiring_par_refuses_authorize_without_a_pushed_request(strict_env):
    app = strict_env.clients["app"]
    state = secrets.token_urlsafe(12)
    params = authorization_params(app, REDIRECT, state=state, challenge=pkce_pair()[1])
    assert_authorization_error(UserAgent(strict_env.server).authorize(params), REDIRECT, "invalid_request",
                               issuer=strict_env.server.issuer, state=state)
    # Pushed, the same request goes through login to a code.
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(12)
    uri = pushed(strict_env, app, pushed_params(state=state, challenge=challenge))
    agent = UserAgent(strict_env.server)
    code = code_from(strict_env, walk(agent, agent.authorize(by_reference(app, uri)), strict_env.alice, pages=["login"]), state)
    assert strict_env.server.code_token(app, code, redirect_uri=REDIRECT, code_verifier=verifier).status_code == 200


# -- storage -------------------------------------------------------------------------------------------


def test_stored_parameters_hold_no_client_secret(env):
    client = env.clients["stored"]
    pushed(env, client)
    stored = rows(env, client)
    assert stored, "no pushed_authorization_requests row for the client"
    for parameters, _, _ in stored.values():
        text = parameters.decode(errors="replace") if isinstance(parameters, bytes) else str(parameters)
        assert client.client_secret not in text, "the client secret is stored with the pushed request"
        assert "client_secret" not in text, text


def test_stored_parameters_hold_no_client_assertion(env):
    client = env.clients["stored_jwt"]
    form = assertion_form(env.key, client.client_id, env.par_url)
    assert_pushed(requests.post(env.par_url, data=dict(pushed_params(), **form), timeout=30))
    stored = rows(env, client)
    assert stored, "no pushed_authorization_requests row for the client"
    for parameters, _, _ in stored.values():
        text = parameters.decode(errors="replace") if isinstance(parameters, bytes) else str(parameters)
        assert "client_assertion" not in text, text
        assert form["client_assertion"] not in text and form["client_assertion"].split(".")[1] not in text, text


def test_expired_pushed_requests_are_purged(env):
    client = env.clients["purged"]
    _, expired = push_and_find_row(env, client)
    _, alive = push_and_find_row(env, client)
    expire(env, expired)
    wait_until(lambda: expired not in rows(env, client), timeout=6,
               message="an expired pushed request was not purged within 6 s")
    assert alive in rows(env, client), "a pushed request that has not expired was purged"


# -- DPoP at /par (RFC 9449 §10.1) ---------------------------------------------------------------------


def test_a_dpop_proof_of_another_key_than_dpop_jkt_is_invalid_dpop_proof(env):
    client = env.clients["trusted"]
    bound, other = new_key("ES256", kid=None), new_key("ES256", kid=None)
    response = push(env, client, dpop=dpop_proof(other, "POST", env.par_url), dpop_jkt=thumbprint(bound))
    assert_par_error(response, "invalid_dpop_proof")
    # The same key in both: accepted.
    pushed(env, client, dpop=dpop_proof(bound, "POST", env.par_url), dpop_jkt=thumbprint(bound))


def test_a_bad_dpop_proof_at_par_is_invalid_dpop_proof(env):
    key = new_key("ES256", kid=None)
    response = push(env, env.clients["trusted"], dpop=dpop_proof(key, "POST", env.token_url))  # htu of another endpoint
    assert_par_error(response, "invalid_dpop_proof")


def test_two_dpop_headers_at_par_are_invalid_dpop_proof(env):
    client = env.clients["trusted"]
    key = new_key("ES256", kid=None)
    body = urlencode(dict(pushed_params(), client_id=client.client_id)).encode()
    connection = http.client.HTTPConnection("127.0.0.1", env.server.port, timeout=30)
    try:
        connection.putrequest("POST", "/par")
        connection.putheader("Content-Type", FORM)
        connection.putheader("Content-Length", str(len(body)))
        for _ in range(2):
            connection.putheader("DPoP", dpop_proof(key, "POST", env.par_url))
        connection.endheaders(body)
        answer = connection.getresponse()
        status, content_type, payload = answer.status, answer.getheader("Content-Type", ""), answer.read()
    finally:
        connection.close()
    assert status == 400 and content_type.startswith("application/json"), (status, content_type, payload[:300])
    assert json.loads(payload)["error"] == "invalid_dpop_proof", payload


def test_a_dpop_proof_alone_binds_the_code_to_its_key(env, alice_agent):
    client = env.clients["trusted"]
    key, other = new_key("ES256", kid=None), new_key("ES256", kid=None)

    def code_bound_to_key() -> tuple[str, str]:
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(12)
        uri = pushed(env, client, pushed_params(state=state, challenge=challenge), dpop=dpop_proof(key, "POST", env.par_url))
        return code_from(env, alice_agent.authorize(by_reference(client, uri)), state), verifier

    def redeem(code: str, verifier: str, proof_key) -> requests.Response:
        headers = {"DPoP": dpop_proof(proof_key, "POST", env.token_url)} if proof_key is not None else {}
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier,
                "client_id": client.client_id}
        return requests.post(env.token_url, data=data, headers=headers, timeout=30)

    code, verifier = code_bound_to_key()
    assert_par_error(redeem(code, verifier, None), "invalid_grant")
    code, verifier = code_bound_to_key()
    assert_par_error(redeem(code, verifier, other), "invalid_grant")
    code, verifier = code_bound_to_key()
    response = redeem(code, verifier, key)
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "DPoP", response.json()


# -- HTTP edges -------------------------------------------------------------------------------------------


def test_get_par_is_405_with_allow_post(env):
    for method in ("GET", "PUT"):
        response = requests.request(method, env.par_url, timeout=10)
        assert response.status_code == 405, (method, response.status_code, response.text[:300])
        assert response.headers.get("Allow") == "POST", (method, dict(response.headers))
        assert response.json()["error"] == "invalid_request", response.text


def test_an_oversized_body_is_refused_as_at_token(env):
    """PROOF-OF-POSSESSION.md: the body limits of the existing endpoints (64 KiB). The
    answer must match what /token answers for the same size (today 400 invalid_request)."""
    client = env.clients["public"]
    body = urlencode(dict(pushed_params(), client_id=client.client_id)) + "&padding="
    body = body.encode() + b"a" * (64 * 1024 + 1 - len(body))
    headers = {"Content-Type": FORM}
    at_token = requests.post(env.token_url, data=b"grant_type=client_credentials&padding=" + b"a" * (64 * 1024), headers=headers,
                             timeout=30)
    response = requests.post(env.par_url, data=body, headers=headers, timeout=30)
    assert response.status_code in (400, 413), (response.status_code, response.text[:300])
    assert response.status_code == at_token.status_code, (
        f"/par answered {response.status_code}, /token {at_token.status_code} for a body over 64 KiB"
    )
    assert_par_error(response, "invalid_request", response.status_code)
    assert env.server.healthy()


def test_a_json_body_is_refused(env):
    client = env.clients["public"]
    response = requests.post(env.par_url, json=dict(pushed_params(), client_id=client.client_id), timeout=30)
    assert_par_error(response, {"invalid_request", "invalid_client"}, {400, 401})


# -- a third-party client: requests-oauth2client 1.8.0 --------------------------------------------------------


@pytest.mark.parametrize("variant", ["client_secret_post", "private_key_jwt", "dpop"])
def test_requests_oauth2client_pushes_signs_in_and_redeems(env, variant):
    from jwskate import Jwk
    from requests_oauth2client import BearerToken, DPoPToken, OAuth2Client, PrivateKeyJwt

    if variant == "private_key_jwt":
        client = env.clients["rp_jwt"]
        private = Jwk(dict(env.key.as_dict(private=True), alg="ES256"))
        auth = PrivateKeyJwt(client.client_id, private)  # aud: the URL of each endpoint
    else:
        client = env.clients["rp_post" if variant == "client_secret_post" else "rp_dpop"]
        auth = (client.client_id, client.client_secret)  # client_secret_post, its default
    oauth = OAuth2Client.from_discovery_endpoint(issuer=env.server.issuer, auth=auth, testing=True)
    assert oauth.pushed_authorization_request_endpoint == env.par_url
    ar = oauth.authorization_request(scope="openid profile", redirect_uri=REDIRECT, dpop=(variant == "dpop"))
    par = oauth.pushed_authorization_request(ar)
    assert par.request_uri.startswith(PREFIX), par.request_uri

    agent = UserAgent(env.server)
    response = walk(agent, agent.get(par.uri), env.alice, pages=["login", "consent"])
    location = redirect_target(response)
    assert location.startswith(REDIRECT + "?"), location
    azr = ar.validate_callback(location)  # state and iss
    # The ID token is validated: signature (JWKS from discovery), iss, aud, azp, exp, nonce, at_hash.
    token = oauth.authorization_code(azr, validate=variant != "dpop")
    assert token.access_token and token.id_token is not None, token
    if variant == "dpop":
        assert isinstance(token, DPoPToken) and token.token_type == "DPoP", token
        # requests-oauth2client 1.8.0 cannot rebuild a DPoPToken after validating its ID token
        # (TypeError: DPoPToken.__init__() missing '_dpop_key'): the same checks on a Bearer copy.
        id_token = BearerToken(access_token=token.access_token, id_token=str(token.id_token)).validate_id_token(oauth, azr).id_token
    else:
        assert token.token_type.lower() == "bearer", token
        id_token = token.id_token
    assert id_token.claims["nonce"] == ar.nonce, "the pushed nonce is not the ID token's"
    assert id_token.claims["sub"] == env.alice.id
