"""OpenID Connect sign-in (shared/design/OPENID.md): discovery, ID tokens, UserInfo, the
OpenID authorization request parameters (nonce, prompt, max_age, login_hint, id_token_hint,
claims, response_mode=form_post, request/request_uri) and the users' profile CLI.

Relying-party libraries nobody here wrote sign a person in through headless Chromium and
validate the ID token from discovery and the JWKS alone: Authlib's OpenID client (the code
Authlib's Flask and Django integrations run: metadata, PKCE S256, nonce, then
`parse_id_token` with `CodeIDToken`, which checks signature, iss, aud, azp, exp, nonce and
at_hash) and idpyoidc's `RPHandler` (discovery, authorization request, token request with the
ID token's signature, iss, aud, exp and nonce checked, UserInfo with the `sub` compared).
idpyoidc does not check `at_hash` for the code flow, so the test computes it.

The rest drives the flow with `interop.UserAgent` (a cookie-keeping HTTP client that never
follows a redirect by itself) and reads the redirect's query, or the form_post page. The Authlib
sign-in and the UserInfo claims run on SQLite and on PostgreSQL.

Screenshots of the form_post page (JavaScript off, so it stays on screen) go to
Tests/Interop/artifacts/. Chromium and chromedriver are required: without them these tests fail.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from interop import (
    Client,
    Page,
    RedirectCatcher,
    Server,
    User,
    UserAgent,
    Warden,
    assert_authorization_error,
    assert_html_page,
    assert_oauth_error,
    assert_one_line_failure,
    assert_redirect_to,
    authorization_params,
    csp_directives,
    finish,
    headless_chromium,
    jwt_claims_unverified,
    jwt_header,
    pkce_pair,
    query_params,
    redirect_target,
    wait_until,
)

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

#: What the OpenID clients here registered.
OIDC_SCOPE = "openid profile email offline_access"
API = "https://api.example.com"
#: OPENID.md: the default `id_token_lifetime`.
DEFAULT_ID_TOKEN_LIFETIME = 3600
#: The `id_token_lifetime` of the second installation (`short_op`), whose ID tokens expire
#: during the module: an expired ID token is still a good `id_token_hint`.
SHORT_ID_TOKEN_LIFETIME = 2
#: A state that must survive query encoding and HTML escaping exactly.
STATE = 'st "<b>&amp; ~!*\'();:@=+$,/?#[]é'

ALICE_PROFILE = {
    "name": "Alice Liddell-Hargreaves",
    "given_name": "Alice",
    "family_name": "Liddell-Hargreaves",
    "email": "alice@example.com",
    "email_verified": True,
}
ALICE_OPTIONS = (
    "--name", ALICE_PROFILE["name"], "--given-name", ALICE_PROFILE["given_name"],
    "--family-name", ALICE_PROFILE["family_name"], "--email", ALICE_PROFILE["email"], "--email-verified",
)
PROFILE_CLAIMS = {"name", "given_name", "family_name", "preferred_username", "updated_at"}
EMAIL_CLAIMS = {"email", "email_verified"}
#: OpenID Connect Core §3.1.3.6: the hash for at_hash follows the ID token's alg.
AT_HASH_DIGESTS = {"RS256": hashlib.sha256, "ES256": hashlib.sha256, "PS256": hashlib.sha256, "EdDSA": hashlib.sha512}
#: Every printable ASCII character (OPENID.md: a nonce is any printable value up to 255 characters).
PRINTABLE = "".join(chr(code) for code in range(0x20, 0x7F))


# -- installations ------------------------------------------------------------------------------


@dataclass
class Provider:
    """One Warden installation serving OpenID Connect, with its clients and users."""

    warden: Warden
    server: Server
    clients: dict[str, Client]
    users: dict[str, User]
    agents: dict[str, UserAgent] = field(default_factory=dict)

    @property
    def issuer(self) -> str:
        return self.server.issuer

    def agent(self, username: str) -> UserAgent:
        """A browser in which `username` signed in once (kept for the module)."""
        if username not in self.agents:
            agent = UserAgent(self.server)
            sign_in(self, agent, self.clients["trusted"], self.users[username], scope="openid")
            self.agents[username] = agent
        return self.agents[username]


def provision(warden: Warden, redirect_uri: str, *, everything: bool = False) -> Provider:
    """Starts a server for `warden` and registers the clients and users the tests use
    (`everything`: the whole set of the main installation, else what the backend tests need)."""
    server = warden.start_server()
    create = warden.create_code_client
    clients = {
        # Consent asked (the usual third-party relying party), public, PKCE.
        "rp": create("Photo Book", (redirect_uri,), OIDC_SCOPE),
        # First-party: no consent page.
        "trusted": create("Trusted App", (redirect_uri,), OIDC_SCOPE, extra=("--skip-consent",)),
        "introspector": warden.create_client(name="resource server", scope="", audiences=(), auth_method="client_secret_post"),
    }
    if everything:
        clients.update({
            # Confidential (client_secret_basic), with an audience: idpyoidc's client.
            "web": create("Web Portal", (redirect_uri,), OIDC_SCOPE, public=False, audiences=(API,)),
            "es256": create("ES256 App", (redirect_uri,), OIDC_SCOPE,
                            extra=("--skip-consent", "--id-token-signed-response-alg", "ES256")),
            "eddsa": create("EdDSA App", (redirect_uri,), OIDC_SCOPE,
                            extra=("--skip-consent", "--id-token-signed-response-alg", "EdDSA")),
            # Plain OAuth: openid is not in its registered scope.
            "plain": create("Plain OAuth App", (redirect_uri,), "profile email"),
            # Alice never consents to it (prompt=none must answer consent_required).
            "unconsented": create("Never Allowed App", (redirect_uri,), OIDC_SCOPE),
            # Both the code flow (openid registered) and client credentials.
            "hybrid": create("Hybrid Backend", (redirect_uri,), "openid profile api:read", public=False, audiences=(API,),
                             grant_types=("authorization_code", "refresh_token", "client_credentials")),
        })
    users = {
        "alice": warden.create_user("alice", extra=ALICE_OPTIONS),
        "bob": warden.create_user("bob"),  # no profile at all
    }
    for client in clients.values():
        wait_until(lambda: server.code_token(client, "x").status_code != 401,
                   message="clients created with the CLI did not reach the server")
    return Provider(warden, server, clients, users)


@pytest.fixture(scope="module")
def catcher():
    listener = RedirectCatcher()
    yield listener
    listener.close()


@pytest.fixture(scope="module")
def op(module_warden, catcher) -> Provider:
    """The main installation (SQLite)."""
    return provision(module_warden, catcher.redirect_uri, everything=True)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def provider(request, catcher, tmp_path_factory):
    """The installation on each storage backend: SQLite (the main one) and PostgreSQL."""
    if request.param == "sqlite":
        yield request.getfixturevalue("op")
        return
    from postgres import tables

    cluster = request.getfixturevalue("postgres")
    url = cluster.create_database("oidc")
    installation = Warden(tmp_path_factory.mktemp("oidc-postgres"), database_url=url)
    try:
        provider = provision(installation, catcher.redirect_uri)
        assert tables(url), "the server started, yet the PostgreSQL database has no tables"
        assert not installation.database.exists(), f"a SQLite file appeared: {installation.database}"
        yield provider
    finally:
        finish(installation)
        cluster.drop_database(url)


@pytest.fixture(scope="module")
def short_op(tmp_path_factory, catcher):
    """A second installation (another issuer, other keys) whose ID tokens live 2 seconds."""
    installation = Warden(tmp_path_factory.mktemp("short-id-tokens"), config={"id_token_lifetime": SHORT_ID_TOKEN_LIFETIME})
    yield provision(installation, catcher.redirect_uri)
    finish(installation)


@pytest.fixture(scope="module")
def short_sign_in(short_op):
    """Alice signed in at `short_op`: (her browser there, the sign-in)."""
    agent = UserAgent(short_op.server)
    return agent, sign_in(short_op, agent, short_op.clients["trusted"], short_op.users["alice"], scope="openid")


@pytest.fixture(scope="module")
def twin_id_token(op) -> str:
    """An ID token for alice from a second server of the main installation with another
    issuer: the same keys sign it, so only `iss` tells it from one of the main server's."""
    twin = op.warden.start_server()
    try:
        assert twin.issuer != op.issuer
        twin_provider = Provider(op.warden, twin, op.clients, op.users)
        result = sign_in(twin_provider, UserAgent(twin), op.clients["trusted"], op.users["alice"])
        assert result.claims["iss"] == twin.issuer
        verify_id_token(twin_provider, op.clients["trusted"], result.id_token)  # a good signature, from the same JWKS
        assert jwt_header(result.id_token)["kid"] in op.server.jwks_kids()
        return result.id_token
    finally:
        assert twin.stop() == 0


@pytest.fixture(scope="module")
def alice(op) -> User:
    return op.users["alice"]


@pytest.fixture(scope="module")
def bob(op) -> User:
    return op.users["bob"]


@pytest.fixture(scope="module")
def alice_agent(op) -> UserAgent:
    """Alice's browser at the main installation, signed in (kept for the module)."""
    return op.agent("alice")


# -- the flow without a browser ------------------------------------------------------------------


@dataclass
class Walk:
    """Where /authorize led: the last response (a redirect off the server, the form_post page
    or an error page) and the pages shown on the way ("login", "consent")."""

    response: requests.Response
    pages: list[str]


def walk(agent: UserAgent, params: dict, user: User | None, *, decision: str = "allow") -> Walk:
    """Follows /authorize through the login page (signing `user` in) and the consent page
    (answering `decision`; a form_post response is a 200 page), following redirects on the
    server, until a response that is not one of those pages nor a redirect to the server."""
    return Walk(*agent.walk(agent.authorize(params), user, decision=decision, consent_statuses=(200, 303)))


def redirect_uri_of(client: Client) -> str:
    return client.raw["redirect_uris"][0]


def authorize(
    provider: Provider, agent: UserAgent, client: Client, user: User | None, *,
    scope: str = "openid", pages: list[str] | None = None, **extra,
) -> tuple[str, str, Walk]:
    """A code through /authorize with a fresh S256 challenge and state (`extra`: more
    parameters, None ones left out); checks state and iss, and the pages shown when `pages`
    is given. Returns (code, verifier, walk)."""
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(12)
    redirect_uri = redirect_uri_of(client)
    params = authorization_params(client, redirect_uri, scope=scope, state=state, challenge=challenge, **extra)
    result = walk(agent, params, user)
    if pages is not None:
        assert result.pages == pages, f"pages shown: {result.pages}, expected {pages}"
    query = assert_redirect_to(result.response, redirect_uri)
    assert "error" not in query and "code" in query, query
    assert query.get("state") == state and query.get("iss") == provider.issuer, query
    return query["code"], verifier, result


@dataclass
class SignIn:
    tokens: dict
    nonce: str | None
    walk: Walk

    @property
    def id_token(self) -> str:
        assert "id_token" in self.tokens, f"no id_token in {sorted(self.tokens)}"
        return self.tokens["id_token"]

    @property
    def access_token(self) -> str:
        return self.tokens["access_token"]

    @property
    def refresh_token(self) -> str:
        assert "refresh_token" in self.tokens, f"no refresh_token in {sorted(self.tokens)}"
        return self.tokens["refresh_token"]

    @property
    def claims(self) -> dict:
        """The ID token's claims, unverified (verify_id_token checks them)."""
        return jwt_claims_unverified(self.id_token)


_FRESH = object()


def sign_in(
    provider: Provider, agent: UserAgent, client: Client, user: User | None, *,
    scope: str = "openid", nonce=_FRESH, pages: list[str] | None = None, **extra,
) -> SignIn:
    """The code flow to the token response (a fresh nonce unless one, or None, is given)."""
    if nonce is _FRESH:
        nonce = secrets.token_urlsafe(16)
    code, verifier, result = authorize(provider, agent, client, user, scope=scope, pages=pages, nonce=nonce, **extra)
    response = provider.server.code_token(client, code, redirect_uri=redirect_uri_of(client), code_verifier=verifier)
    assert response.status_code == 200, response.text
    assert "no-store" in response.headers.get("Cache-Control", ""), response.headers
    tokens = response.json()
    assert tokens["token_type"].lower() == "bearer", tokens
    return SignIn(tokens, nonce, result)


def refresh(provider: Provider, client: Client, refresh_token: str) -> dict:
    response = provider.server.refresh(client, refresh_token)
    assert response.status_code == 200, response.text
    return response.json()


def fresh_params(provider: Provider, client: Client, *, scope: str = "openid", state: str = STATE, **extra) -> dict:
    """/authorize parameters with a fresh S256 challenge."""
    return authorization_params(client, redirect_uri_of(client), scope=scope, state=state, challenge=pkce_pair()[1], **extra)


def long_state() -> str:
    """A fresh state of 128 characters (the conformance suite's length), with characters that
    need encoding in a query or a form body and escaping in HTML."""
    suffix = ' "<&>+/?#%=é'
    state = secrets.token_urlsafe(96)[: 128 - len(suffix)] + suffix
    assert len(state) == 128
    return state


def post_authorize(agent: UserAgent, params: dict | str, *, content_type: str | None = "application/x-www-form-urlencoded",
                   **kwargs) -> requests.Response:
    """POST /authorize with the request in the body and nothing in the query (OIDC Core
    §3.1.2.1): `params` form-encoded, or a string or bytes sent as they are, as `content_type`
    (None: no Content-Type header)."""
    body = urlencode(params) if isinstance(params, dict) else params
    headers = {"Content-Type": content_type} if content_type is not None else {}
    response = agent.post("/authorize", body, headers=headers, **kwargs)
    assert response.request.method == "POST" and response.request.url == agent.server.url("/authorize"), response.request.url
    return response


def assert_redirected_error(provider: Provider, response: requests.Response, client: Client, error: str, state: str = STATE) -> dict:
    return assert_authorization_error(response, redirect_uri_of(client), error, issuer=provider.issuer, state=state)


def wait_past(seconds: int | float) -> None:
    """Sleeps until the clock is past `seconds` (so that a new whole-second time is later)."""
    remaining = seconds - time.time()
    if remaining > 0:
        time.sleep(remaining)


# -- ID tokens -------------------------------------------------------------------------------------


def discovery(server: Server) -> dict:
    response = requests.get(server.url("/.well-known/openid-configuration"), timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers.get("Content-Type", "").split(";")[0].strip() == "application/json", response.headers
    return response.json()


def half_hash(value: str, algorithm: str) -> str:
    """at_hash: base64url of the left half of the hash of the ASCII value (Core §3.1.3.6)."""
    digest = AT_HASH_DIGESTS[algorithm](value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


def verify_id_token(provider: Provider, client: Client, token: str, *, algorithm: str = "RS256") -> tuple[dict, dict]:
    """Verifies an ID token as a relying party does, knowing only the issuer: discovery, the
    JWKS, the key by kid; joserfc and PyJWT must agree. Returns (header, claims)."""
    import jwt as pyjwt
    from joserfc import jwt
    from joserfc.jwk import KeySet
    from joserfc.jwt import JWTClaimsRegistry

    metadata = discovery(provider.server)
    assert metadata["issuer"] == provider.issuer
    jwks = requests.get(metadata["jwks_uri"], timeout=10).json()
    header = jwt_header(token)
    assert header.get("typ") == "JWT", f"an ID token is typ JWT (never at+jwt): {header}"
    assert header.get("alg") == algorithm, header
    assert header.get("kid") in {key["kid"] for key in jwks["keys"]}, (header, jwks)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="EdDSA is deprecated")
        decoded = jwt.decode(token, KeySet.import_key_set(jwks), algorithms=[algorithm])
    JWTClaimsRegistry(
        leeway=5,
        iss={"essential": True, "value": provider.issuer},
        aud={"essential": True, "value": client.client_id},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
    ).validate(decoded.claims)
    signing_key = pyjwt.PyJWKClient(metadata["jwks_uri"], cache_jwk_set=False, timeout=10).get_signing_key_from_jwt(token)
    claims = pyjwt.decode(
        token, signing_key.key, algorithms=[algorithm], audience=client.client_id, issuer=provider.issuer, leeway=5,
        options={"require": ["exp", "iat", "iss", "aud", "sub"]},
    )
    assert claims == decoded.claims
    for name in ("iat", "exp", "auth_time"):
        assert type(claims.get(name)) is int, f"{name} must be an integer NumericDate: {claims}"
    assert claims["aud"] in (client.client_id, [client.client_id]), claims
    assert claims.get("azp") == client.client_id, claims
    return header, claims


def assert_sign_in_claims(provider: Provider, client: Client, user: User, result: SignIn, *, algorithm: str = "RS256") -> dict:
    """The ID token of a fresh sign-in: verified, and every claim OPENID.md lists."""
    _, claims = verify_id_token(provider, client, result.id_token, algorithm=algorithm)
    now = time.time()
    assert claims["iss"] == provider.issuer and claims["sub"] == user.id, claims
    assert abs(claims["iat"] - now) < 60, claims
    assert claims["auth_time"] <= claims["iat"], claims
    assert claims.get("nonce") == result.nonce, claims
    assert claims.get("at_hash") == half_hash(result.access_token, algorithm), claims
    assert isinstance(claims.get("sid"), str) and claims["sid"], claims
    assert claims.get("amr") == ["pwd"], claims
    return claims


# -- UserInfo ----------------------------------------------------------------------------------------


def userinfo(server: Server, token: str | None = None, *, method: str = "GET", form: dict | None = None,
             headers: dict | None = None, origin: str | None = None) -> requests.Response:
    """GET or POST /userinfo with `token` as a Bearer header (when given)."""
    headers = dict(headers or {})
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if origin is not None:
        headers["Origin"] = origin
    if method == "GET":
        return requests.get(server.url("/userinfo"), headers=headers, timeout=10)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    return requests.post(server.url("/userinfo"), data=urlencode(form or {}), headers=headers, timeout=10)


def refused_userinfo(server: Server, token: str) -> requests.Response:
    """Waits (CLI changes reach the server within seconds) until UserInfo refuses `token`."""
    return wait_until(lambda: (lambda response: response if response.status_code != 200 else None)(userinfo(server, token)),
                      message="UserInfo still answers with the token")


def userinfo_claims(response: requests.Response) -> dict:
    assert response.status_code == 200, f"{response.status_code} {response.headers.get('WWW-Authenticate')} {response.text!r}"
    assert response.headers.get("Content-Type", "").split(";")[0].strip() == "application/json", response.headers
    assert "no-store" in response.headers.get("Cache-Control", ""), response.headers
    body = response.json()
    nothing = {name: value for name, value in body.items() if value is None or value == ""}
    assert not nothing, f"unset attributes must be absent, not null or empty: {nothing}"
    return body


def bearer_challenge(response: requests.Response) -> dict[str, str]:
    """The parameters of the response's `WWW-Authenticate: Bearer ...` (RFC 6750 §3)."""
    header = response.headers.get("WWW-Authenticate", "")
    scheme, _, rest = header.strip().partition(" ")
    assert scheme.lower() == "bearer", f"expected a Bearer challenge, got {header!r}"
    return dict(re.findall(r'([A-Za-z_]+)\s*=\s*"([^"]*)"', rest))


def assert_userinfo_error(response: requests.Response, status: int, error: str) -> dict[str, str]:
    assert response.status_code == status, (
        f"expected {status}, got {response.status_code} {response.headers.get('WWW-Authenticate')!r} {response.text!r}")
    challenge = bearer_challenge(response)
    assert challenge.get("error") == error, challenge
    assert challenge.get("realm", "warden") == "warden", challenge
    return challenge


def expected_userinfo(user: User, scope: str, profile: dict | None) -> dict:
    """What UserInfo returns for `scope` (OPENID.md "Claims by scope"), `updated_at` aside."""
    profile = profile or {}
    scopes = scope.split()
    expected = {"sub": user.id}
    if "profile" in scopes:
        expected["preferred_username"] = user.username
        expected.update({name: profile[name] for name in ("name", "given_name", "family_name") if name in profile})
    if "email" in scopes and "email" in profile:
        expected.update({name: profile[name] for name in ("email", "email_verified")})
    return expected


def without_updated_at(body: dict) -> dict:
    if "updated_at" in body:
        assert type(body["updated_at"]) is int and abs(body["updated_at"] - time.time()) < 86400, body
    return {name: value for name, value in body.items() if name != "updated_at"}


# -- the browser ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def driver():
    browser = headless_chromium(browser_log=True)
    yield browser
    browser.quit()


@pytest.fixture
def browser(driver, catcher):
    """The shared Chromium, logged out (cookies are per host, not per port: the installations
    share 127.0.0.1), with JavaScript on and an empty listener."""
    driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
    driver.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": False})
    driver.set_window_size(1280, 900)
    driver.get_log("browser")
    catcher.drain()
    return driver


def log_in(browser, user: User) -> None:
    WebDriverWait(browser, 15).until(lambda b: b.find_elements(By.CSS_SELECTOR, "form[action='/login']"))
    browser.find_element(By.ID, "username").clear()
    browser.find_element(By.ID, "username").send_keys(user.username)
    browser.find_element(By.ID, "password").send_keys(user.password)
    browser.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type=submit]").click()


def is_consent_page(browser) -> bool:
    return bool(browser.find_elements(By.CSS_SELECTOR, "form[action='/consent']"))


def signed_in_in_browser(browser, catcher: RedirectCatcher, user: User) -> dict:
    """From the login page: sign in, allow if asked, and return what reached the listener."""
    log_in(browser, user)
    WebDriverWait(browser, 15, ignored_exceptions=(WebDriverException,)).until(
        lambda b: b.current_url.startswith(catcher.redirect_uri) or is_consent_page(b))
    if is_consent_page(browser):
        browser.find_element(By.CSS_SELECTOR, "button[name=decision][value=allow]").click()
    WebDriverWait(browser, 15).until(lambda b: b.current_url.startswith(catcher.redirect_uri))
    return catcher.wait()


def csp_problems(browser) -> list[str]:
    return [entry["message"] for entry in browser.get_log("browser")
            if "Content Security Policy" in entry["message"] or "Refused" in entry["message"]]


def screenshots(browser, name: str) -> None:
    """The page at desktop width and at 390 px (a phone), saved for a person to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    for width, height, suffix in ((1280, 900, "desktop"), (390, 844, "390px")):
        browser.set_window_size(width, height)
        assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth"), (
            f"{name} scrolls sideways at {width} px")
        path = ARTIFACTS / f"{name}-{suffix}.png"
        assert browser.save_screenshot(str(path)), f"could not save {path}"
    browser.set_window_size(1280, 900)


# == 1. relying-party libraries in a real browser ====================================================


def authlib_relying_party(provider: Provider, client: Client, scope: str = "openid profile email"):
    """Authlib's OpenID client as its Flask and Django integrations assemble it (OAuth2Mixin +
    OpenIDMixin over a requests OAuth2Session), configured with the discovery URL only."""
    from authlib.integrations.base_client import BaseApp, OAuth2Mixin, OpenIDMixin
    from authlib.integrations.requests_client import OAuth2Session

    class RelyingParty(OAuth2Mixin, OpenIDMixin, BaseApp):
        client_cls = OAuth2Session

    return RelyingParty(
        None, name="warden", client_id=client.client_id, client_secret=client.client_secret,
        server_metadata_url=provider.issuer + "/.well-known/openid-configuration",
        client_kwargs={"scope": scope, "code_challenge_method": "S256", "token_endpoint_auth_method": client.auth_method},
    )


def test_authlib_signs_in_through_chromium_and_validates_the_id_token(provider, browser, catcher):
    alice, client = provider.users["alice"], provider.clients["rp"]
    relying_party = authlib_relying_party(provider, client)
    start = relying_party.create_authorization_url(catcher.redirect_uri)
    query = query_params(start["url"])
    assert query.get("nonce") == start["nonce"] and query.get("code_challenge_method") == "S256", start["url"]
    browser.get(start["url"])
    callback = signed_in_in_browser(browser, catcher, alice)["query"]
    assert callback.get("state") == start["state"] and callback.get("iss") == provider.issuer, callback
    assert "code" in callback and "error" not in callback, callback

    token = relying_party.fetch_access_token(catcher.redirect_uri, code=callback["code"], code_verifier=start["code_verifier"])
    assert token.get("id_token"), token
    # Authlib: metadata, then jwks_uri, the key by kid, the algorithms the metadata lists;
    # CodeIDToken checks iss, aud, azp, exp, iat, nonce and at_hash.
    identity = relying_party.parse_id_token(
        token, start["nonce"], leeway=5,
        claims_options={"iss": {"essential": True, "value": provider.issuer},
                        "aud": {"essential": True, "value": client.client_id}},
    )
    assert identity["sub"] == alice.id and identity["nonce"] == start["nonce"], dict(identity)
    assert identity["at_hash"] == half_hash(token["access_token"], "RS256")
    # And the same token by hand, from discovery and the JWKS alone.
    header, claims = verify_id_token(provider, client, token["id_token"])
    assert header["alg"] == "RS256"
    assert claims["amr"] == ["pwd"] and claims["sid"]
    assert not (set(claims) & (PROFILE_CLAIMS | EMAIL_CLAIMS)), f"scope claims belong to UserInfo: {claims}"
    # UserInfo through Authlib, with the access token.
    info = relying_party.userinfo(token=token)
    assert without_updated_at(dict(info)) == expected_userinfo(alice, "openid profile email", ALICE_PROFILE)


def test_idpyoidc_signs_in_through_chromium(op, browser, catcher, alice):
    from cryptojwt.key_jar import KeyJar
    from idpyoidc.client.rp_handler import RPHandler

    client = op.clients["web"]
    assert client.auth_method == "client_secret_basic"
    config = {
        "issuer": op.issuer,
        "client_id": client.client_id,
        "client_secret": client.client_secret,
        "redirect_uris": [catcher.redirect_uri],
        "client_type": "oidc",
        "preference": {
            "response_types": ["code"], "scope": ["openid", "profile", "email"],
            "token_endpoint_auth_method": "client_secret_basic",
        },
        "add_ons": {"pkce": {"function": "idpyoidc.client.oauth2.add_on.pkce.add_support",
                             "kwargs": {"code_challenge_length": 64, "code_challenge_method": "S256"}}},
    }
    handler = RPHandler(base_url=f"http://127.0.0.1:{catcher.port}", client_configs={op.issuer: config}, keyjar=KeyJar(),
                        httpc_params={"timeout": 10})
    # Discovery (the issuer in the document must be the one asked for), then the request.
    url = handler.begin(issuer_id=op.issuer, req_args={"scope": ["openid", "profile", "email"]})
    assert url.startswith(op.issuer + "/authorize?"), url
    browser.get(url)
    callback = signed_in_in_browser(browser, catcher, alice)["query"]
    assert callback.get("iss") == op.issuer, callback
    # The token request (PKCE verifier, Basic), the ID token verified (signature from the
    # JWKS, iss, aud, exp, iat, nonce bound to the state), then UserInfo (sub compared).
    result = handler.finalize(op.issuer, callback)
    assert "error" not in result, result
    id_token = result["id_token"]
    assert id_token["sub"] == alice.id and id_token["iss"] == op.issuer, id_token.to_dict()
    assert id_token["nonce"], id_token.to_dict()
    assert id_token["at_hash"] == half_hash(result["token"], "RS256"), "idpyoidc does not check at_hash: checked here"
    info = result["userinfo"].to_dict()
    assert without_updated_at(info) == expected_userinfo(alice, "openid profile email", ALICE_PROFILE), info


# == 2. discovery =====================================================================================


def test_openid_configuration_has_the_required_fields(op):
    metadata = discovery(op.server)
    issuer = op.issuer
    # OIDC Discovery §3 REQUIRED.
    for name in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri", "response_types_supported",
                 "subject_types_supported", "id_token_signing_alg_values_supported"):
        assert name in metadata, f"{name} missing: {sorted(metadata)}"
    assert metadata["issuer"] == issuer
    assert metadata["authorization_endpoint"] == issuer + "/authorize"
    assert metadata["token_endpoint"] == issuer + "/token"
    assert metadata["jwks_uri"] == issuer + "/.well-known/jwks.json"
    assert metadata["userinfo_endpoint"] == issuer + "/userinfo"
    assert metadata["end_session_endpoint"] == issuer + "/logout"
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["subject_types_supported"] == ["public"]
    algorithms = metadata["id_token_signing_alg_values_supported"]
    assert "RS256" in algorithms and not ({"none", "HS256", "HS384", "HS512"} & set(algorithms)), algorithms
    assert set(metadata["response_modes_supported"]) == {"query", "form_post"}, metadata["response_modes_supported"]
    assert {"sub", *PROFILE_CLAIMS, *EMAIL_CLAIMS} <= set(metadata["claims_supported"]), metadata["claims_supported"]
    assert metadata["claims_parameter_supported"] is True
    assert metadata["request_parameter_supported"] is False
    # Discovery §3: request_uri_parameter_supported defaults to true when omitted.
    assert metadata.get("request_uri_parameter_supported") is False, "request_uri is refused, so it must say false"
    assert metadata["backchannel_logout_supported"] is True
    assert metadata["backchannel_logout_session_supported"] is True
    assert {"openid", "profile", "email", "offline_access"} <= set(metadata["scopes_supported"])
    assert {"authorization_code", "refresh_token"} <= set(metadata["grant_types_supported"])
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["authorization_response_iss_parameter_supported"] is True


def test_oauth_metadata_has_the_same_values(op):
    openid = discovery(op.server)
    oauth = op.server.metadata()
    assert oauth == openid, {
        name: (oauth.get(name), openid.get(name)) for name in set(oauth) | set(openid) if oauth.get(name) != openid.get(name)
    }


def test_cors_on_discovery_jwks_and_userinfo(op, alice_agent, alice):
    token = sign_in(op, alice_agent, op.clients["trusted"], alice).access_token
    origin = "https://spa.example.com"
    responses = {
        "openid-configuration": requests.get(op.server.url("/.well-known/openid-configuration"), headers={"Origin": origin}, timeout=10),
        "oauth-authorization-server": requests.get(op.server.url("/.well-known/oauth-authorization-server"), headers={"Origin": origin}, timeout=10),
        "jwks": requests.get(op.server.url("/.well-known/jwks.json"), headers={"Origin": origin}, timeout=10),
        "userinfo GET": userinfo(op.server, token, origin=origin),
        "userinfo POST": userinfo(op.server, token, method="POST", origin=origin),
    }
    for name, response in responses.items():
        assert response.status_code == 200, (name, response.status_code, response.text)
        assert response.headers.get("Access-Control-Allow-Origin") == "*", (name, dict(response.headers))


def test_userinfo_cors_preflight_allows_the_authorization_header(op):
    """A single-page app sends the Bearer token in a header, so the browser asks first."""
    response = requests.options(op.server.url("/userinfo"), timeout=10, headers={
        "Origin": "https://spa.example.com", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
    })
    assert response.status_code in (200, 204), (response.status_code, response.text)
    assert response.headers.get("Access-Control-Allow-Origin") == "*", dict(response.headers)
    allowed = [name.strip().lower() for name in response.headers.get("Access-Control-Allow-Headers", "").split(",")]
    # The Fetch standard: a wildcard does not cover Authorization; it must be named.
    assert "authorization" in allowed, dict(response.headers)


# == 3. ID tokens =======================================================================================


def test_id_token_header_and_claims(op, alice_agent, alice):
    client = op.clients["trusted"]
    nonce = "n-" + PRINTABLE[:60]
    result = sign_in(op, alice_agent, client, alice, scope="openid profile email", nonce=nonce)
    assert jwt_header(result.access_token)["typ"] == "at+jwt", "the access token stays RFC 9068"
    claims = assert_sign_in_claims(op, client, alice, result)
    assert claims["nonce"] == nonce
    assert claims["exp"] - claims["iat"] == DEFAULT_ID_TOKEN_LIFETIME, claims
    # Core §5.4: with an access token issued, scope claims go to UserInfo, not the ID token.
    assert not (set(claims) & (PROFILE_CLAIMS | EMAIL_CLAIMS)), claims


def test_id_token_lifetime_comes_from_the_config(short_op):
    alice, client = short_op.users["alice"], short_op.clients["trusted"]
    result = sign_in(short_op, UserAgent(short_op.server), client, alice)
    claims = assert_sign_in_claims(short_op, client, alice, result)
    assert claims["exp"] - claims["iat"] == SHORT_ID_TOKEN_LIFETIME, claims


def test_default_id_token_algorithm_is_rs256(op, alice_agent, alice):
    client = op.clients["trusted"]
    assert client.raw.get("id_token_signed_response_alg") == "RS256", client.raw
    shown = op.warden.run_json("clients", "show", positional=(client.client_id,))
    assert shown.get("id_token_signed_response_alg") == "RS256", shown
    result = sign_in(op, alice_agent, client, alice)
    assert_sign_in_claims(op, client, alice, result, algorithm="RS256")
    # Access tokens keep the server's signing algorithm (ES256 by default).
    assert jwt_header(result.access_token)["alg"] == "ES256"


def test_confidential_client_with_client_secret_post_signs_in_with_openid(op, alice):
    """The conformance suite's `oidcc-server-client-secret-post`: the code flow with openid,
    the client authenticating with client_secret and client_id in the token request's body.
    The suite sends no PKCE, so its client is registered with --pkce-optional; with PKCE
    the same client signs in too."""
    redirect_uri = redirect_uri_of(op.clients["trusted"])
    client = op.warden.create_code_client("Secret Post App", (redirect_uri,), OIDC_SCOPE, public=False,
                                          auth_method="client_secret_post", extra=("--pkce-optional",))
    assert client.auth_method == "client_secret_post" and client.client_secret, client.raw
    assert client.raw.get("pkce_optional") is True, client.raw
    wait_until(lambda: op.server.code_token(client, "x").status_code != 401,
               message="the client created with the CLI did not reach the server")
    assert "auth" not in client.credentials(), "the secret must travel in the body, not in a Basic header"
    agent = UserAgent(op.server)

    # As the suite does: no PKCE, a nonce, the consent page.
    nonce, state = secrets.token_urlsafe(16), secrets.token_urlsafe(12)
    params = authorization_params(client, redirect_uri, scope="openid", state=state, nonce=nonce)
    result = walk(agent, params, alice)
    assert result.pages == ["login", "consent"], result.pages
    query = assert_redirect_to(result.response, redirect_uri)
    assert "code" in query and query.get("state") == state and query.get("iss") == op.issuer, query
    response = op.server.code_token(client, query["code"], redirect_uri=redirect_uri)
    assert response.status_code == 200, response.text
    without_pkce = SignIn(response.json(), nonce, result)
    assert_sign_in_claims(op, client, alice, without_pkce)

    # With PKCE (what Warden's own clients do), through the same session.
    with_pkce = sign_in(op, agent, client, alice, pages=[])
    claims = assert_sign_in_claims(op, client, alice, with_pkce)
    assert claims["sid"] == without_pkce.claims["sid"], (claims, without_pkce.claims)


@pytest.mark.parametrize("algorithm, kty", [("ES256", "EC"), ("EdDSA", "OKP")])
def test_id_token_algorithm_follows_the_client_registration(op, alice_agent, alice, algorithm, kty):
    client = op.clients[algorithm.lower()]
    assert client.raw.get("id_token_signed_response_alg") == algorithm, client.raw
    result = sign_in(op, alice_agent, client, alice)
    # Verified with that algorithm only; at_hash with its hash (SHA-512 for EdDSA).
    assert_sign_in_claims(op, client, alice, result, algorithm=algorithm)
    header = jwt_header(result.id_token)
    jwk = [key for key in op.server.jwks()["keys"] if key["kid"] == header["kid"]]
    assert len(jwk) == 1 and jwk[0]["kty"] == kty, jwk
    assert "d" not in jwk[0], "the JWKS must publish public parts only"
    keys = [key for key in op.warden.keys() if key["kid"] == header["kid"]]
    assert len(keys) == 1 and keys[0]["algorithm"] == algorithm and keys[0]["state"] == "signing", op.warden.keys()


@pytest.mark.parametrize("algorithm", ["HS256", "none"])
def test_clients_create_refuses_an_unsupported_id_token_algorithm(op, algorithm):
    result = op.warden.run("clients", "create", "--name", "bad alg", "--redirect-uri", "http://127.0.0.1:9/cb",
                           "--scope", "openid", "--grant-type", "authorization_code", "--auth-method", "none",
                           "--id-token-signed-response-alg", algorithm, "--json", check=False)
    line = assert_one_line_failure(result)
    assert algorithm in line or "id-token-signed-response-alg" in line, line


def test_sid_and_auth_time_belong_to_the_browser_session(op, alice):
    agent = UserAgent(op.server)
    first = sign_in(op, agent, op.clients["trusted"], alice, pages=["login"])
    second = sign_in(op, agent, op.clients["rp"], alice)
    assert "login" not in second.walk.pages
    one, two = first.claims, verify_id_token(op, op.clients["rp"], second.id_token)[1]
    assert two["sid"] == one["sid"] and two["auth_time"] == one["auth_time"], (one, two)
    other = sign_in(op, UserAgent(op.server), op.clients["trusted"], alice, pages=["login"]).claims
    assert other["sid"] != one["sid"], "two browser sessions share a sid"
    sessions = op.warden.run_json("sessions", "list", "--username", "alice")
    by_sid = {session["sid"]: session for session in sessions}
    assert {one["sid"], other["sid"]} <= set(by_sid), sessions
    assert by_sid[one["sid"]]["user_id"] == alice.id and by_sid[one["sid"]]["username"] == "alice", by_sid[one["sid"]]


def test_refresh_gives_a_new_id_token_without_nonce(op, alice_agent, alice):
    client = op.clients["trusted"]
    first = sign_in(op, alice_agent, client, alice, scope="openid profile")
    before = assert_sign_in_claims(op, client, alice, first)
    wait_past(before["iat"] + 1.05)  # so that the new iat is a later second
    renewed = refresh(op, client, first.refresh_token)
    assert renewed.get("id_token"), f"a refresh of an openid grant gives an ID token: {sorted(renewed)}"
    _, after = verify_id_token(op, client, renewed["id_token"])
    for name in ("iss", "sub", "aud", "azp", "auth_time", "sid"):
        assert after[name] == before[name], (name, before, after)
    assert after["iat"] > before["iat"], (before, after)
    assert "nonce" not in after, f"OIDC Core §12.2: no nonce in a refreshed ID token: {after}"
    assert after.get("at_hash") == half_hash(renewed["access_token"], "RS256"), after


def test_no_id_token_without_openid(op, alice_agent, alice):
    client = op.clients["trusted"]
    result = sign_in(op, alice_agent, client, alice, scope="profile email")
    assert "id_token" not in result.tokens, result.tokens
    assert result.tokens["scope"] == "profile email"
    renewed = refresh(op, client, result.refresh_token)
    assert "id_token" not in renewed, renewed


def test_an_id_token_is_not_an_access_token(op, alice_agent, alice):
    client, introspector = op.clients["trusted"], op.clients["introspector"]
    result = sign_in(op, alice_agent, client, alice)
    assert op.server.is_active(introspector, result.id_token) is False
    assert_userinfo_error(userinfo(op.server, result.id_token), 401, "invalid_token")
    # Revoking it revokes nothing (RFC 7009: an unknown token is a 200).
    response = op.server.revoke(client, result.id_token)
    assert response.status_code == 200, response.text
    assert op.server.is_active(introspector, result.access_token) is True
    userinfo_claims(userinfo(op.server, result.access_token))
    refresh(op, client, result.refresh_token)


# == 4. openid and the client's registration ==========================================================


def test_client_credentials_asking_for_openid_is_invalid_scope(op):
    hybrid = op.clients["hybrid"]
    assert op.server.token(hybrid, scope="api:read").status_code == 200, "control: the client may use client credentials"
    # Without a scope parameter it gets its registered scope, less openid.
    default = jwt_claims_unverified(op.server.access_token(hybrid))
    assert "openid" not in default["scope"].split(), default
    for scope in ("openid", "openid api:read"):
        assert_oauth_error(op.server.token(hybrid, scope=scope), "invalid_scope")


def test_openid_not_in_the_client_s_scope_is_invalid_scope(op):
    plain = op.clients["plain"]
    response = UserAgent(op.server).authorize(fresh_params(op, plain, scope="openid profile"))
    assert_redirected_error(op, response, plain, "invalid_scope")


def test_openid_after_another_scope_signs_in_all_the_same(op, alice_agent, alice):
    """Scope is a set (RFC 6749 §3.3): `email openid` is an OpenID request like `openid email`."""
    client = op.clients["trusted"]
    result = sign_in(op, alice_agent, client, alice, scope="email openid")
    assert_sign_in_claims(op, client, alice, result)
    assert set(result.tokens["scope"].split()) == {"openid", "email"}, result.tokens
    body = userinfo_claims(userinfo(op.server, result.access_token))
    assert without_updated_at(body) == expected_userinfo(alice, "openid email", ALICE_PROFILE), body
    renewed = refresh(op, client, result.refresh_token)
    assert renewed.get("id_token"), f"a refresh of the grant gives an ID token too: {sorted(renewed)}"


# == 5. UserInfo =========================================================================================


def test_userinfo_claims_follow_the_scope(provider):
    alice, client = provider.users["alice"], provider.clients["rp"]
    agent = UserAgent(provider.server)
    shown = provider.warden.run_json("users", "show", positional=("alice",))
    for scope in ("openid", "openid profile", "openid email", "openid profile email"):
        token = sign_in(provider, agent, client, alice, scope=scope).access_token
        expected = expected_userinfo(alice, scope, ALICE_PROFILE)
        answers = {
            "GET with Bearer": userinfo(provider.server, token),
            "POST with Bearer": userinfo(provider.server, token, method="POST"),
            "POST with access_token": userinfo(provider.server, method="POST", form={"access_token": token}),
        }
        for how, response in answers.items():
            body = userinfo_claims(response)
            assert without_updated_at(body) == expected, (scope, how, body)
            if "profile" in scope.split():
                assert body["updated_at"] == shown["updated_at"], (body, shown)
            else:
                assert "updated_at" not in body, body


def test_userinfo_leaves_unset_attributes_out(op, bob):
    result = sign_in(op, op.agent("bob"), op.clients["trusted"], bob, scope="openid profile email")
    body = userinfo_claims(userinfo(op.server, result.access_token))
    assert body["sub"] == bob.id and body["preferred_username"] == "bob", body
    assert not ({"name", "given_name", "family_name", "email"} & set(body)), body
    assert type(body.get("updated_at")) is int, body


def test_userinfo_ignores_the_access_token_audience(op, alice):
    web = op.clients["web"]
    result = sign_in(op, UserAgent(op.server), web, alice, scope="openid email", resource=API)
    assert jwt_claims_unverified(result.access_token)["aud"] == API
    body = userinfo_claims(userinfo(op.server, result.access_token))
    assert without_updated_at(body) == expected_userinfo(alice, "openid email", ALICE_PROFILE)


def test_userinfo_without_a_token_is_a_bearer_challenge(op):
    for response in (userinfo(op.server), userinfo(op.server, method="POST")):
        assert response.status_code == 401, (response.status_code, response.text)
        challenge = bearer_challenge(response)
        assert challenge.get("realm") == "warden", challenge
        assert "error" not in challenge, f"RFC 6750 §3.1: no error code when no token was sent: {challenge}"


@pytest.mark.parametrize("malformation", ["a token in the header and in the form", "a Basic Authorization header"])
def test_userinfo_malformed_request_is_invalid_request(op, alice_agent, alice, malformation):
    token = sign_in(op, alice_agent, op.clients["trusted"], alice).access_token
    if malformation.startswith("a token in the header"):
        response = userinfo(op.server, token, method="POST", form={"access_token": token})
    else:
        basic = base64.b64encode(f"{op.clients['trusted'].client_id}:{token}".encode()).decode()
        response = userinfo(op.server, headers={"Authorization": f"Basic {basic}"})
    assert_userinfo_error(response, 400, "invalid_request")


@pytest.mark.parametrize("case", ["garbage", "tampered signature", "revoked access token", "revoked grant", "refresh token"])
def test_userinfo_refuses_an_inactive_token(op, alice_agent, alice, case):
    client = op.clients["trusted"]
    result = sign_in(op, alice_agent, client, alice)
    token = result.access_token
    userinfo_claims(userinfo(op.server, token))  # control: live until the case below
    if case == "garbage":
        token = "garbage"
    elif case == "tampered signature":
        head, payload, signature = token.split(".")
        middle = len(signature) // 2
        signature = signature[:middle] + ("A" if signature[middle] != "A" else "B") + signature[middle + 1:]
        token = ".".join((head, payload, signature))
    elif case == "revoked access token":
        assert op.server.revoke(client, token).status_code == 200
    elif case == "revoked grant":
        assert op.server.revoke(client, result.refresh_token).status_code == 200
    else:
        token = result.refresh_token
    for response in (userinfo(op.server, token), userinfo(op.server, method="POST", form={"access_token": token})):
        assert_userinfo_error(response, 401, "invalid_token")


def test_userinfo_without_openid_is_insufficient_scope(op, alice_agent, alice):
    token = sign_in(op, alice_agent, op.clients["trusted"], alice, scope="profile email").access_token
    assert_userinfo_error(userinfo(op.server, token), 403, "insufficient_scope")


def test_userinfo_with_a_client_credentials_token_is_insufficient_scope(op):
    """A live access token of this issuer whose scope lacks openid (it cannot have it)."""
    token = op.server.access_token(op.clients["hybrid"], scope="api:read")
    assert op.server.is_active(op.clients["introspector"], token) is True
    assert_userinfo_error(userinfo(op.server, token), 403, "insufficient_scope")


def test_userinfo_for_a_deleted_user_is_invalid_token(op):
    dora = op.warden.create_user("dora", extra=("--name", "Dora"))
    token = sign_in(op, UserAgent(op.server), op.clients["trusted"], dora, scope="openid profile").access_token
    assert userinfo_claims(userinfo(op.server, token))["name"] == "Dora"
    op.warden.run("users", "delete", "dora")
    assert_userinfo_error(refused_userinfo(op.server, token), 401, "invalid_token")


def test_userinfo_for_a_deleted_client_is_invalid_token(op, alice_agent, alice):
    doomed = op.warden.create_code_client("Doomed App", (op.clients["trusted"].raw["redirect_uris"][0],), OIDC_SCOPE,
                                          extra=("--skip-consent",))
    wait_until(lambda: op.server.code_token(doomed, "x").status_code != 401)
    token = sign_in(op, alice_agent, doomed, alice).access_token
    userinfo_claims(userinfo(op.server, token))
    op.warden.run("clients", "delete", positional=(doomed.client_id,))
    assert_userinfo_error(refused_userinfo(op.server, token), 401, "invalid_token")


# == 6. the claims parameter ==============================================================================


def test_claims_userinfo_member_adds_claims_regardless_of_scope(op, alice_agent, alice):
    claims = {"userinfo": {"email": None, "given_name": {"essential": True},
                           "family_name": {"value": "Somebody Else"}, "no_such_claim": None}}
    result = sign_in(op, alice_agent, op.clients["trusted"], alice, scope="openid", claims=json.dumps(claims))
    body = userinfo_claims(userinfo(op.server, result.access_token))
    assert body == {"sub": alice.id, "email": ALICE_PROFILE["email"], "given_name": ALICE_PROFILE["given_name"],
                    "family_name": ALICE_PROFILE["family_name"]}, body
    assert not ({"email", "given_name", "family_name"} & set(result.claims)), result.claims


def test_claims_id_token_member_adds_claims_to_the_id_token(op, alice_agent, alice, bob):
    claims = {"id_token": {"email": {"essential": True}, "email_verified": None, "name": None,
                           "preferred_username": None, "no_such_claim": None}}
    result = sign_in(op, alice_agent, op.clients["trusted"], alice, scope="openid", claims=json.dumps(claims))
    _, id_claims = verify_id_token(op, op.clients["trusted"], result.id_token)
    assert id_claims.get("email") == ALICE_PROFILE["email"] and id_claims.get("email_verified") is True, id_claims
    assert id_claims.get("name") == ALICE_PROFILE["name"] and id_claims.get("preferred_username") == "alice", id_claims
    assert "no_such_claim" not in id_claims and "given_name" not in id_claims, id_claims
    assert userinfo_claims(userinfo(op.server, result.access_token)) == {"sub": alice.id}
    # Bob has no name and no email: asked for, they are still absent.
    bobs = sign_in(op, op.agent("bob"), op.clients["trusted"], bob, scope="openid", claims=json.dumps(claims))
    _, bob_claims = verify_id_token(op, op.clients["trusted"], bobs.id_token)
    assert bob_claims.get("preferred_username") == "bob" and not ({"name", "email"} & set(bob_claims)), bob_claims
    assert not [name for name, value in bob_claims.items() if value is None or value == ""], bob_claims


def test_claims_beyond_the_scope_are_asked_on_the_consent_page_and_remembered(op):
    """A claims request for the email shares it as the email scope would: the consent page
    says so, a consent to the scope alone does not cover it, and the answer is remembered."""
    user = op.warden.create_user("claire-" + secrets.token_hex(3), extra=("--email", "claire@example.com", "--email-verified"))
    agent, rp = UserAgent(op.server), op.clients["rp"]
    claims = json.dumps({"userinfo": {"email": None}})
    sign_in(op, agent, rp, user, scope="openid", pages=["login", "consent"])
    sign_in(op, agent, rp, user, scope="openid", pages=[])
    page = agent.authorize(fresh_params(op, rp, scope="openid", claims=claims, nonce="n"))
    assert Page.parse(page.text).is_consent, page.text[:300]
    assert "See your email address" in page.text and "<code>email</code>" in page.text, page.text
    result = sign_in(op, agent, rp, user, scope="openid", claims=claims, pages=["consent"])
    assert userinfo_claims(userinfo(op.server, result.access_token)) == {"sub": user.id, "email": "claire@example.com"}
    sign_in(op, agent, rp, user, scope="openid", claims=claims, pages=[])


@pytest.mark.parametrize("claims", ["{", "not json", '{"userinfo": {"email": null}', '["email"]'])
def test_claims_parameter_that_is_not_a_json_object_is_invalid_request(op, claims):
    trusted = op.clients["trusted"]
    response = UserAgent(op.server).authorize(fresh_params(op, trusted, claims=claims))
    assert_redirected_error(op, response, trusted, "invalid_request")


def test_claims_request_is_kept_across_refresh(op, alice_agent, alice):
    client = op.clients["trusted"]
    claims = {"userinfo": {"email": None}, "id_token": {"name": None}}
    result = sign_in(op, alice_agent, client, alice, scope="openid", claims=json.dumps(claims))
    assert result.claims.get("name") == ALICE_PROFILE["name"], result.claims
    renewed = refresh(op, client, result.refresh_token)
    _, after = verify_id_token(op, client, renewed["id_token"])
    assert after.get("name") == ALICE_PROFILE["name"], after
    body = userinfo_claims(userinfo(op.server, renewed["access_token"]))
    assert body == {"sub": alice.id, "email": ALICE_PROFILE["email"]}, body


# == 7. prompt, max_age, login_hint, id_token_hint, nonce ==============================================


def test_prompt_none_without_a_session_is_login_required(op):
    """`oidcc-prompt-none-not-logged-in`: login_required back to the client, with the request's
    state of 128 characters, some of which need encoding, exactly as sent."""
    trusted = op.clients["trusted"]
    agent = UserAgent(op.server)
    state = long_state()
    response = agent.authorize(fresh_params(op, trusted, prompt="none", state=state))
    assert_redirected_error(op, response, trusted, "login_required", state=state)


def test_prompt_none_with_a_session_and_consent_gives_a_code(op, alice_agent, alice):
    result = sign_in(op, alice_agent, op.clients["trusted"], alice, pages=[], prompt="none")
    assert result.claims["sub"] == alice.id


def test_prompt_none_when_consent_is_needed_is_consent_required(op, alice_agent):
    unconsented = op.clients["unconsented"]
    response = alice_agent.authorize(fresh_params(op, unconsented, prompt="none"))
    assert_redirected_error(op, response, unconsented, "consent_required")


@pytest.mark.parametrize("prompt", ["none login", "consent none", "none select_account"])
def test_prompt_none_with_another_value_is_invalid_request(op, alice_agent, prompt):
    trusted = op.clients["trusted"]
    response = alice_agent.authorize(fresh_params(op, trusted, prompt=prompt))
    assert_redirected_error(op, response, trusted, "invalid_request")


@pytest.mark.parametrize("prompt", ["login", "select_account"])
def test_prompt_login_signs_in_again_and_renews_auth_time(op, alice, prompt):
    client = op.clients["trusted"]
    agent = UserAgent(op.server)
    first = sign_in(op, agent, client, alice, pages=["login"])
    sign_in(op, agent, client, alice, pages=[])  # control: the session is live
    wait_past(first.claims["auth_time"] + 1.05)
    again = sign_in(op, agent, client, alice, pages=["login"], prompt=prompt)
    _, claims = verify_id_token(op, client, again.id_token)
    assert claims["auth_time"] > first.claims["auth_time"], (first.claims, claims)


def test_prompt_consent_asks_again(op, alice_agent, alice):
    client = op.clients["rp"]
    sign_in(op, alice_agent, client, alice, scope="openid profile")
    sign_in(op, alice_agent, client, alice, scope="openid profile", pages=[])  # consent remembered
    sign_in(op, alice_agent, client, alice, scope="openid profile", pages=["consent"], prompt="consent")


def test_max_age_makes_an_older_session_sign_in_again(op, alice):
    client = op.clients["trusted"]
    agent = UserAgent(op.server)
    first = sign_in(op, agent, client, alice, pages=["login"])
    signed_in_at = first.claims["auth_time"]
    sign_in(op, agent, client, alice, pages=[], max_age="3600")  # control: young enough
    wait_past(signed_in_at + 2.2)  # the session is now more than 1 s old
    response = agent.authorize(fresh_params(op, client, prompt="none", max_age="1"))
    assert_redirected_error(op, response, client, "login_required")
    again = sign_in(op, agent, client, alice, pages=["login"], max_age="1")
    _, claims = verify_id_token(op, client, again.id_token)
    assert claims["auth_time"] > signed_in_at, (signed_in_at, claims)


def test_max_age_zero_always_signs_in_again(op, alice_agent, alice):
    client = op.clients["trusted"]
    for _ in range(2):
        result = sign_in(op, alice_agent, client, alice, pages=["login"], max_age="0")
        assert "auth_time" in result.claims


@pytest.mark.parametrize("max_age", ["-1", "1.5", "soon"])
def test_max_age_must_be_a_whole_number_of_seconds(op, max_age):
    trusted = op.clients["trusted"]
    response = UserAgent(op.server).authorize(fresh_params(op, trusted, max_age=max_age))
    assert_redirected_error(op, response, trusted, "invalid_request")


@pytest.mark.parametrize("hint", ["alice", 'x" autofocus onfocus="alert(1)', '"><script>alert(1)</script>'],
                         ids=["plain", "attribute injection", "script injection"])
def test_login_hint_fills_the_username(op, alice, hint):
    agent = UserAgent(op.server)
    response = agent.authorize(fresh_params(op, op.clients["trusted"], login_hint=hint))
    page = assert_html_page(response, 200)
    assert page.is_login
    assert page.form("/login").inputs["username"].get("value") == hint, page.form("/login").inputs["username"]
    assert page.scripts == 0 and "<script>alert" not in response.text, "login_hint must be escaped"
    if hint == "alice":
        # The page still signs in whoever the person says they are.
        assert agent.login(page, alice.username, alice.password).status_code == 303


def test_id_token_hint_of_the_signed_in_user_is_accepted(op, alice_agent, alice):
    client = op.clients["trusted"]
    hint = sign_in(op, alice_agent, client, alice).id_token
    result = sign_in(op, alice_agent, client, alice, pages=[], prompt="none", id_token_hint=hint)
    assert result.claims["sub"] == alice.id


def tampered(token: str, part: int) -> str:
    """`token` with one character of its payload (1) or signature (2) changed."""
    pieces = token.split(".")
    middle = len(pieces[part]) // 2
    pieces[part] = pieces[part][:middle] + ("A" if pieces[part][middle] != "A" else "B") + pieces[part][middle + 1:]
    return ".".join(pieces)


@pytest.mark.parametrize("case", [
    "tampered signature", "tampered payload", "another installation", "same keys, another issuer", "an access token", "not a JWT",
])
def test_id_token_hint_that_is_not_an_id_token_of_this_server_is_invalid_request(
    request, op, alice_agent, alice, short_sign_in, case,
):
    trusted = op.clients["trusted"]
    mine = sign_in(op, alice_agent, trusted, alice)
    hint = {
        "tampered signature": lambda: tampered(mine.id_token, 2),
        "tampered payload": lambda: tampered(mine.id_token, 1),
        "another installation": lambda: short_sign_in[1].id_token,
        "same keys, another issuer": lambda: request.getfixturevalue("twin_id_token"),
        "an access token": lambda: mine.access_token,
        "not a JWT": lambda: "not-a-jwt",
    }[case]()
    response = UserAgent(op.server).authorize(fresh_params(op, trusted, id_token_hint=hint))
    assert_redirected_error(op, response, trusted, "invalid_request")


def test_id_token_hint_of_another_user_with_prompt_none_is_login_required(op, alice_agent, bob):
    trusted = op.clients["trusted"]
    bobs = sign_in(op, op.agent("bob"), trusted, bob).id_token
    response = alice_agent.authorize(fresh_params(op, trusted, prompt="none", id_token_hint=bobs))
    assert_redirected_error(op, response, trusted, "login_required")


def test_nonce_of_255_printable_characters_comes_back_exactly(op, alice_agent, alice):
    nonce = (PRINTABLE * 3)[:255]
    result = sign_in(op, alice_agent, op.clients["trusted"], alice, nonce=nonce)
    assert result.claims["nonce"] == nonce


def test_code_flow_without_nonce_gives_an_id_token_without_nonce(op, alice_agent, alice):
    """OIDC Core §3.1.2.1: nonce is OPTIONAL in the code flow."""
    client = op.clients["trusted"]
    result = sign_in(op, alice_agent, client, alice, pages=[], nonce=None)
    sent = result.walk.response.request.url  # the only request: the session is live, no consent
    assert "/authorize?" in sent and "nonce" not in query_params(sent), sent
    claims = assert_sign_in_claims(op, client, alice, result)
    assert "nonce" not in claims, f"no nonce was sent, so the ID token has none: {claims}"


def test_nonce_longer_than_255_characters_is_invalid_request(op):
    trusted = op.clients["trusted"]
    response = UserAgent(op.server).authorize(fresh_params(op, trusted, nonce="n" * 256))
    assert_redirected_error(op, response, trusted, "invalid_request")


def test_display_locales_and_acr_values_are_accepted(op, alice_agent, alice):
    result = sign_in(op, alice_agent, op.clients["trusted"], alice, pages=[], display="popup", ui_locales="fr-CA en",
                     claims_locales="de", acr_values="urn:mace:incommon:iap:silver")
    assert result.claims["sub"] == alice.id


@pytest.mark.parametrize("display", ["page", "popup", "touch", "wap"])
def test_display_values_of_core_show_the_usual_pages(op, alice, display):
    """OIDC Core §3.1.2.1's display values are accepted and change nothing: without a session
    the login page, then the consent page, then the code (`oidcc-display-page`, `-popup`)."""
    result = sign_in(op, UserAgent(op.server), op.clients["rp"], alice, scope="openid profile",
                     pages=["login", "consent"], display=display, prompt="consent")
    assert_sign_in_claims(op, op.clients["rp"], alice, result)


# == 8. response_mode=form_post =============================================================================


def inline_scripts(html_text: str) -> list[tuple[str, str]]:
    """(attributes, source) of every <script> element."""
    return re.findall(r"<script\b([^>]*)>(.*?)</script\s*>", html_text, re.S | re.I)


def assert_form_post(provider: Provider, response: requests.Response, client: Client) -> dict[str, str]:
    """The OAuth 2.0 Form Post Response Mode page: one POST form to the redirect URI with the
    response in hidden fields and a submit button, submitted by one inline script that the CSP
    allows by its SHA-256 hash (no 'unsafe-inline'). Returns the hidden fields."""
    page = assert_html_page(response, 200)
    assert len(page.forms) == 1, page.forms
    form = page.forms[0]
    assert form.action == redirect_uri_of(client) and form.method == "post", form
    assert any(button["type"] == "submit" for button in form.buttons), f"no submit button (needed without JavaScript): {form}"
    fields = form.hidden()
    assert set(form.inputs) == set(fields), f"every field is hidden: {form.inputs}"
    scripts = inline_scripts(response.text)
    assert len(scripts) == 1 and page.scripts == 1, f"one inline script, no event handler attributes: {scripts}"
    attributes, source = scripts[0]
    assert "src=" not in attributes.lower(), attributes
    script_src = csp_directives(response).get("script-src", [])
    digest = base64.b64encode(hashlib.sha256(source.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in script_src, f"the script's hash 'sha256-{digest}' is not in script-src {script_src}"
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src, script_src
    return fields


def test_form_post_page_carries_the_response(op, alice_agent, alice):
    client = op.clients["trusted"]
    verifier, challenge = pkce_pair()
    nonce = secrets.token_urlsafe(12)
    params = authorization_params(client, redirect_uri_of(client), scope="openid", state=STATE, challenge=challenge,
                                  nonce=nonce, response_mode="form_post")
    result = walk(alice_agent, params, alice)
    assert result.pages == [], result.pages
    fields = assert_form_post(op, result.response, client)
    assert set(fields) == {"code", "state", "iss"}, fields
    assert fields["state"] == STATE and fields["iss"] == op.issuer, fields
    response = op.server.code_token(client, fields["code"], redirect_uri=redirect_uri_of(client), code_verifier=verifier)
    assert response.status_code == 200, response.text
    assert jwt_claims_unverified(response.json()["id_token"])["nonce"] == nonce


def test_form_post_after_consent(op, alice):
    """The consent page's answer (a POST) is the form_post page too."""
    client = op.clients["rp"]
    agent = UserAgent(op.server)
    params = fresh_params(op, client, scope="openid profile", response_mode="form_post", prompt="consent")
    result = walk(agent, params, alice)
    assert result.pages == ["login", "consent"], result.pages
    fields = assert_form_post(op, result.response, client)
    assert set(fields) == {"code", "state", "iss"} and fields["state"] == STATE, fields


def test_form_post_carries_errors_too(op):
    client = op.clients["trusted"]
    response = UserAgent(op.server).authorize(fresh_params(op, client, prompt="none", response_mode="form_post"))
    fields = assert_form_post(op, response, client)
    assert set(fields) - {"error_description"} == {"error", "state", "iss"}, fields
    assert fields["error"] == "login_required" and fields["state"] == STATE and fields["iss"] == op.issuer, fields


@pytest.mark.parametrize("mode", ["fragment", "jwt", "query.jwt", "FORM_POST", "web_message"])
def test_unknown_response_mode_is_invalid_request_in_the_query(op, mode):
    trusted = op.clients["trusted"]
    response = UserAgent(op.server).authorize(fresh_params(op, trusted, response_mode=mode))
    assert_redirected_error(op, response, trusted, "invalid_request")


def test_form_post_in_chromium(op, browser, catcher, alice):
    client = op.clients["trusted"]
    verifier, challenge = pkce_pair()
    params = authorization_params(client, catcher.redirect_uri, scope="openid", state=STATE, challenge=challenge,
                                  nonce="n-1", response_mode="form_post")
    browser.get(op.server.url("/authorize?" + urlencode(params)))
    log_in(browser, alice)
    # The page submits itself: the listener gets a POST, nothing in the URL.
    try:
        WebDriverWait(browser, 15).until(lambda b: b.current_url.startswith(catcher.redirect_uri))
    except TimeoutException:
        raise AssertionError(f"the form_post page did not submit itself (at {browser.current_url}): "
                             f"{csp_problems(browser)}") from None
    arrived = catcher.wait()
    assert arrived["method"] == "POST" and arrived["query"] == {}, arrived
    assert arrived["form"].get("state") == STATE and arrived["form"].get("iss") == op.issuer, arrived["form"]
    problems = csp_problems(browser)
    assert not problems, f"the CSP blocked something on the form_post page: {problems}"
    response = op.server.code_token(client, arrived["form"]["code"], redirect_uri=catcher.redirect_uri, code_verifier=verifier)
    assert response.status_code == 200, response.text
    assert jwt_claims_unverified(response.json()["id_token"])["nonce"] == "n-1"

    # Without JavaScript the page stays: a person sees it and the button sends the form.
    browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
    try:
        browser.get(op.server.url("/authorize?" + urlencode(dict(params, state="second"))))
        button = WebDriverWait(browser, 15).until(lambda b: b.find_elements(By.CSS_SELECTOR, "form button"))
        assert browser.current_url.startswith(op.server.base_url + "/"), browser.current_url
        assert catcher.requests.empty(), "the form was sent without JavaScript"
        assert button[0].is_displayed() and button[0].text.strip(), "the button must be visible and say what it does"
        screenshots(browser, "form-post")
        button[0].click()
        WebDriverWait(browser, 15).until(lambda b: b.current_url.startswith(catcher.redirect_uri))
        arrived = catcher.wait()
    finally:
        browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": False})
    assert arrived["method"] == "POST" and arrived["form"].get("state") == "second" and arrived["form"].get("code"), arrived


# == 8b. the authorization request by POST (OpenID Connect Core §3.1.2.1) ==================================


def redeem(provider: Provider, client: Client, code: str, verifier: str, nonce: str, response: requests.Response,
           pages: list[str]) -> SignIn:
    """The token response for `code` (the client's first redirect URI, the PKCE verifier)."""
    answer = provider.server.code_token(client, code, redirect_uri=redirect_uri_of(client), code_verifier=verifier)
    assert answer.status_code == 200, answer.text
    return SignIn(answer.json(), nonce, Walk(response, pages))


def test_authorization_request_by_post_redirects_with_a_code_by_303(op, alice_agent, alice):
    """The conformance suite's `oidcc-ensure-post-request-succeeds`: the authorization request as
    a form POST. A signed-in user who allowed the client before goes straight back to it, by a 303
    (RFC 9700 §4.12: after a POST) with code, state and iss; the code redeems to an ID token
    with the request's nonce."""
    client = op.clients["rp"]
    sign_in(op, alice_agent, client, alice, scope="openid")  # consent given (now, if it was not yet)
    verifier, challenge = pkce_pair()
    nonce, state = secrets.token_urlsafe(16), long_state()
    params = authorization_params(client, redirect_uri_of(client), scope="openid", state=state, challenge=challenge,
                                  nonce=nonce)
    response = post_authorize(alice_agent, params)
    query = assert_redirect_to(response, redirect_uri_of(client), status=303)
    assert set(query) == {"code", "state", "iss"}, query
    assert query["state"] == state and query["iss"] == op.issuer, query
    result = redeem(op, client, query["code"], verifier, nonce, response, [])
    claims = assert_sign_in_claims(op, client, alice, result)
    assert claims["nonce"] == nonce, claims
    assert set(result.tokens["scope"].split()) == {"openid"}, result.tokens


def test_authorization_request_by_post_without_a_session_signs_in_then_continues(op, alice):
    """POST /authorize without a session shows the login page, whose form carries the request on
    (`authorization_request`); signing in leads back to /authorize (303), then to the consent
    page, then to the client with the code."""
    redirect_uri = redirect_uri_of(op.clients["rp"])
    client = op.warden.create_code_client("Posted Request App", (redirect_uri,), OIDC_SCOPE)
    wait_until(lambda: op.server.code_token(client, "x").status_code != 401,
               message="the client created with the CLI did not reach the server")
    agent = UserAgent(op.server)
    verifier, challenge = pkce_pair()
    nonce, state = secrets.token_urlsafe(16), long_state()
    params = authorization_params(client, redirect_uri, scope="openid profile", state=state, challenge=challenge, nonce=nonce)

    response = post_authorize(agent, params)
    page = assert_html_page(response, 200)
    assert page.is_login, f"expected the login page: {page.title!r} {page.alerts}"
    carried = page.form("/login").hidden().get("authorization_request", "")
    assert query_params("?" + carried) == params, f"the login form does not carry the request: {carried!r}"

    response = agent.login(page, alice.username, alice.password)
    assert response.status_code == 303, (response.status_code, response.text[:300])
    back = redirect_target(response)
    assert back.startswith(op.server.url("/authorize?")) and query_params(back) == params, back
    response = agent.follow(response)
    page = assert_html_page(response, 200)
    assert page.is_consent, f"expected the consent page: {page.title!r} {page.alerts}"
    response = agent.consent(page, "allow")

    query = assert_redirect_to(response, redirect_uri, status=303)
    assert set(query) == {"code", "state", "iss"}, query
    assert query["state"] == state and query["iss"] == op.issuer, query
    result = redeem(op, client, query["code"], verifier, nonce, response, ["login", "consent"])
    assert_sign_in_claims(op, client, alice, result)
    assert set(result.tokens["scope"].split()) == {"openid", "profile"}, result.tokens


def test_authorization_request_by_post_with_form_post_gives_the_form_post_page(op, alice_agent, alice):
    """response_mode=form_post in a POSTed request: the 200 page that POSTs the response, no redirect."""
    client = op.clients["trusted"]
    verifier, challenge = pkce_pair()
    nonce, state = secrets.token_urlsafe(16), long_state()
    params = authorization_params(client, redirect_uri_of(client), scope="openid", state=state, challenge=challenge,
                                  nonce=nonce, response_mode="form_post")
    response = post_authorize(alice_agent, params)
    fields = assert_form_post(op, response, client)
    assert set(fields) == {"code", "state", "iss"}, fields
    assert fields["state"] == state and fields["iss"] == op.issuer, fields
    result = redeem(op, client, fields["code"], verifier, nonce, response, [])
    assert_sign_in_claims(op, client, alice, result)


def multipart(params: dict, boundary: str = "warden-test-boundary") -> bytes:
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n' for name, value in params.items()]
    return ("".join(parts) + f"--{boundary}--\r\n").encode()


#: Bodies that are not a proper application/x-www-form-urlencoded form, though they carry a
#: request that, well formed, gives a code: (body from the parameters, Content-Type).
MALFORMED_AUTHORIZATION_POSTS = {
    "no Content-Type": (lambda params: urlencode(params), None),
    "text/plain": (lambda params: urlencode(params), "text/plain"),
    "JSON": (lambda params: json.dumps(params), "application/json"),
    "multipart": (multipart, "multipart/form-data; boundary=warden-test-boundary"),
    "charset=iso-8859-1": (lambda params: urlencode(params), "application/x-www-form-urlencoded; charset=iso-8859-1"),
    "repeated state": (lambda params: urlencode(params) + "&state=another", "application/x-www-form-urlencoded"),
    "repeated client_id": (lambda params: urlencode(params) + "&" + urlencode({"client_id": params["client_id"]}),
                           "application/x-www-form-urlencoded"),
    "repeated redirect_uri": (lambda params: urlencode(params) + "&" + urlencode({"redirect_uri": params["redirect_uri"]}),
                              "application/x-www-form-urlencoded"),
    "bad percent-escape": (lambda params: urlencode(params) + "&ui_locales=en%zz", "application/x-www-form-urlencoded"),
    "truncated percent-escape": (lambda params: urlencode(params) + "&ui_locales=en%4", "application/x-www-form-urlencoded"),
    "invalid UTF-8": (lambda params: urlencode(params) + "&ui_locales=en%FF%FE", "application/x-www-form-urlencoded"),
}


@pytest.mark.parametrize("case", list(MALFORMED_AUTHORIZATION_POSTS))
def test_authorization_request_by_post_in_a_malformed_body_gets_an_error_page(op, alice_agent, case):
    """A body that is not a proper form (wrong Content-Type, a repeated parameter, bad
    encoding) is not an authorization request: a 4xx error page, no redirect, no code."""
    client = op.clients["trusted"]
    params = fresh_params(op, client, state=secrets.token_urlsafe(12), nonce=secrets.token_urlsafe(12))
    control = post_authorize(alice_agent, params)
    assert "code" in assert_redirect_to(control, redirect_uri_of(client), status=303), "control: well formed, a code"

    make_body, content_type = MALFORMED_AUTHORIZATION_POSTS[case]
    response = post_authorize(alice_agent, make_body(params), content_type=content_type)
    assert 400 <= response.status_code < 500, f"expected a 4xx error page, got {response.status_code}: {response.text[:300]!r}"
    page = assert_html_page(response, response.status_code)  # no Location either
    assert not page.forms, f"an error page has no form (login, consent, form_post): {page.forms}"
    assert page.alerts, "the error page says what went wrong"
    assert "code=" not in response.text, response.text[:500]


# == 9. request objects ========================================================================================


@pytest.mark.parametrize("name, value, error", [
    ("request", "eyJhbGciOiJub25lIn0.eyJzY29wZSI6Im9wZW5pZCJ9.", "request_not_supported"),
    ("request_uri", "https://rp.example.com/requests/1.jwt", "request_uri_not_supported"),
], ids=["request", "request_uri"])
def test_request_objects_are_not_supported(op, name, value, error):
    trusted = op.clients["trusted"]
    response = UserAgent(op.server).authorize(fresh_params(op, trusted, **{name: value}))
    assert_redirected_error(op, response, trusted, error)


# == 10. the users' profile on the command line ===================================================================


def test_users_create_with_a_profile_and_show(op):
    profile = {"name": "Zoë Ångström", "given_name": "Zoë", "family_name": "Ångström", "email": "zoe@example.org"}
    op.warden.run("users", "create", "--username", "zoe", "--password", "pw-zoe-0123456789",
                  "--name", profile["name"], "--given-name", profile["given_name"],
                  "--family-name", profile["family_name"], "--email", profile["email"])
    shown = op.warden.run_json("users", "show", positional=("zoe",))
    assert set(shown) == {"id", "username", "name", "given_name", "family_name", "email", "email_verified",
                          "created_at", "updated_at"}, shown
    assert shown["username"] == "zoe" and {name: shown[name] for name in profile} == profile, shown
    assert shown["email_verified"] is False, "without --email-verified an address is unverified"
    assert type(shown["created_at"]) is int and type(shown["updated_at"]) is int, shown
    assert shown["id"] in {user["id"] for user in op.warden.users() if user["username"] == "zoe"}
    plain = op.warden.run("users", "show", positional=("zoe",))
    assert "zoe" in plain.stdout and profile["name"] in plain.stdout, plain.stdout


def test_users_show_without_a_profile(op, bob):
    shown = op.warden.run_json("users", "show", positional=("bob",))
    assert shown["id"] == bob.id and shown["username"] == "bob", shown
    assert not ({"name", "given_name", "family_name", "email"} & set(shown)), shown
    assert not [name for name, value in shown.items() if value is None or value == ""], shown


def test_users_update_changes_and_removes_attributes(op):
    carol = op.warden.create_user("carol", extra=("--name", "Carol Ann", "--given-name", "Carol", "--email", "carol@example.com",
                                                 "--email-verified"))
    token = sign_in(op, UserAgent(op.server), op.clients["trusted"], carol, scope="openid profile email").access_token
    before = op.warden.run_json("users", "show", positional=("carol",))
    assert before["email_verified"] is True and before["given_name"] == "Carol", before
    wait_past(before["updated_at"] + 1.05)
    op.warden.run("users", "update", "carol", "--name", "Carol Bee", "--given-name", "", "--family-name", "Bee",
                  "--email-unverified")
    after = op.warden.run_json("users", "show", positional=("carol",))
    assert after["name"] == "Carol Bee" and after["family_name"] == "Bee" and after["email_verified"] is False, after
    assert "given_name" not in after, f"an empty value removes the attribute: {after}"
    assert after["email"] == "carol@example.com" and after["id"] == before["id"], after
    assert after["updated_at"] > before["updated_at"] and after["created_at"] == before["created_at"], (before, after)
    # UserInfo shows the profile as it is now.
    expected = {"sub": carol.id, "preferred_username": "carol", "name": "Carol Bee", "family_name": "Bee",
                "email": "carol@example.com", "email_verified": False, "updated_at": after["updated_at"]}
    wait_until(lambda: userinfo_claims(userinfo(op.server, token)) == expected,
               message="UserInfo does not show the updated profile")
    op.warden.run("users", "update", "carol", "--email", "")
    final = op.warden.run_json("users", "show", positional=("carol",))
    assert "email" not in final and final["name"] == "Carol Bee", final


def test_users_update_refuses_contradictions_and_unknown_users(op):
    op.warden.create_user("erin")
    both = op.warden.run("users", "update", "erin", "--email-verified", "--email-unverified", check=False)
    assert_one_line_failure(both)
    missing = op.warden.run("users", "update", "nobody-here", "--name", "X", check=False)
    assert_one_line_failure(missing, "nobody-here")
    unknown = op.warden.run("users", "show", "nobody-here", check=False)
    assert_one_line_failure(unknown, "nobody-here")


# == last: what needed time to pass ===============================================================================


def test_an_expired_id_token_hint_is_accepted(short_op, short_sign_in):
    agent, result = short_sign_in
    wait_past(result.claims["exp"] + 1.05)
    client = short_op.clients["trusted"]
    again = sign_in(short_op, agent, client, short_op.users["alice"], pages=[], prompt="none", id_token_hint=result.id_token)
    assert again.claims["sub"] == result.claims["sub"]
