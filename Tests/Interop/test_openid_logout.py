"""OpenID Connect logout from outside (OPENID.md "Logout", notes/oidc-interface.md):
RP-Initiated Logout 1.0 at GET and POST /logout, Back-Channel Logout 1.0 to a small
loopback receiver run by the tests, and `warden sessions list|revoke`.

- A cookie-keeping `requests` session (interop.UserAgent) signs in through /authorize,
  /login and /consent (clients skip consent) and redeems the code for an ID token; its
  `sid` names the browser session, as `warden sessions list --json` does.
- "The session ended" is checked from outside three ways: `sessions list` no longer has the
  sid, the old cookie value (sent by a fresh client) gets the login page at /authorize, and
  the logout response's Set-Cookie expires the session cookie.
- Logout tokens are verified with joserfc against the JWKS the metadata names.
- Headless Chromium (Debian's chromium + chromedriver, required, never skipped) does an
  end-to-end RP-initiated logout by redirect and one by a cross-site form POST (the SameSite=Lax
  session cookie does not come along), and screenshots the confirmation and signed-out pages at
  desktop width and 390 px into Tests/Interop/artifacts/.
- The back-channel logout on `sessions revoke` runs on SQLite and on PostgreSQL (two
  instances on one database), and a session made at instance A is ended at instance B.

Waits are bounded: a back-channel request must arrive within DELIVERY_TIMEOUT seconds
(the server picks up CLI-made logouts within ~2 s); the retry test watches for at most
RETRY_WINDOW seconds."""

from __future__ import annotations

import base64
import html
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests

from interop import (
    read_request_body,
    SESSION_COOKIE,
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
    finish,
    free_port,
    headless_chromium,
    jwt_claims_unverified,
    jwt_header,
    obtain_code,
    pkce_pair,
    redirect_target,
    verify_with_joserfc,
    wait_until,
)

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

#: Redirect URIs of the non-browser clients: never listened on (read from Location).
REDIRECT = "http://127.0.0.1:8765/callback"
#: Post-logout redirect URIs every relying party here registers (the option is repeatable).
SIGNED_OUT = "https://app.example.com/signed-out"
GOODBYE = "https://app.example.com/goodbye"
#: What another client registered.
OTHER_SIGNED_OUT = "https://other.example.com/signed-out"
#: The relying parties' registered scope, and what they ask for.
RP_SCOPE = "openid profile email offline_access"
OIDC_SCOPE = "openid profile"
BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"

#: Seconds a back-channel logout request may take to arrive (CLI-made logouts are picked up
#: by a running server within ~2 s; the rest is margin for a loaded machine).
DELIVERY_TIMEOUT = 15.0
#: Seconds to watch for a request that must NOT come, once the expected ones have arrived.
QUIET_SECONDS = 3.0
#: The retry test watches a failing receiver at most this long (5 s timeout, 3 retries with backoff).
RETRY_WINDOW = 40.0
#: The receiver that answers slowly takes this long; /logout must answer well before.
SLOW_RECEIVER_SECONDS = 3.0


# -- a back-channel logout receiver (the relying parties' backchannel_logout_uri) ----------------


@dataclass
class Delivery:
    """One request that reached the receiver."""

    path: str
    method: str
    content_type: str
    body: bytes
    attempt: int
    at: float = field(default_factory=time.monotonic)

    @property
    def form(self) -> list[tuple[str, str]]:
        return parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True)

    @property
    def logout_token(self) -> str:
        names = [name for name, _ in self.form]
        assert names == ["logout_token"], f"expected exactly one logout_token parameter, got {names} ({self.body[:200]!r})"
        return self.form[0][1]


class BackChannelReceiver:
    """A loopback HTTP listener standing in for relying parties' back-channel logout URIs.
    Each `endpoint(behaviour)` is a path of its own:
      ok          200 at once
      fail-first  500 on the first request, 200 after
      fail-always 500 every time
      slow        200 after SLOW_RECEIVER_SECONDS
      hang-first  the first request is answered only after 8 s (past the server's 5 s timeout), later ones at once
    Every request is recorded (with its attempt number) before it is answered."""

    def __init__(self):
        self.condition = threading.Condition()
        self.received: list[Delivery] = []
        self.behaviours: dict[str, str] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                self.record("POST")

            def do_GET(self):  # noqa: N802
                self.record("GET")

            def do_PUT(self):  # noqa: N802
                self.record("PUT")

            def record(self, method: str):
                body = read_request_body(self) if method != "GET" else b""
                path = urlsplit(self.path).path
                with receiver.condition:
                    attempt = 1 + sum(1 for delivery in receiver.received if delivery.path == path)
                    behaviour = receiver.behaviours.get(path, "ok")
                    receiver.received.append(Delivery(path, method, self.headers.get("Content-Type", ""), body, attempt))
                    receiver.condition.notify_all()
                status = 200 if method == "POST" else 405
                if behaviour == "fail-always" or (behaviour == "fail-first" and attempt == 1):
                    status = 500
                elif behaviour == "slow":
                    time.sleep(SLOW_RECEIVER_SECONDS)
                elif behaviour == "hang-first" and attempt == 1:
                    time.sleep(8)
                try:
                    self.send_response(status)
                    self.send_header("Cache-Control", "no-store")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the server gave up waiting (hang-first): that is the point

            def log_message(self, *args):
                pass

        class QuietServer(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass

        self.httpd = QuietServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def endpoint(self, behaviour: str = "ok") -> str:
        assert behaviour in ("ok", "fail-first", "fail-always", "slow", "hang-first"), behaviour
        path = "/bcl/" + secrets.token_hex(8)
        self.behaviours[path] = behaviour
        return f"http://127.0.0.1:{self.port}{path}"

    @staticmethod
    def _path(uri_or_path: str) -> str:
        return urlsplit(uri_or_path).path

    def deliveries(self, uri: str) -> list[Delivery]:
        path = self._path(uri)
        with self.condition:
            return [delivery for delivery in self.received if delivery.path == path]

    def wait_for(self, uri: str, count: int = 1, timeout: float = DELIVERY_TIMEOUT) -> list[Delivery]:
        """The first `count` requests that reached `uri`, waiting at most `timeout` seconds."""
        path = self._path(uri)
        deadline = time.monotonic() + timeout
        with self.condition:
            while True:
                got = [delivery for delivery in self.received if delivery.path == path]
                if len(got) >= count:
                    return got
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"{len(got)} of {count} back-channel logout request(s) reached {path} within {timeout}s")
                self.condition.wait(remaining)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# -- helpers ----------------------------------------------------------------------------------------


def new_rp(
    installation: Warden,
    servers: tuple[Server, ...],
    name: str = "rp",
    *,
    redirect: str = REDIRECT,
    post_logout: tuple[str, ...] = (SIGNED_OUT, GOODBYE),
    backchannel: str | None = None,
    alg: str | None = None,
) -> Client:
    """A public relying party (PKCE, skips consent) registered with `openid`, its post-logout
    redirect URIs and, optionally, a back-channel logout URI and an ID token algorithm; it has
    reached every server in `servers` when this returns."""
    extra = ["--skip-consent"]
    for uri in post_logout:
        extra += ["--post-logout-redirect-uri", uri]
    if backchannel is not None:
        extra += ["--backchannel-logout-uri", backchannel]
    if alg is not None:
        extra += ["--id-token-signed-response-alg", alg]
    client = installation.create_code_client(name, (redirect,), RP_SCOPE, extra=tuple(extra))
    assert client.raw.get("post_logout_redirect_uris") == list(post_logout), client.raw
    assert client.raw.get("id_token_signed_response_alg") == (alg or "RS256"), client.raw
    assert client.raw.get("backchannel_logout_uri") == backchannel, client.raw
    for server in servers:
        wait_until(lambda: server.code_token(client, "x").status_code != 401,
                   message="a client created with the CLI did not reach the server")
    return client


@dataclass
class SignedIn:
    """A browser (cookie jar) signed in as `user`, with the ID token one client got in that session."""

    agent: UserAgent
    user: User
    client: Client
    tokens: dict
    cookie: str

    @property
    def id_token(self) -> str:
        return self.tokens["id_token"]

    @property
    def claims(self) -> dict:
        return jwt_claims_unverified(self.id_token)

    @property
    def sid(self) -> str:
        return self.claims["sid"]


def code_flow(agent: UserAgent, client: Client, user: User, *, scope: str = OIDC_SCOPE, **kwargs) -> dict:
    """/authorize (login if asked) → code → token response."""
    redirect = client.raw["redirect_uris"][0]
    code, verifier = obtain_code(agent, client, user, redirect, scope=scope, **kwargs)
    response = agent.server.code_token(client, code, redirect_uri=redirect, code_verifier=verifier)
    assert response.status_code == 200, response.text
    return response.json()


def sign_in(server: Server, client: Client, user: User, *, agent: UserAgent | None = None) -> SignedIn:
    """A new browser session (unless `agent` is given and signed in) in which `client` gets an ID token."""
    agent = agent or UserAgent(server)
    tokens = code_flow(agent, client, user, nonce=secrets.token_urlsafe(12))
    assert "id_token" in tokens, f"no id_token for scope {OIDC_SCOPE!r}: {sorted(tokens)}"
    claims = jwt_claims_unverified(tokens["id_token"])
    assert claims.get("sid") and claims.get("sub") == user.id and claims.get("aud") in (client.client_id, [client.client_id]), claims
    assert agent.session_cookie, "signed in, yet no session cookie"
    return SignedIn(agent, user, client, tokens, agent.session_cookie)


def id_token_in_same_session(signed: SignedIn, client: Client) -> dict:
    """The claims of an ID token `client` gets in `signed`'s session (no second login)."""
    tokens = code_flow(signed.agent, client, signed.user, expect_login=False, nonce=secrets.token_urlsafe(12))
    assert "id_token" in tokens, sorted(tokens)
    claims = jwt_claims_unverified(tokens["id_token"])
    assert claims["sid"] == signed.sid, f"one browser session, two sids: {claims['sid']} vs {signed.sid}"
    return tokens


def cookie_agent(server: Server, cookie: str) -> UserAgent:
    """A fresh browser that presents `cookie` as its session cookie (nothing else)."""
    agent = UserAgent(server)
    agent.http.cookies.set(SESSION_COOKIE, cookie, domain="127.0.0.1", path="/")
    return agent


def cookie_signs_in(server: Server, cookie: str, client: Client) -> bool:
    """Does the session cookie value still sign in? False when /authorize shows the login page."""
    redirect = client.raw["redirect_uris"][0]
    response = cookie_agent(server, cookie).authorize(
        authorization_params(client, redirect, scope="openid", challenge=pkce_pair()[1]))
    if response.status_code == 200:
        page = Page.parse(response.text)
        if page.is_login:
            return False
        assert page.is_consent, f"neither the login nor the consent page: {page.h1!r} {response.text[:300]!r}"
        return True
    params = assert_redirect_to(response, redirect, status=302)
    assert "code" in params, params
    return True


def sessions(installation: Warden, username: str | None = None) -> list[dict]:
    args = ["sessions", "list"] + (["--username", username] if username else [])
    listed = installation.run_json(*args)
    assert isinstance(listed, list), listed
    return listed


def session_ids(installation: Warden, username: str | None = None) -> set[str]:
    return {entry["sid"] for entry in sessions(installation, username)}


def assert_session_ended(installation: Warden, server: Server, signed: SignedIn) -> None:
    assert signed.sid not in session_ids(installation), f"session {signed.sid} is still listed"
    assert not cookie_signs_in(server, signed.cookie, signed.client), "the old session cookie still signs in"


def assert_session_alive(installation: Warden, server: Server, signed: SignedIn) -> None:
    assert signed.sid in session_ids(installation), f"session {signed.sid} ended"
    assert cookie_signs_in(server, signed.cookie, signed.client), "the session cookie no longer signs in"


def set_cookies(response: requests.Response, name: str = SESSION_COOKIE) -> list[str]:
    return [value for value in response.raw.headers.getlist("Set-Cookie")
            if value.split("=", 1)[0].strip() == name]


def assert_session_cookie_cleared(response: requests.Response) -> None:
    """The response expires the session cookie (same path, Max-Age ≤ 0 or Expires in the past)."""
    cookies = set_cookies(response)
    assert len(cookies) == 1, f"expected one Set-Cookie for {SESSION_COOKIE}, got {cookies} ({dict(response.headers)})"
    parts = [part.strip() for part in cookies[0].split(";")]
    attributes = {}
    for part in parts[1:]:
        name, _, value = part.partition("=")
        attributes[name.strip().lower()] = value.strip()
    if "max-age" in attributes:
        expired = int(attributes["max-age"]) <= 0
    else:
        assert "expires" in attributes, f"the session cookie is not expired: {cookies[0]!r}"
        expired = parsedate_to_datetime(attributes["expires"]).timestamp() < time.time()
    assert expired, f"the session cookie is not expired: {cookies[0]!r}"
    assert attributes.get("path", "/") == "/", f"cleared on another path than it was set on: {cookies[0]!r}"
    assert "domain" not in attributes, cookies[0]


def assert_cookie_untouched(response: requests.Response) -> None:
    assert not set_cookies(response), f"the session cookie was changed: {set_cookies(response)}"


def logout(agent: UserAgent, method: str = "GET", **params) -> requests.Response:
    """GET /logout?... or POST /logout (form), None values left out."""
    params = {name: value for name, value in params.items() if value is not None}
    if method == "GET":
        return agent.get("/logout" + ("?" + urlencode(params) if params else ""))
    assert params, "a POST needs a body"
    return agent.post("/logout", params)


def long_state() -> str:
    """128 characters (the conformance suite's length), with characters that need encoding."""
    state = secrets.token_urlsafe(96)[:121] + " &=+/?%"
    assert len(state) == 128
    return state


def assert_post_logout_redirect(response: requests.Response, uri: str, state: str | None, status: int) -> None:
    """`status` to exactly `uri`, with `state` exactly echoed and nothing else (OIDCRIL-2/3)."""
    params = assert_redirect_to(response, uri, status=status)
    if state is None:
        assert response.headers["Location"] == uri, f"expected {uri!r} exactly, got {response.headers['Location']!r}"
    else:
        assert params == {"state": state}, f"expected only state={state!r}, got {params}"


def assert_error_page(response: requests.Response) -> Page:
    """400 HTML error page: no redirect, no logout confirmation, session cookie untouched."""
    page = assert_html_page(response, 400)
    assert not any(form.action == "/logout" for form in page.forms), "a confirmation page instead of an error page"
    assert "You are signed out" not in page.text
    assert_cookie_untouched(response)
    return page


def confirmation_form(response: requests.Response, *, client_id: str | None = None, uri: str | None = None,
                      state: str | None = None):
    """The 'Sign out of Warden?' page: HTML with the security headers, no script, one POST form to
    /logout with a csrf_token, hidden copies of what was asked, and the logout button."""
    page = assert_html_page(response, 200)
    assert "Sign out" in page.title, f"title {page.title!r}"
    assert page.scripts == 0 and page.inline_styles == 0, "the confirmation page must work under the CSP, without script"
    assert not page.is_login and not page.is_consent
    form = page.form("/logout")
    hidden = form.hidden()
    assert hidden.get("csrf_token"), f"no csrf_token: {hidden}"
    if client_id is not None:
        assert hidden.get("client_id") == client_id, hidden
    if uri is not None:
        assert hidden.get("post_logout_redirect_uri") == uri, hidden
    if state is not None:
        assert hidden.get("state") == state, hidden
    assert any(button.get("name") == "decision" and button.get("value") == "logout" for button in form.buttons), form.buttons
    assert_cookie_untouched(response)
    return form


def confirm(agent: UserAgent, form, **overrides) -> requests.Response:
    fields = dict(form.hidden(), decision="logout")
    for name, value in overrides.items():
        if value is None:
            fields.pop(name, None)
        else:
            fields[name] = value
    return agent.post("/logout", fields)


def signed_out_page(agent: UserAgent, response: requests.Response) -> Page:
    """The 'You are signed out' page: answered directly (200) or after one redirect on the server."""
    if response.status_code in (302, 303):
        target = redirect_target(response)
        assert target.startswith(agent.server.base_url + "/"), f"signed out, then sent away to {target!r}"
        response = agent.get(target)
    page = assert_html_page(response, 200)
    assert "You are signed out" in page.text, page.text[:300]
    assert not any(form.action == "/logout" for form in page.forms)
    return page


def jwks_of(server: Server) -> dict:
    """The JWKS as a relying party finds it: through the metadata."""
    response = requests.get(server.metadata()["jwks_uri"], timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def assert_logout_token(delivery: Delivery, server: Server, client: Client, *, sub: str, sid: str,
                        alg: str = "RS256") -> dict:
    """Back-Channel Logout 1.0 §2.4-2.5, checked as a relying party would; returns the claims."""
    assert delivery.method == "POST", delivery
    assert delivery.content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded", delivery.content_type
    token = delivery.logout_token
    jwks = jwks_of(server)
    header = jwt_header(token)
    assert header.get("typ") == "logout+jwt", header
    assert header.get("alg") == alg, f"expected {alg} (the client's id_token alg): {header}"
    assert header.get("kid") in {key["kid"] for key in jwks["keys"]}, (header, jwks)
    _, claims = verify_with_joserfc(token, jwks, issuer=server.issuer, audience=client.client_id)
    assert claims["iss"] == server.issuer
    assert claims["aud"] in (client.client_id, [client.client_id]), claims
    for name in ("iat", "exp"):
        assert type(claims[name]) is int, f"{name} must be an integer NumericDate: {claims[name]!r}"
    assert abs(claims["iat"] - time.time()) < 60, claims
    assert claims["iat"] < claims["exp"] <= claims["iat"] + 120, f"exp must be at most 2 minutes after iat: {claims}"
    assert isinstance(claims["jti"], str) and claims["jti"], claims
    assert claims["sub"] == sub, claims
    assert claims["sid"] == sid, claims
    assert claims["events"] == {BACKCHANNEL_EVENT: {}}, claims
    assert "nonce" not in claims, f"a logout token never carries a nonce: {claims}"
    return claims


def assert_signature_verifies(token: str, jwks: dict) -> None:
    """The signature alone (an ID token has no jti, so verify_with_joserfc's claim checks do not apply)."""
    import warnings

    from joserfc import jwt
    from joserfc.jwk import KeySet

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="EdDSA is deprecated")
        jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["ES256", "RS256", "EdDSA"])


def unix_time(value) -> float:
    """Seconds since the epoch from an integer or an RFC 3339 string."""
    assert not isinstance(value, bool)
    if isinstance(value, (int, float)):
        return float(value)
    assert isinstance(value, str), value
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# -- fixtures ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def receiver():
    listener = BackChannelReceiver()
    yield listener
    listener.close()


@pytest.fixture(scope="module")
def server(module_server) -> Server:
    return module_server


@pytest.fixture(scope="module")
def rp(module_warden, server) -> Client:
    """The relying party most RP-initiated logout tests use (no back-channel URI)."""
    return new_rp(module_warden, (server,), "Photo Book")


@pytest.fixture(scope="module")
def other_rp(module_warden, server) -> Client:
    return new_rp(module_warden, (server,), "Other App", post_logout=(OTHER_SIGNED_OUT,))


@pytest.fixture(scope="module")
def introspector(module_warden, server) -> Client:
    """A confidential client that introspects."""
    client = module_warden.create_client(name="api", scope="", audiences=(), auth_method="client_secret_post")
    wait_until(lambda: server.introspect(client, "x").status_code != 401,
               message="a client created with the CLI did not reach the server")
    return client


@pytest.fixture
def new_user(module_warden):
    def make() -> User:
        return module_warden.create_user("u" + secrets.token_hex(5))
    return make


# -- discovery ---------------------------------------------------------------------------------------


def test_discovery_advertises_end_session_and_back_channel_logout(server):
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        response = requests.get(server.url(path), timeout=10)
        assert response.status_code == 200, (path, response.text)
        document = response.json()
        assert document["end_session_endpoint"] == server.issuer + "/logout", (path, document)
        assert document.get("backchannel_logout_supported") is True, (path, document)
        assert document.get("backchannel_logout_session_supported") is True, (path, document)


# -- 1. RP-Initiated Logout with the current session's id_token_hint -----------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("with_client_id", [False, True], ids=["hint-only", "hint-and-client-id"])
def test_logout_with_the_current_session_s_id_token_hint_ends_it_at_once_and_redirects_with_state(
        module_warden, server, rp, new_user, method, with_client_id):
    user = new_user()
    signed = sign_in(server, rp, user)
    elsewhere = sign_in(server, rp, user)  # the same user in another browser
    state = long_state()
    response = logout(signed.agent, method, id_token_hint=signed.id_token, post_logout_redirect_uri=SIGNED_OUT,
                      state=state, client_id=rp.client_id if with_client_id else None)
    assert_post_logout_redirect(response, SIGNED_OUT, state, 302 if method == "GET" else 303)
    assert_session_cookie_cleared(response)
    assert signed.agent.session_cookie is None, "the browser kept the session cookie"
    # Ended server side at once: not listed, and the old cookie value no longer signs in...
    assert_session_ended(module_warden, server, signed)
    # ... not even silently (the conformance suite's check: prompt=none → login_required).
    params = authorization_params(rp, REDIRECT, scope="openid", challenge=pkce_pair()[1], prompt="none")
    silent = cookie_agent(server, signed.cookie).authorize(params)
    assert_authorization_error(silent, REDIRECT, "login_required", issuer=server.issuer, state=params["state"])
    # Only that browser's session.
    assert_session_alive(module_warden, server, elsewhere)


def test_logout_revokes_the_session_s_grants_but_offline_access_outlives_it(module_warden, server, rp, introspector, new_user):
    """OpenID Connect Core §11: only `offline_access` asks for access while the user is not
    there; the session's other grants end with it (as node-oidc-provider does)."""
    user = new_user()
    signed = sign_in(server, rp, user)
    offline = code_flow(signed.agent, rp, user, scope="openid offline_access", expect_login=False, nonce="n")
    present = signed.tokens
    assert present.get("refresh_token") and offline.get("refresh_token")
    response = logout(signed.agent, "GET", id_token_hint=signed.id_token, post_logout_redirect_uri=SIGNED_OUT)
    assert_post_logout_redirect(response, SIGNED_OUT, None, 302)
    assert_oauth_error(server.refresh(rp, present["refresh_token"]), "invalid_grant")
    assert server.is_active(introspector, present["access_token"]) is False
    refreshed = server.refresh(rp, offline["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    assert "id_token" in refreshed.json() and server.is_active(introspector, offline["access_token"])


def test_logout_without_state_redirects_to_exactly_the_registered_uri(module_warden, server, rp, new_user):
    """The second registered post-logout URI works too; no state → no query at all."""
    signed = sign_in(server, rp, new_user())
    response = logout(signed.agent, "GET", id_token_hint=signed.id_token, post_logout_redirect_uri=GOODBYE)
    assert_post_logout_redirect(response, GOODBYE, None, 302)
    assert_session_cookie_cleared(response)
    assert_session_ended(module_warden, server, signed)


# -- 2. Without id_token_hint (or another session's): a confirmation page --------------------------------


@pytest.mark.parametrize("how", ["get-client-id", "post-client-id", "hint-of-another-session"])
def test_logout_without_the_session_s_hint_asks_for_confirmation_then_ends_the_session(
        module_warden, server, rp, new_user, how):
    user = new_user()
    signed = sign_in(server, rp, user)
    other = sign_in(server, rp, new_user())
    state = long_state()
    if how == "hint-of-another-session":
        response = logout(signed.agent, "GET", id_token_hint=other.id_token, post_logout_redirect_uri=SIGNED_OUT, state=state)
        form = confirmation_form(response, uri=SIGNED_OUT, state=state)
    else:
        response = logout(signed.agent, "GET" if how.startswith("get") else "POST", client_id=rp.client_id,
                          post_logout_redirect_uri=SIGNED_OUT, state=state)
        form = confirmation_form(response, client_id=rp.client_id, uri=SIGNED_OUT, state=state)
    # Asking is not ending: both sessions are alive until the person confirms.
    assert_session_alive(module_warden, server, signed)
    assert_session_alive(module_warden, server, other)

    confirmed = confirm(signed.agent, form)
    assert_post_logout_redirect(confirmed, SIGNED_OUT, state, 303)
    assert_session_cookie_cleared(confirmed)
    assert_session_ended(module_warden, server, signed)
    # The hint named another browser's session: that one is not this browser's to end.
    assert_session_alive(module_warden, server, other)


def test_the_session_s_csrf_token_in_a_logout_url_does_not_end_it(module_warden, server, rp, new_user):
    """Only the confirmation form's POST ends a session: a CSRF token in a URL (which logs
    and referrers keep) gets the confirmation page again."""
    signed = sign_in(server, rp, new_user())
    form = confirmation_form(logout(signed.agent, "GET", client_id=rp.client_id, post_logout_redirect_uri=SIGNED_OUT, state="s"))
    again = logout(signed.agent, "GET", **form.hidden())
    confirmation_form(again, client_id=rp.client_id, uri=SIGNED_OUT, state="s")
    assert_session_alive(module_warden, server, signed)
    assert_post_logout_redirect(confirm(signed.agent, form), SIGNED_OUT, "s", 303)
    assert_session_ended(module_warden, server, signed)


@pytest.mark.parametrize("variant", ["missing", "empty", "wrong", "another-session"])
def test_logout_confirmation_with_a_bad_csrf_token_does_not_end_the_session(
        module_warden, server, rp, new_user, variant):
    user = new_user()
    signed = sign_in(server, rp, user)
    form = confirmation_form(logout(signed.agent, "GET", client_id=rp.client_id, post_logout_redirect_uri=SIGNED_OUT, state="s"))
    if variant == "missing":
        answer = confirm(signed.agent, form, csrf_token=None)
    elif variant == "empty":
        answer = confirm(signed.agent, form, csrf_token="")
    elif variant == "wrong":
        answer = confirm(signed.agent, form, csrf_token=secrets.token_urlsafe(32))
    else:
        other = sign_in(server, rp, user)
        foreign = confirmation_form(logout(other.agent, "GET", client_id=rp.client_id)).hidden()["csrf_token"]
        assert foreign != form.hidden()["csrf_token"], "two sessions share one CSRF token"
        answer = confirm(signed.agent, form, csrf_token=foreign)
        assert_session_alive(module_warden, server, other)
    assert answer.status_code in (200, 400, 403), f"{answer.status_code}: {answer.text[:300]!r}"
    page = assert_html_page(answer, answer.status_code)  # never a redirect to the client
    assert "You are signed out" not in page.text
    if answer.status_code == 200:  # asked again, at most
        page.form("/logout")
    assert_cookie_untouched(answer)
    assert_session_alive(module_warden, server, signed)


# -- 3. post_logout_redirect_uri must be one the client registered ------------------------------------


#: name → (send the current session's hint?, client_id to send, post_logout_redirect_uri)
#: "rp" / "other" stand for those clients' ids.
BAD_REDIRECTS = {
    "unregistered": (True, None, "https://evil.example/signed-out"),
    "host-case": (True, None, "https://APP.example.com/signed-out"),
    "path-case": (True, None, "https://app.example.com/Signed-Out"),
    "trailing-slash": (True, None, SIGNED_OUT + "/"),
    "extra-query": (True, None, SIGNED_OUT + "?next=https://evil.example"),
    "empty-query": (True, None, SIGNED_OUT + "?"),
    "fragment": (True, None, SIGNED_OUT + "#x"),
    "the-client-s-redirect-uri": (True, None, REDIRECT),
    "another-client-s-uri": (True, None, OTHER_SIGNED_OUT),
    "client-id-differs-from-hint-aud": (True, "other", SIGNED_OUT),
    "client-id-differs-from-hint-aud-with-its-uri": (True, "other", OTHER_SIGNED_OUT),
    "no-hint-no-client-id": (False, None, SIGNED_OUT),
    "unknown-client-id": (False, "no-such-client", SIGNED_OUT),
    "client-id-with-unregistered-uri": (False, "rp", "https://evil.example/signed-out"),
}


@pytest.mark.parametrize("case", BAD_REDIRECTS.values(), ids=BAD_REDIRECTS.keys())
def test_a_post_logout_redirect_uri_the_client_did_not_register_gets_an_error_page_never_a_redirect(
        module_warden, server, rp, other_rp, new_user, case):
    with_hint, client_id, uri = case
    client_id = {"rp": rp.client_id, "other": other_rp.client_id}.get(client_id, client_id)
    signed = sign_in(server, rp, new_user())
    for method in ("GET", "POST"):
        response = logout(signed.agent, method, id_token_hint=signed.id_token if with_hint else None,
                          client_id=client_id, post_logout_redirect_uri=uri, state="st")
        assert_error_page(response)
    # Refused means nothing happened.
    assert_session_alive(module_warden, server, signed)


# -- 4. Without post_logout_redirect_uri: the signed-out page -------------------------------------------


@pytest.mark.parametrize("how", ["hint", "hint-and-state", "confirmation", "only-state"])
def test_logout_without_a_post_logout_redirect_uri_shows_the_signed_out_page(module_warden, server, rp, new_user, how):
    signed = sign_in(server, rp, new_user())
    if how.startswith("hint"):
        response = logout(signed.agent, "GET", id_token_hint=signed.id_token, state="ignored" if how == "hint-and-state" else None)
    else:
        asked = logout(signed.agent, "GET", state="only" if how == "only-state" else None)
        form = confirmation_form(asked)
        assert "post_logout_redirect_uri" not in form.hidden() or not form.hidden()["post_logout_redirect_uri"]
        response = confirm(signed.agent, form)
    assert_session_cookie_cleared(response)
    signed_out_page(signed.agent, response)
    assert_session_ended(module_warden, server, signed)


# -- 5. id_token_hint must be this issuer's, correctly signed; expired is fine ---------------------------


def forge(kind: str, token: str, access_token: str) -> str:
    """An id_token_hint this server did not issue as it stands (the conformance suite's
    oidcc-rp-initiated-logout-modified-id-token-hint is "alg-none")."""
    head, payload, signature = token.split(".")
    header = jwt_header(token)
    if kind == "bad-signature":
        raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
        raw[len(raw) // 2] ^= 0x01
        return f"{head}.{payload}.{b64url(bytes(raw))}"
    if kind == "alg-none":
        return f"{b64url(json.dumps(dict(header, alg='none')).encode())}.{payload}."
    if kind == "other-key-same-kid":
        import jwt as pyjwt
        from cryptography.hazmat.primitives.asymmetric import rsa

        other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return pyjwt.encode(jwt_claims_unverified(token), other_key, algorithm="RS256",
                            headers={"kid": header["kid"], "typ": header.get("typ", "JWT")})
    if kind == "claims-changed":
        changed = dict(jwt_claims_unverified(token), sub="someone-else")
        return f"{head}.{b64url(json.dumps(changed).encode())}.{signature}"
    if kind == "not-a-jwt":
        return "not-a-jwt"
    assert kind == "an-access-token", kind
    assert jwt_header(access_token).get("typ") == "at+jwt"
    return access_token


FORGERIES = ["bad-signature", "alg-none", "other-key-same-kid", "claims-changed", "not-a-jwt", "an-access-token"]


@pytest.mark.parametrize("forgery", FORGERIES)
def test_a_forged_id_token_hint_gets_an_error_page(module_warden, server, rp, new_user, forgery):
    signed = sign_in(server, rp, new_user())
    hint = forge(forgery, signed.id_token, signed.tokens["access_token"])
    for method in ("GET", "POST"):
        response = logout(signed.agent, method, id_token_hint=hint, post_logout_redirect_uri=SIGNED_OUT, state="st")
        assert_error_page(response)
    assert_session_alive(module_warden, server, signed)


def test_an_id_token_hint_of_another_issuer_gets_an_error_page(module_warden, server, rp, new_user):
    """A second server on the same database with another issuer signs with the same keys:
    the signature is good, the client and the session exist; only `iss` differs."""
    user = new_user()
    signed = sign_in(server, rp, user)
    other_server = module_warden.start_server()
    try:
        assert other_server.issuer != server.issuer
        foreign = sign_in(other_server, rp, user)
        assert foreign.claims["iss"] == other_server.issuer
        assert_signature_verifies(foreign.id_token, jwks_of(server))  # good signature, other iss
        for method in ("GET", "POST"):
            response = logout(signed.agent, method, id_token_hint=foreign.id_token, post_logout_redirect_uri=SIGNED_OUT, state="st")
            assert_error_page(response)
        # And the other way round: at the other issuer, this issuer's ID token is the foreign one.
        response = logout(foreign.agent, "GET", id_token_hint=signed.id_token, post_logout_redirect_uri=SIGNED_OUT, state="st")
        assert_error_page(response)
        assert_session_alive(module_warden, server, signed)
        assert foreign.sid in session_ids(module_warden)
    finally:
        assert other_server.stop() == 0
        assert not other_server.stderr().strip(), other_server.stderr()


def test_an_expired_id_token_is_still_accepted_as_id_token_hint(warden):
    warden.write_config({"id_token_lifetime": 2})
    server = warden.start_server()
    client = new_rp(warden, (server,), "short-lived")
    signed = sign_in(server, client, warden.create_user("eve"))
    expires = signed.claims["exp"]
    assert expires - signed.claims["iat"] == 2, signed.claims
    wait_until(lambda: time.time() > expires + 1, timeout=10, message="the ID token did not expire")
    state = long_state()
    response = logout(signed.agent, "GET", id_token_hint=signed.id_token, post_logout_redirect_uri=SIGNED_OUT, state=state)
    assert_post_logout_redirect(response, SIGNED_OUT, state, 302)
    assert_session_cookie_cleared(response)
    assert_session_ended(warden, server, signed)


# -- 6. Back-Channel Logout 1.0 --------------------------------------------------------------------------


def test_back_channel_logout_token_goes_to_each_client_that_got_an_id_token_in_the_ended_session(
        module_warden, server, receiver, new_user, introspector):
    rs256_uri, es256_uri, no_openid_uri, elsewhere_uri = (receiver.endpoint() for _ in range(4))
    rs256 = new_rp(module_warden, (server,), "bcl rs256", backchannel=rs256_uri)
    es256 = new_rp(module_warden, (server,), "bcl es256", backchannel=es256_uri, alg="ES256")
    no_openid = new_rp(module_warden, (server,), "bcl access only", backchannel=no_openid_uri)
    elsewhere = new_rp(module_warden, (server,), "bcl other session", backchannel=elsewhere_uri)
    user = new_user()
    signed = sign_in(server, rs256, user)
    es_tokens = id_token_in_same_session(signed, es256)
    assert jwt_header(es_tokens["id_token"])["alg"] == "ES256"
    assert jwt_header(signed.id_token)["alg"] == "RS256"
    # In the same session a client that asked without openid: an access token, no ID token.
    plain = code_flow(signed.agent, no_openid, user, scope="profile", expect_login=False)
    assert "id_token" not in plain, sorted(plain)
    # The same user in another browser, with a client that is in no way part of this session.
    other = sign_in(server, elsewhere, user)

    response = logout(signed.agent, "GET", id_token_hint=signed.id_token, post_logout_redirect_uri=SIGNED_OUT, state="s")
    assert_post_logout_redirect(response, SIGNED_OUT, "s", 302)

    rs_delivery = receiver.wait_for(rs256_uri, 1)[0]
    es_delivery = receiver.wait_for(es256_uri, 1)[0]
    rs_claims = assert_logout_token(rs_delivery, server, rs256, sub=user.id, sid=signed.sid, alg="RS256")
    es_claims = assert_logout_token(es_delivery, server, es256, sub=user.id, sid=signed.sid, alg="ES256")
    assert rs_claims["jti"] != es_claims["jti"], "jti must be unique"
    # Nothing for the client without an ID token in this session, nor for the other session's.
    time.sleep(QUIET_SECONDS)
    assert receiver.deliveries(no_openid_uri) == [], "a client that got no ID token in the session was told"
    assert receiver.deliveries(elsewhere_uri) == [], "a client of another session was told"
    assert len(receiver.deliveries(rs256_uri)) == 1 and len(receiver.deliveries(es256_uri)) == 1, "a success was sent again"
    assert_session_alive(module_warden, server, other)
    # A logout token is no access token.
    for delivery in (rs_delivery, es_delivery):
        assert server.is_active(introspector, delivery.logout_token) is False


TRIGGERS = ["logout", "sessions-revoke-sid", "sessions-revoke-username", "users-delete", "users-set-password"]


@pytest.mark.parametrize("trigger", TRIGGERS)
def test_back_channel_logout_fires_whenever_the_session_ends(module_warden, server, receiver, new_user, trigger):
    uri = receiver.endpoint()
    client = new_rp(module_warden, (server,), f"bcl {trigger}", backchannel=uri)
    user = new_user()
    signed = sign_in(server, client, user)
    if trigger == "logout":
        response = logout(signed.agent, "POST", id_token_hint=signed.id_token, post_logout_redirect_uri=SIGNED_OUT)
        assert_post_logout_redirect(response, SIGNED_OUT, None, 303)
    else:
        if trigger == "sessions-revoke-sid":
            result = module_warden.run("sessions", "revoke", positional=(signed.sid,))
        elif trigger == "sessions-revoke-username":
            result = module_warden.run("sessions", "revoke", "--username", user.username)
        elif trigger == "users-delete":
            result = module_warden.run("users", "delete", user.username)
        else:
            result = module_warden.run("users", "set-password", user.username, "--password-stdin",
                                       input="changed-" + user.password + "\n")
        assert not result.stderr.strip(), result.stderr
    delivery = receiver.wait_for(uri, 1)[0]
    assert_logout_token(delivery, server, client, sub=user.id, sid=signed.sid)
    assert_session_ended(module_warden, server, signed)


def test_logout_does_not_wait_for_the_back_channel_receiver(module_warden, server, receiver, new_user):
    uri = receiver.endpoint("slow")
    client = new_rp(module_warden, (server,), "bcl slow", backchannel=uri)
    user = new_user()
    signed = sign_in(server, client, user)
    started = time.monotonic()
    response = logout(signed.agent, "GET", id_token_hint=signed.id_token, post_logout_redirect_uri=SIGNED_OUT, state="s")
    elapsed = time.monotonic() - started
    assert_post_logout_redirect(response, SIGNED_OUT, "s", 302)
    assert elapsed < SLOW_RECEIVER_SECONDS / 2, f"/logout took {elapsed:.2f}s: it waited for the receiver"
    delivery = receiver.wait_for(uri, 1)[0]
    assert_logout_token(delivery, server, client, sub=user.id, sid=signed.sid)
    # A 3 s answer is within the 5 s timeout: a success, not retried.
    time.sleep(SLOW_RECEIVER_SECONDS + QUIET_SECONDS)
    assert len(receiver.deliveries(uri)) == 1, "a slow but successful receiver was sent the token again"


def test_a_failing_back_channel_receiver_is_retried_with_the_same_sub_and_sid_at_most_4_attempts(
        module_warden, server, receiver, new_user):
    flaky_uri, broken_uri, hanging_uri = receiver.endpoint("fail-first"), receiver.endpoint("fail-always"), receiver.endpoint("hang-first")
    flaky = new_rp(module_warden, (server,), "bcl flaky", backchannel=flaky_uri)
    broken = new_rp(module_warden, (server,), "bcl broken", backchannel=broken_uri)
    hanging = new_rp(module_warden, (server,), "bcl hanging", backchannel=hanging_uri)
    user = new_user()
    signed = sign_in(server, flaky, user)
    id_token_in_same_session(signed, broken)
    id_token_in_same_session(signed, hanging)
    response = logout(signed.agent, "GET", id_token_hint=signed.id_token, post_logout_redirect_uri=SIGNED_OUT)
    assert_post_logout_redirect(response, SIGNED_OUT, None, 302)
    started = time.monotonic()

    # 500 once: retried, then left alone.
    first, second = receiver.wait_for(flaky_uri, 2, timeout=RETRY_WINDOW)[:2]
    for delivery in (first, second):
        assert_logout_token(delivery, server, flaky, sub=user.id, sid=signed.sid)
    # No answer within 5 s counts as a failure: retried.
    attempts = receiver.wait_for(hanging_uri, 2, timeout=RETRY_WINDOW)
    assert attempts[1].at - attempts[0].at >= 4.0, "retried before the 5 s timeout ran out"
    for delivery in attempts:
        assert_logout_token(delivery, server, hanging, sub=user.id, sid=signed.sid)
    # 500 always: at most 4 attempts in all (1 + 3 retries), with backoff.
    try:
        receiver.wait_for(broken_uri, 4, timeout=max(1.0, RETRY_WINDOW - (time.monotonic() - started)))
    except AssertionError:
        pass  # a slow backoff may not have reached the 4th attempt yet; at least one retry is required below
    broken_attempts = receiver.deliveries(broken_uri)
    gaps = [later.at - earlier.at for earlier, later in zip(broken_attempts, broken_attempts[1:])]
    # Long enough for a 5th attempt to show if the schedule had one (backoff grows: a 5th would
    # come later after the 4th than the 4th did after the 3rd), bounded.
    quiet = min(16.0, max(QUIET_SECONDS * 3, 1.5 * max(gaps, default=0.0) + 2.0))
    time.sleep(quiet)
    broken_attempts = receiver.deliveries(broken_uri)
    assert 2 <= len(broken_attempts) <= 4, f"{len(broken_attempts)} attempts at a failing receiver (expected 2 to 4)"
    for delivery in broken_attempts:
        assert_logout_token(delivery, server, broken, sub=user.id, sid=signed.sid)
    assert len(receiver.deliveries(flaky_uri)) == 2, "a delivery that succeeded on its retry was sent again"
    assert len(receiver.deliveries(hanging_uri)) == 2, "a delivery that succeeded on its retry was sent again"
    assert server.healthy()


def test_a_back_channel_receiver_that_is_down_is_not_fatal(module_warden, server, receiver, new_user):
    down = f"http://127.0.0.1:{free_port()}/bcl"  # nothing listens there
    up = receiver.endpoint()
    down_client = new_rp(module_warden, (server,), "bcl down", backchannel=down)
    up_client = new_rp(module_warden, (server,), "bcl up", backchannel=up)
    user = new_user()
    signed = sign_in(server, down_client, user)
    id_token_in_same_session(signed, up_client)
    response = logout(signed.agent, "GET", id_token_hint=signed.id_token, post_logout_redirect_uri=SIGNED_OUT, state="s")
    assert_post_logout_redirect(response, SIGNED_OUT, "s", 302)
    assert_session_cookie_cleared(response)
    # The other client of the session is still told, and the server carries on.
    delivery = receiver.wait_for(up, 1)[0]
    assert_logout_token(delivery, server, up_client, sub=user.id, sid=signed.sid)
    assert_session_ended(module_warden, server, signed)
    time.sleep(QUIET_SECONDS)  # retries at the dead address run meanwhile
    assert server.process.poll() is None and server.healthy()
    again = sign_in(server, down_client, user)
    assert again.sid != signed.sid
    # (At module teardown, finish() checks the server exits cleanly with nothing on stderr.)


def test_logs_never_carry_the_id_token_hint_the_logout_token_or_the_cookie(module_warden, server, receiver, new_user):
    uri = receiver.endpoint()
    client = new_rp(module_warden, (server,), "bcl logs", backchannel=uri)
    signed = sign_in(server, client, new_user())
    response = logout(signed.agent, "GET", id_token_hint=signed.id_token, post_logout_redirect_uri=SIGNED_OUT, state="s")
    assert_post_logout_redirect(response, SIGNED_OUT, "s", 302)
    delivery = receiver.wait_for(uri, 1)[0]
    time.sleep(0.5)
    logs = server.stdout() + server.stderr()
    for name, secret in (("id_token_hint", signed.id_token), ("logout token", delivery.logout_token),
                         ("session cookie", signed.cookie)):
        assert secret not in logs, f"the {name} was logged"
        signature = secret.split(".")[-1]
        assert len(signature) < 16 or signature not in logs, f"the {name}'s signature was logged"


def test_clients_create_refuses_a_back_channel_logout_uri_that_is_not_https_or_loopback_http(module_warden):
    https = module_warden.create_code_client(
        "bcl https", (REDIRECT,), RP_SCOPE, extra=("--backchannel-logout-uri", "https://rp.example.com/bcl"))
    assert https.raw["backchannel_logout_uri"] == "https://rp.example.com/bcl"
    for uri in ("http://rp.example.com/bcl", "https://rp.example.com/bcl#fragment", "/bcl", "not a uri"):
        result = module_warden.run("clients", "create", "--name", "bad bcl", "--scope", RP_SCOPE,
                                   "--grant-type", "authorization_code", "--redirect-uri", REDIRECT,
                                   "--auth-method", "none", "--backchannel-logout-uri", uri, check=False)
        assert_one_line_failure(result, uri)


# -- 7. warden sessions list / revoke -----------------------------------------------------------------------


def test_sessions_list_shows_each_session_with_its_sid_user_and_times(module_warden, server, rp, new_user):
    alice, bob = new_user(), new_user()
    first, second = sign_in(server, rp, alice), sign_in(server, rp, alice)
    bobs = sign_in(server, rp, bob)
    assert len({first.sid, second.sid, bobs.sid}) == 3, "distinct sessions must have distinct sids"
    now = time.time()
    listed = {entry["sid"]: entry for entry in sessions(module_warden)}
    for signed in (first, second, bobs):
        entry = listed.get(signed.sid)
        assert entry, f"session {signed.sid} (the ID token's sid) is not listed"
        assert {"sid", "user_id", "username", "authenticated_at", "expires_at"} <= set(entry), entry
        assert entry["username"] == signed.user.username and entry["user_id"] == signed.user.id, entry
        authenticated = unix_time(entry["authenticated_at"])
        assert abs(authenticated - now) < 120, entry
        assert abs(authenticated - signed.claims["auth_time"]) <= 1, (entry, signed.claims)
        assert unix_time(entry["expires_at"]) > now, entry
    for entry in listed.values():
        assert first.cookie not in json.dumps(entry), "the session cookie value is listed"
    mine = sessions(module_warden, alice.username)
    assert {entry["sid"] for entry in mine} == {first.sid, second.sid}, mine
    assert all(entry["username"] == alice.username for entry in mine), mine
    # The text output names the sessions too (and only the asked-for user's).
    text = module_warden.run("sessions", "list", "--username", alice.username).stdout
    assert first.sid in text and second.sid in text and bobs.sid not in text, text
    assert first.cookie not in text and second.cookie not in text
    text = module_warden.run("sessions", "list").stdout
    assert all(signed.sid in text for signed in (first, second, bobs)), text


def test_sessions_revoke_sid_ends_that_session_only(module_warden, server, rp, new_user):
    user = new_user()
    ended, kept = sign_in(server, rp, user), sign_in(server, rp, user)
    result = module_warden.run("sessions", "revoke", positional=(ended.sid,))
    assert not result.stderr.strip(), result.stderr
    assert_session_ended(module_warden, server, ended)
    assert_session_alive(module_warden, server, kept)
    # Ended is ended: the same sid again is unknown.
    assert_one_line_failure(module_warden.run("sessions", "revoke", positional=(ended.sid,), check=False))


def test_sessions_revoke_username_ends_every_session_of_that_user_only(module_warden, server, receiver, new_user):
    uri = receiver.endpoint()
    client = new_rp(module_warden, (server,), "bcl revoke all", backchannel=uri)
    user, bystander = new_user(), new_user()
    first, second = sign_in(server, client, user), sign_in(server, client, user)
    untouched = sign_in(server, client, bystander)
    module_warden.run("sessions", "revoke", "--username", user.username)
    assert session_ids(module_warden, user.username) == set()
    for signed in (first, second):
        assert_session_ended(module_warden, server, signed)
    assert_session_alive(module_warden, server, untouched)
    deliveries = receiver.wait_for(uri, 2)
    claims = [jwt_claims_unverified(delivery.logout_token) for delivery in deliveries]
    assert {claim["sid"] for claim in claims} == {first.sid, second.sid}, claims
    for delivery, claim in zip(deliveries, claims):
        assert_logout_token(delivery, server, client, sub=user.id, sid=claim["sid"])
    assert claims[0]["jti"] != claims[1]["jti"], "jti must be unique"
    time.sleep(QUIET_SECONDS)
    assert len(receiver.deliveries(uri)) == 2, "the bystander's session was reported as ended"


def test_sessions_revoke_an_unknown_sid_fails_with_one_line(module_warden, server, rp, new_user):
    signed = sign_in(server, rp, new_user())
    result = module_warden.run("sessions", "revoke", positional=("no-such-session-" + secrets.token_hex(8),), check=False)
    assert_one_line_failure(result)
    assert_session_alive(module_warden, server, signed)


# -- 8. Headless Chromium: an end-to-end logout, and the pages at desktop width and 390 px ------------------


@pytest.fixture(scope="module")
def chromium():
    browser = headless_chromium(browser_log=True)
    yield browser
    browser.quit()


@pytest.fixture(scope="module")
def callback():
    listener = RedirectCatcher("/callback")
    yield listener
    listener.close()


@pytest.fixture(scope="module")
def signed_out():
    listener = RedirectCatcher("/signed-out")
    yield listener
    listener.close()


@pytest.fixture
def browser(chromium, callback, signed_out):
    """The shared Chromium with no cookies (signed out) and empty listeners."""
    chromium.execute_cdp_cmd("Network.clearBrowserCookies", {})
    chromium.set_window_size(1280, 900)
    chromium.get_log("browser")
    callback.drain()
    signed_out.drain()
    return chromium


def on_server(browser, server) -> bool:
    return browser.current_url.startswith(server.base_url + "/")


def browser_sign_in(browser, server: Server, client: Client, user: User, callback: RedirectCatcher) -> dict:
    """Chromium signs in at the login page; the code lands at the loopback callback and is redeemed."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    verifier, challenge = pkce_pair()
    params = authorization_params(client, callback.redirect_uri, scope=OIDC_SCOPE, challenge=challenge,
                                  nonce=secrets.token_urlsafe(12))
    browser.get(server.url("/authorize?" + urlencode(params)))
    assert browser.find_elements(By.CSS_SELECTOR, "form[action='/login']"), "no login page"
    browser.find_element(By.ID, "username").send_keys(user.username)
    browser.find_element(By.ID, "password").send_keys(user.password)
    browser.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type=submit]").click()
    WebDriverWait(browser, 15).until(lambda b: b.current_url.startswith(callback.redirect_uri))
    query = callback.wait()["query"]
    assert query.get("state") == params["state"] and "code" in query, query
    response = server.code_token(client, query["code"], redirect_uri=callback.redirect_uri, code_verifier=verifier)
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert "id_token" in tokens, sorted(tokens)
    assert browser.get_cookie(SESSION_COOKIE), "Chromium holds no session cookie after sign-in"
    return tokens


def assert_page_is_sound(browser):
    """No script, the same-origin stylesheet applied, nothing refused by the CSP."""
    assert browser.execute_script("return document.scripts.length") == 0
    origin = browser.execute_script("return location.origin")
    sheets = browser.execute_script("return Array.from(document.styleSheets).map(s => s.href)")
    assert sheets and all(href and href.startswith(origin + "/") for href in sheets), sheets
    assert browser.execute_script("return getComputedStyle(document.querySelector('main')).maxWidth") != "none", (
        "the stylesheet was not applied")
    problems = [entry["message"] for entry in browser.get_log("browser")
                if "Content Security Policy" in entry["message"] or "Refused" in entry["message"]]
    assert not problems, problems


def screenshots(browser, name: str) -> None:
    """The page at desktop width and at 390 px (a phone), each saved for a person to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    for width, height, suffix in ((1280, 900, "desktop"), (390, 844, "390px")):
        browser.set_window_size(width, height)
        assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth"), (
            f"{name} scrolls sideways at {width} px")
        path = ARTIFACTS / f"{name}-{suffix}.png"
        assert browser.save_screenshot(str(path)), f"could not save {path}"
    browser.set_window_size(1280, 900)


def test_rp_initiated_logout_end_to_end_in_chromium(browser, module_warden, server, receiver, callback, signed_out, new_user):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    bcl = receiver.endpoint()
    client = new_rp(module_warden, (server,), "Chromium RP", redirect=callback.redirect_uri,
                    post_logout=(signed_out.redirect_uri,), backchannel=bcl)
    user = new_user()
    tokens = browser_sign_in(browser, server, client, user, callback)
    claims = jwt_claims_unverified(tokens["id_token"])
    assert claims["sid"] in session_ids(module_warden)
    state = long_state()
    browser.get(server.url("/logout?" + urlencode({
        "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": signed_out.redirect_uri, "state": state})))
    WebDriverWait(browser, 15).until(lambda b: b.current_url.startswith(signed_out.redirect_uri))
    assert signed_out.wait()["query"] == {"state": state}
    assert browser.get_cookie(SESSION_COOKIE) is None, "Chromium still holds the session cookie"
    delivery = receiver.wait_for(bcl, 1)[0]
    assert_logout_token(delivery, server, client, sub=user.id, sid=claims["sid"])
    assert claims["sid"] not in session_ids(module_warden)
    # Back at the app's sign-in: Warden asks for the password again.
    browser.get(server.url("/authorize?" + urlencode(authorization_params(
        client, callback.redirect_uri, scope=OIDC_SCOPE, challenge=pkce_pair()[1]))))
    assert on_server(browser, server) and browser.find_elements(By.CSS_SELECTOR, "form[action='/login']"), (
        "signed out, yet not asked to sign in")
    assert callback.requests.empty(), "a code was issued without signing in"


def test_rp_initiated_logout_by_a_cross_site_form_post_in_chromium(browser, module_warden, server, callback, signed_out, new_user):
    """An application's page on another site (http://localhost:PORT; Warden is at 127.0.0.1) POSTs
    the logout form, as RP-Initiated Logout §2 allows. The SameSite=Lax session cookie does not
    travel with a cross-site POST, so that request alone cannot show Warden the session. Whatever
    Warden does about it (a confirmation page, a redirect to GET /logout), the person must end
    up signed out, back at the post_logout_redirect_uri with the state: never sent back still
    signed in."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    client = new_rp(module_warden, (server,), "Cross-site RP", redirect=callback.redirect_uri,
                    post_logout=(signed_out.redirect_uri,))
    tokens = browser_sign_in(browser, server, client, new_user(), callback)
    sid = jwt_claims_unverified(tokens["id_token"])["sid"]
    state = "post-" + secrets.token_urlsafe(8)
    fields = {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": signed_out.redirect_uri, "state": state}
    inputs = "".join(f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'
                     for name, value in fields.items())
    signed_out.pages["/rp-logout"] = (
        f'<!doctype html><title>RP</title><form method="post" action="{html.escape(server.url("/logout"))}">'
        f'{inputs}<button id="go" type="submit">Log out</button></form>')
    browser.get(f"http://localhost:{signed_out.port}/rp-logout")
    browser.find_element(By.ID, "go").click()
    confirm_button = "form[action='/logout'] button[name=decision][value=logout]"
    WebDriverWait(browser, 15, ignored_exceptions=(WebDriverException,)).until(
        lambda b: b.current_url.startswith(signed_out.redirect_uri)
        or (on_server(b, server) and b.find_elements(By.CSS_SELECTOR, confirm_button)),
        message="the cross-site logout POST reached neither the post_logout_redirect_uri nor a confirmation page")
    if on_server(browser, server):  # asked to confirm: one click
        browser.find_element(By.CSS_SELECTOR, confirm_button).click()
        WebDriverWait(browser, 15).until(lambda b: b.current_url.startswith(signed_out.redirect_uri))
    assert signed_out.wait()["query"] == {"state": state}
    assert sid not in session_ids(module_warden), "sent back to the application while still signed in"
    assert browser.get_cookie(SESSION_COOKIE) is None, "Chromium still holds the session cookie"


def test_logout_confirmation_page_in_chromium(browser, module_warden, server, receiver, callback, signed_out, new_user):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    bcl = receiver.endpoint()
    client = new_rp(module_warden, (server,), "Photo Book (confirmation)", redirect=callback.redirect_uri,
                    post_logout=(signed_out.redirect_uri,), backchannel=bcl)
    user = new_user()
    tokens = browser_sign_in(browser, server, client, user, callback)
    sid = jwt_claims_unverified(tokens["id_token"])["sid"]
    state = "confirm-" + secrets.token_urlsafe(8)
    browser.get(server.url("/logout?" + urlencode({
        "client_id": client.client_id, "post_logout_redirect_uri": signed_out.redirect_uri, "state": state})))
    assert on_server(browser, server), browser.current_url
    assert "Sign out" in browser.title, browser.title
    button = browser.find_element(By.CSS_SELECTOR, "form[action='/logout'] button[name=decision][value=logout]")
    assert button.is_displayed() and button.text.strip(), "no visible sign-out button"
    assert_page_is_sound(browser)
    screenshots(browser, "logout-confirmation")
    assert sid in session_ids(module_warden), "showing the confirmation page ended the session"
    browser.find_element(By.CSS_SELECTOR, "form[action='/logout'] button[name=decision][value=logout]").click()
    WebDriverWait(browser, 15).until(lambda b: b.current_url.startswith(signed_out.redirect_uri))
    assert signed_out.wait()["query"] == {"state": state}
    assert browser.get_cookie(SESSION_COOKIE) is None
    assert sid not in session_ids(module_warden)
    delivery = receiver.wait_for(bcl, 1)[0]
    assert_logout_token(delivery, server, client, sub=user.id, sid=sid)


def test_signed_out_page_in_chromium(browser, module_warden, server, callback, signed_out, new_user):
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    client = new_rp(module_warden, (server,), "Photo Book (signed out)", redirect=callback.redirect_uri,
                    post_logout=(signed_out.redirect_uri,))
    tokens = browser_sign_in(browser, server, client, new_user(), callback)
    sid = jwt_claims_unverified(tokens["id_token"])["sid"]
    browser.get(server.url("/logout"))
    assert "Sign out" in browser.title, browser.title
    browser.find_element(By.CSS_SELECTOR, "form[action='/logout'] button[name=decision][value=logout]").click()
    WebDriverWait(browser, 15, ignored_exceptions=(WebDriverException,)).until(
        lambda b: "You are signed out" in b.find_element(By.TAG_NAME, "body").text)
    assert on_server(browser, server), browser.current_url
    assert browser.get_cookie(SESSION_COOKIE) is None
    assert sid not in session_ids(module_warden)
    assert signed_out.requests.empty(), "no post_logout_redirect_uri was given, yet the app was called"
    assert_page_is_sound(browser)
    screenshots(browser, "signed-out")


# -- 9. PostgreSQL: the same, and across two instances on one database --------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request, tmp_path):
    """(installation, servers): one server on SQLite; two instances of one issuer on one PostgreSQL database."""
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")  # set up first, so torn down after the servers stop
        installation = Warden(tmp_path / "postgres", database_url=url)
        first = installation.start_server()
        servers = (first, installation.start_server(issuer=first.issuer))
        assert not installation.database.exists(), "a SQLite file appeared"
    else:
        installation = Warden(tmp_path / "sqlite")
        servers = (installation.start_server(),)
    yield installation, servers
    finish(installation)


def test_back_channel_logout_on_sessions_revoke_on_both_backends(backend, receiver):
    installation, servers = backend
    a = servers[0]
    uri = receiver.endpoint()
    client = new_rp(installation, servers, "bcl backend", backchannel=uri)
    user = installation.create_user("pat")
    signed = sign_in(a, client, user)
    for server in servers:  # the session is seen by every instance
        assert cookie_signs_in(server, signed.cookie, client)
    assert session_ids(installation, user.username) == {signed.sid}
    result = installation.run("sessions", "revoke", positional=(signed.sid,))
    assert not result.stderr.strip(), result.stderr
    delivery = receiver.wait_for(uri, 1)[0]
    assert_logout_token(delivery, servers[-1], client, sub=user.id, sid=signed.sid)
    for server in servers:
        assert not cookie_signs_in(server, signed.cookie, client), f"the session still signs in at {server.base_url}"
    assert session_ids(installation, user.username) == set()
    time.sleep(QUIET_SECONDS)
    assert len(receiver.deliveries(uri)) == 1, "one ended session, several logout tokens (each instance sent one?)"


def test_logout_at_instance_b_ends_a_session_made_at_instance_a_on_postgres(postgres_url, tmp_path, receiver):
    installation = Warden(tmp_path / "pair", database_url=postgres_url)
    try:
        a = installation.start_server()
        b = installation.start_server(issuer=a.issuer)
        uri = receiver.endpoint()
        client = new_rp(installation, (a, b), "bcl pair", backchannel=uri)
        user = installation.create_user("quinn")

        # With the session's id_token_hint: made at A, ended at B (one cookie jar: cookies are per host).
        signed = sign_in(a, client, user)
        at_b = UserAgent(b)
        at_b.http = signed.agent.http
        state = long_state()
        response = logout(at_b, "GET", id_token_hint=signed.id_token, post_logout_redirect_uri=SIGNED_OUT, state=state)
        assert_post_logout_redirect(response, SIGNED_OUT, state, 302)
        assert_session_cookie_cleared(response)
        assert_session_ended(installation, a, signed)
        delivery = receiver.wait_for(uri, 1)[0]
        assert_logout_token(delivery, a, client, sub=user.id, sid=signed.sid)

        # Confirmation page from A, confirmed at B (the CSRF token holds across instances).
        second = sign_in(a, client, user)
        form = confirmation_form(logout(second.agent, "GET", client_id=client.client_id,
                                        post_logout_redirect_uri=SIGNED_OUT, state="x"))
        at_b = UserAgent(b)
        at_b.http = second.agent.http
        confirmed = confirm(at_b, form)
        assert_post_logout_redirect(confirmed, SIGNED_OUT, "x", 303)
        assert_session_ended(installation, a, second)
        deliveries = receiver.wait_for(uri, 2)
        assert_logout_token(deliveries[1], b, client, sub=user.id, sid=second.sid)
        time.sleep(QUIET_SECONDS)
        assert len(receiver.deliveries(uri)) == 2, "one ended session, several logout tokens"
    finally:
        finish(installation)
