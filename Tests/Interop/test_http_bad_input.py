"""HTTP-level bad input against the live binary (issue "prove it holds under bad input").

Every request here is written byte for byte on a raw socket (interop.raw_request),
because `requests` would normalise exactly what is under test: it re-quotes bad
percent-escapes and raw bytes in URLs, adds headers and cannot send broken framing.

For every case: no 5xx; the answer is the one the specs call for (RFC 6749 §5.2
JSON on /token, /introspect and /revoke; an HTML error page, or an RFC 6749 §4.1.2.1
redirect with `error`, `state` and `iss`, at /authorize; an HTML error page at /login
and /consent); /healthz answers 200 right after; and, unless the case says why it may
write, the SQLite database (file and WAL, interop.Warden.database_bytes) is byte for
byte what it was before the request. That comparison is meaningful here: nothing in
this module ever creates a row that expires (no codes, no grants, sessions live for
hours), so the server's background purge has nothing to delete and never writes, and
readers in WAL mode touch only the -shm file, which is not compared.

Requests rejected by the HTTP parser itself (header block over its limit, broken
framing, raw non-ASCII bytes in the request target) never reach an endpoint: they get a
bare 4xx and the connection is closed, and that is what those cases assert.

Rate limits are tested in test_security_checklist.py; this installation raises them
(interop.NO_FAILURE_LIMITS) because many cases fail client authentication or a login on
purpose, and a 429 there would hide what the input itself does."""

from __future__ import annotations

import base64
import json
import socket
import time
from dataclasses import dataclass
from typing import Callable
from urllib.parse import parse_qs, parse_qsl, urlencode

import pytest
import requests

from interop import (
    LOGIN_ERROR,
    NO_FAILURE_LIMITS,
    PRELOGIN_COOKIE,
    SESSION_COOKIE,
    SPEC_ERROR_CODES,
    Client,
    Page,
    RawResponse,
    Server,
    User,
    UserAgent,
    Warden,
    assert_authorization_error,
    assert_html_page,
    assert_oauth_error,
    authorization_params,
    finish,
    pkce_pair,
    raw_request,
    read_raw_response,
)

API = "https://api.example.com"
REDIRECT = "http://127.0.0.1:8765/callback"
FORM = "application/x-www-form-urlencoded"
STATE = "state-1"
TOKEN_ENDPOINTS = ("/token", "/introspect", "/revoke")
POST_ENDPOINTS = TOKEN_ENDPOINTS + ("/login", "/consent")
#: Seconds a server that checks Content-Length against its cap needs to refuse a body it
#: has not received: it can answer at once, so this is generous.
UPFRONT_REFUSAL_SECONDS = 1.5


# -- the installation shared by the module (no test changes its state) ------------------


@dataclass
class Browser:
    """A browser: its cookie (the signed pre-login one before sign-in, the session after)
    and the hidden fields of the form it was shown."""

    cookie: str
    csrf: str
    authorization_request: str
    cookie_name: str = SESSION_COOKIE


@dataclass
class Env:
    warden: Warden
    server: Server
    basic: Client
    post: Client
    spa: Client
    user: User
    access_token: str  # a live access token of `post`
    challenge: str
    anonymous: Browser  # at the login page
    logged_in: Browser  # the user logged in, at the consent page


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    warden = Warden(tmp_path_factory.mktemp("http-bad-input"), config=NO_FAILURE_LIMITS)
    server = warden.start_server()
    basic = warden.create_client(name="basic", scope="invoices:read", audiences=(API,))
    post = warden.create_client(name="post", scope="invoices:read", audiences=(API,), auth_method="client_secret_post")
    spa = warden.create_code_client("spa", (REDIRECT,), "profile email")
    user = warden.create_user("alice")
    _, challenge = pkce_pair()
    params = authorization_params(spa, REDIRECT, scope="profile", state=STATE, challenge=challenge)

    agent = UserAgent(server)
    page = assert_html_page(agent.authorize(params), 200)
    form = page.form("/login").hidden()
    anonymous = Browser(agent.http.cookies.get(PRELOGIN_COOKIE), form["csrf_token"], form["authorization_request"], PRELOGIN_COOKIE)

    agent = UserAgent(server)
    login = agent.login(agent.authorize(params), user.username, user.password)
    assert login.status_code == 303, login.text
    consent = Page.parse(agent.follow(login).text)
    assert consent.is_consent
    form = consent.form("/consent").hidden()
    logged_in = Browser(agent.session_cookie, form["csrf_token"], form["authorization_request"])

    warden.wait_for_cli_events_logged()
    yield Env(warden, server, basic, post, spa, user, server.access_token(post), challenge, anonymous, logged_in)
    finish(warden)


# -- writing requests -------------------------------------------------------------------


def encode(pairs: list[tuple[str, str]]) -> bytes:
    """application/x-www-form-urlencoded; a NUL becomes %00, a quote %27 and so on."""
    return urlencode(pairs).encode()


def http(
    env: Env,
    method: str,
    target: str | bytes,
    *,
    body: bytes | None = None,
    content_type: str | None = FORM,
    cookie: Browser | None = None,
    headers: list[bytes] | tuple[bytes, ...] = (),
) -> bytes:
    """A complete HTTP/1.1 request, byte for byte (the server closes after answering)."""
    target = target.encode() if isinstance(target, str) else target
    lines = [method.encode() + b" " + target + b" HTTP/1.1", f"Host: 127.0.0.1:{env.server.port}".encode(), b"Connection: close"]
    if body is not None and content_type is not None:
        lines.append(b"Content-Type: " + content_type.encode())
    if body is not None:
        lines.append(b"Content-Length: %d" % len(body))
    if cookie is not None:
        lines.append(f"Cookie: {cookie.cookie_name}={cookie.cookie}".encode())
    lines += list(headers)
    return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")


# Valid requests, one per kind, that the cases below spoil one thing at a time. The
# /login and /consent ones would log in and issue a code as they are (the right
# password, the right CSRF token): spoiling any single parameter must prevent that.

def token_cc(env: Env) -> list[tuple[str, str]]:
    return [("grant_type", "client_credentials"), ("client_id", env.post.client_id),
            ("client_secret", env.post.client_secret), ("scope", "invoices:read"), ("resource", API)]


def token_code(env: Env) -> list[tuple[str, str]]:
    # An unknown code: a real one would be consumed (a write) by the first case.
    return [("grant_type", "authorization_code"), ("client_id", env.spa.client_id), ("code", "c" * 43),
            ("redirect_uri", REDIRECT), ("code_verifier", "v" * 43)]


def token_refresh(env: Env) -> list[tuple[str, str]]:
    return [("grant_type", "refresh_token"), ("client_id", env.spa.client_id), ("refresh_token", "r" * 43),
            ("scope", "profile")]


def introspect(env: Env) -> list[tuple[str, str]]:
    return [("token", env.access_token), ("token_type_hint", "access_token"), ("client_id", env.post.client_id),
            ("client_secret", env.post.client_secret)]


def revoke(env: Env) -> list[tuple[str, str]]:
    # Not a live token: revoking a live one writes (the case that does is in the security checklist).
    return [("token", "not-a-token"), ("token_type_hint", "access_token"), ("client_id", env.post.client_id),
            ("client_secret", env.post.client_secret)]


def authorize(env: Env) -> list[tuple[str, str]]:
    return [("response_type", "code"), ("client_id", env.spa.client_id), ("redirect_uri", REDIRECT),
            ("scope", "profile"), ("state", STATE), ("code_challenge", env.challenge),
            ("code_challenge_method", "S256"), ("nonce", "n-1")]


def login(env: Env) -> list[tuple[str, str]]:
    return [("csrf_token", env.anonymous.csrf), ("authorization_request", env.anonymous.authorization_request),
            ("username", env.user.username), ("password", env.user.password)]


def consent(env: Env) -> list[tuple[str, str]]:
    return [("csrf_token", env.logged_in.csrf), ("authorization_request", env.logged_in.authorization_request),
            ("decision", "allow")]


BASELINES: dict[str, Callable[[Env], list[tuple[str, str]]]] = {
    "token_cc": token_cc, "token_code": token_code, "token_refresh": token_refresh, "introspect": introspect,
    "revoke": revoke, "authorize": authorize, "login": login, "consent": consent,
}
PATHS = {"token_cc": "/token", "token_code": "/token", "token_refresh": "/token", "introspect": "/introspect",
         "revoke": "/revoke", "authorize": "/authorize", "login": "/login", "consent": "/consent"}
#: The baseline each POST endpoint's generic cases start from.
POST_BASELINE = {"/token": "token_cc", "/introspect": "introspect", "/revoke": "revoke", "/login": "login",
                 "/consent": "consent"}


def cookie_for(env: Env, path: str) -> Browser | None:
    """/authorize and /login get the anonymous browser's signed pre-login cookie;
    /consent the logged-in session."""
    if path in ("/authorize", "/login"):
        return env.anonymous
    if path == "/consent":
        return env.logged_in
    return None


def send_pairs(env: Env, kind: str, pairs: list[tuple[str, str]] | bytes) -> bytes:
    """The request of baseline `kind` carrying `pairs` (or an already encoded body/query)."""
    path = PATHS[kind]
    encoded = pairs if isinstance(pairs, bytes) else encode(pairs)
    if path == "/authorize":
        return http(env, "GET", b"/authorize?" + encoded, cookie=cookie_for(env, path))
    return http(env, "POST", path, body=encoded, cookie=cookie_for(env, path))


def replaced(pairs, name, value):
    return [(key, value if key == name else old) for key, old in pairs]


def raw_pairs(pairs, name: str, raw_value: bytes) -> bytes:
    """`pairs` encoded, with the value of `name` replaced by raw (unencoded) bytes."""
    return b"&".join(
        urlencode([(key, value)]).encode() if key != name else key.encode() + b"=" + raw_value for key, value in pairs
    )


# -- what the answers must be --------------------------------------------------------------

Check = Callable[[Env, RawResponse], None]


def oauth(errors: str | set[str] = "invalid_request", status: int | None = 400) -> Check:
    """An RFC 6749 §5.2 error (4xx, JSON, a spec code) and no token."""
    def check(env: Env, raw: RawResponse) -> None:
        response = raw.to_response()
        assert 400 <= response.status_code < 500, f"{response.status_code} {response.text[:300]!r}"
        body = assert_oauth_error(response, errors, status=status)
        assert body["error"] in SPEC_ERROR_CODES
        assert "access_token" not in response.text
    return check


def page(status: int = 400) -> Check:
    """An HTML error page (with the security headers), neither redirecting nor a form."""
    def check(env: Env, raw: RawResponse) -> None:
        response = raw.to_response()
        parsed = assert_html_page(response, status)
        assert not parsed.is_login and not parsed.is_consent, response.text[:500]
        assert "code=" not in response.text
        assert SESSION_COOKIE not in (response.headers.get("Set-Cookie") or "")
    return check


def redirect(error: str, *, status: int = 302) -> Check:
    """RFC 6749 §4.1.2.1 + RFC 9207: back to the registered URI with error, state and iss
    (303 after a POST, RFC 9700 §4.12)."""
    def check(env: Env, raw: RawResponse) -> None:
        assert_authorization_error(raw.to_response(), REDIRECT, error, issuer=env.server.issuer, state=STATE, status=status)
    return check


def login_page(*, failed: bool) -> Check:
    """The login form again: after a failed login with the one generic message, and no session."""
    def check(env: Env, raw: RawResponse) -> None:
        response = raw.to_response()
        parsed = assert_html_page(response, 200)
        assert parsed.is_login, response.text[:500]
        assert parsed.alerts == ([LOGIN_ERROR] if failed else []), parsed.alerts
        assert SESSION_COOKIE not in (response.headers.get("Set-Cookie") or ""), "no session may start here"
    return check


def login_page_carrying(name: str, value: str) -> Check:
    """A parameter whose value is legitimately opaque (state): the login page, carrying it intact."""
    def check(env: Env, raw: RawResponse) -> None:
        login_page(failed=False)(env, raw)
        carried = Page.parse(raw.to_response().text).form("/login").hidden()["authorization_request"]
        assert parse_qs(carried, keep_blank_values=True)[name] == [value], carried[:300]
    return check


def introspection(active: bool) -> Check:
    def check(env: Env, raw: RawResponse) -> None:
        response = raw.to_response()
        assert response.status_code == 200, f"{response.status_code} {response.text[:300]!r}"
        body = response.json()
        assert body["active"] is active, body
        if not active:
            assert body == {"active": False}, body
    return check


def revocation_ok(env: Env, raw: RawResponse) -> None:
    """RFC 7009 §2.2: an unknown or invalid token is no error."""
    response = raw.to_response()
    assert response.status_code == 200, f"{response.status_code} {response.text[:300]!r}"


def refused_by_http(env: Env, raw: RawResponse) -> None:
    """Refused before any endpoint saw it: a 4xx and the connection closed."""
    assert raw.status is not None, f"no answer within {raw.elapsed:.1f}s"
    assert 400 <= raw.status < 500, raw.status
    assert raw.closed, "the server kept a connection whose framing it could not trust"


def any_refusal(env: Env, raw: RawResponse) -> None:
    """A 4xx from the HTTP layer or the endpoint; when it is JSON, an RFC 6749 §5.2 error."""
    assert raw.status is not None, f"no answer within {raw.elapsed:.1f}s"
    assert 400 <= raw.status < 500, (raw.status, raw.body[:300])
    if (raw.header("Content-Type") or "").startswith("application/json"):
        assert_oauth_error(raw.to_response(), SPEC_ERROR_CODES, status=None)


def refused(path: str, status: int = 400) -> Check:
    """What a request an endpoint cannot make sense of gets there."""
    return oauth("invalid_request", status) if path in TOKEN_ENDPOINTS else page(status)


# -- the cases ----------------------------------------------------------------------------------


@dataclass
class Case:
    id: str
    request: Callable[[Env], bytes]
    expect: Check
    #: Why this request may legitimately write (then the byte comparison is skipped).
    writes: str | None = None
    timeout: float = 10.0


CASES: list[Case] = []


def case(id: str, request, expect, **kwargs) -> None:
    CASES.append(Case(id, request, expect, **kwargs))


SQL_VALUES = {"sql-or": "' OR 1=1 --", "sql-drop": '"; DROP TABLE clients; --'}
NUL_VALUE = "abc\x00def"

# What each parameter spoiled with SQL-looking text gets. A NUL anywhere is refused as
# invalid_request (an error page at the browser endpoints) before anything else is looked at.
SQL_EXPECT: dict[str, dict[str, Check]] = {
    "token_cc": {
        "grant_type": oauth("unsupported_grant_type"),
        "client_id": oauth("invalid_client", 401),
        "client_secret": oauth("invalid_client", 401),
        "scope": oauth("invalid_scope"),
        "resource": oauth("invalid_target"),
    },
    "token_code": {
        "grant_type": oauth("unsupported_grant_type"),
        "client_id": oauth("invalid_client", 401),
        "code": oauth("invalid_grant"),
        "redirect_uri": oauth("invalid_grant"),
        "code_verifier": oauth({"invalid_grant", "invalid_request"}),
    },
    "token_refresh": {
        "grant_type": oauth("unsupported_grant_type"),
        "client_id": oauth("invalid_client", 401),
        "refresh_token": oauth("invalid_grant"),
        "scope": oauth({"invalid_grant", "invalid_scope"}),
    },
    "introspect": {
        "token": introspection(False),
        # RFC 7662 §2.1: a hint the server cannot use widens the search; the token is found.
        "token_type_hint": introspection(True),
        "client_id": oauth("invalid_client", 401),
        "client_secret": oauth("invalid_client", 401),
    },
    "revoke": {
        "token": revocation_ok,
        "token_type_hint": revocation_ok,
        "client_id": oauth("invalid_client", 401),
        "client_secret": oauth("invalid_client", 401),
    },
    "authorize": {
        "response_type": redirect("unsupported_response_type"),
        "client_id": page(400),
        "redirect_uri": page(400),
        "scope": redirect("invalid_scope"),
        "state": None,  # opaque: see below
        "code_challenge": redirect("invalid_request"),
        "code_challenge_method": redirect("invalid_request"),
        "nonce": login_page(failed=False),  # an unknown parameter is ignored
    },
    "login": {
        "csrf_token": page(403),
        "authorization_request": page(400),
        "username": login_page(failed=True),
        "password": login_page(failed=True),
    },
    "consent": {
        "csrf_token": page(403),
        "authorization_request": page(400),
        "decision": page(400),
    },
}

for kind, expectations in SQL_EXPECT.items():
    for name, expect in expectations.items():
        for label, value in SQL_VALUES.items():
            check = expect if expect is not None else login_page_carrying(name, value)
            case(f"{label}-{kind}-{name}",
                 lambda env, kind=kind, name=name, value=value: send_pairs(env, kind, replaced(BASELINES[kind](env), name, value)),
                 check)
        case(f"nul-{kind}-{name}",
             lambda env, kind=kind, name=name: send_pairs(env, kind, replaced(BASELINES[kind](env), name, NUL_VALUE)),
             page(400) if kind == "authorize" else refused(PATHS[kind]))

# SQL-looking and NUL-containing HTTP Basic credentials (RFC 6749 §2.3.1: form-url-encoded, then base64).


def basic(user: str, password: str) -> bytes:
    return b"Authorization: Basic " + base64.b64encode(f"{user}:{password}".encode())


for path in TOKEN_ENDPOINTS:
    body = b"grant_type=client_credentials&token=abc"
    for label, value in SQL_VALUES.items():
        quoted = urlencode([("x", value)])[2:]
        case(f"{label}-basic-client-id-{path}", lambda env, path=path, quoted=quoted: http(
            env, "POST", path, body=body, headers=[basic(quoted, env.basic.client_secret)]), oauth("invalid_client", 401))
        case(f"{label}-basic-client-secret-{path}", lambda env, path=path, quoted=quoted: http(
            env, "POST", path, body=body, headers=[basic(env.basic.client_id, quoted)]), oauth("invalid_client", 401))
    case(f"nul-basic-client-secret-{path}", lambda env, path=path: http(
        env, "POST", path, body=body, headers=[basic(env.basic.client_id, env.basic.client_secret + "%00")]),
        oauth({"invalid_client", "invalid_request"}, None))

# -- repeated parameters (RFC 6749 §3.1; `resource` alone may repeat, RFC 8707) ------------------

REPEATABLE_NAMES = {
    "token_cc": ("grant_type", "client_id", "client_secret", "scope"),
    "introspect": ("token", "token_type_hint", "client_id", "client_secret"),
    "revoke": ("token", "token_type_hint", "client_id", "client_secret"),
    "authorize": ("response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge",
                  "code_challenge_method"),
    "login": ("csrf_token", "authorization_request", "username", "password"),
    "consent": ("csrf_token", "authorization_request", "decision"),
}


def repeated(pairs, name, second=None):
    value = dict(pairs)[name]
    return pairs + [(name, value if second is None else second)]


for kind, names in REPEATABLE_NAMES.items():
    for name in names:
        for variant, second in (("same", None), ("empty", "")):
            case(f"repeated-{variant}-{kind}-{name}",
                 lambda env, kind=kind, name=name, second=second: send_pairs(env, kind, repeated(BASELINES[kind](env), name, second)),
                 page(400) if kind == "authorize" else refused(PATHS[kind]))

# -- invalid UTF-8 and invalid percent-encoding ---------------------------------------------------

BAD_ENCODINGS = {
    "pct-invalid-utf8": b"%FF%FE",
    "pct-truncated-utf8": b"%C3%28",
    "pct-overlong-utf8": b"%C0%AF",
    "pct-utf8-surrogate": b"%ED%A0%80",
    "pct-ZZ": b"a%ZZb",
    "lone-pct": b"a%",
    "truncated-pct": b"a%4",
    "raw-invalid-utf8": b"\xff\xfe",
}
#: The parameter each kind carries the bad bytes in (one whose valid values are free-form).
ENCODING_TARGET = {"token_cc": "scope", "introspect": "token", "revoke": "token", "authorize": "state",
                   "login": "username", "consent": "decision"}

for kind, name in ENCODING_TARGET.items():
    for label, raw_value in BAD_ENCODINGS.items():
        if kind == "authorize" and label == "raw-invalid-utf8":
            expect = refused_by_http  # raw non-ASCII in the request target: refused by the HTTP parser
        elif kind == "authorize":
            expect = page(400)  # a query that cannot be decoded cannot be trusted to redirect
        else:
            expect = refused(PATHS[kind])
        case(f"{label}-{kind}-{name}",
             lambda env, kind=kind, name=name, raw_value=raw_value: send_pairs(env, kind, raw_pairs(BASELINES[kind](env), name, raw_value)),
             expect)
    case(f"bad-pct-in-a-name-{kind}",
         lambda env, kind=kind: send_pairs(env, kind, encode(BASELINES[kind](env)) + b"&sc%GGope=x"),
         page(400) if kind == "authorize" else refused(PATHS[kind]))

# -- content types ----------------------------------------------------------------------------


def json_body(pairs) -> bytes:
    return json.dumps(dict(pairs)).encode()


def multipart_body(pairs) -> bytes:
    parts = [f'--x\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n' for name, value in pairs]
    return ("".join(parts) + "--x--\r\n").encode()


CONTENT_TYPES = {
    "missing": (None, encode),
    "empty": ("", encode),
    "text-plain": ("text/plain", encode),
    "json-body": ("application/json", json_body),
    "multipart": ("multipart/form-data; boundary=x", multipart_body),
    "latin1-charset": (FORM + "; charset=iso-8859-1", encode),
    "form-prefix": (FORM + "x", encode),
}

for path, kind in POST_BASELINE.items():
    for label, (content_type, encoder) in CONTENT_TYPES.items():
        case(f"content-type-{label}-{path}",
             lambda env, path=path, kind=kind, content_type=content_type, encoder=encoder: http(
                 env, "POST", path, body=encoder(BASELINES[kind](env)), content_type=content_type,
                 cookie=cookie_for(env, path)),
             refused(path))
    # JSON sent as a form parses as one odd parameter name: no credentials, no CSRF token.
    case(f"json-body-labelled-form-{path}",
         lambda env, path=path, kind=kind: http(env, "POST", path, body=json_body(BASELINES[kind](env)), cookie=cookie_for(env, path)),
         oauth({"invalid_request", "invalid_client"}, None) if path in TOKEN_ENDPOINTS else page(403))

# -- oversized bodies and 10,000 parameters ------------------------------------------------------

CAP = 64 * 1024


def padded(pairs, total: int) -> bytes:
    body = encode(pairs) + b"&padding="
    return body + b"a" * (total - len(body))


def base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, rest = divmod(number, 36)
        text = digits[rest] + text
        if number == 0:
            return text


TEN_THOUSAND = "&".join(f"{base36(i)}=1" for i in range(10_000)).encode()
assert len(TEN_THOUSAND) < CAP


def chunked(env: Env, path: str, body: bytes) -> bytes:
    head = http(env, "POST", path, body=b"", cookie=cookie_for(env, path)).replace(
        b"Content-Length: 0", b"Transfer-Encoding: chunked")
    chunks = b"".join(b"%x\r\n" % len(body[i:i + 1024]) + body[i:i + 1024] + b"\r\n" for i in range(0, len(body), 1024))
    return head + chunks + b"0\r\n\r\n"


for path, kind in POST_BASELINE.items():
    case(f"body-64KiB-plus-1-{path}",
         lambda env, path=path, kind=kind: http(env, "POST", path, body=padded(BASELINES[kind](env), CAP + 1), cookie=cookie_for(env, path)),
         refused(path))
    case(f"body-1MiB-{path}",
         lambda env, path=path, kind=kind: http(env, "POST", path, body=padded(BASELINES[kind](env), 1024 * 1024), cookie=cookie_for(env, path)),
         refused(path))
    case(f"chunked-body-80KiB-{path}",
         lambda env, path=path, kind=kind: chunked(env, path, padded(BASELINES[kind](env), 80 * 1024)),
         refused(path))
    case(f"10000-parameters-{path}",
         lambda env, path=path, kind=kind: http(env, "POST", path, body=encode(BASELINES[kind](env)) + b"&" + TEN_THOUSAND, cookie=cookie_for(env, path)),
         refused(path))
case("10000-parameters-/authorize",
     lambda env: send_pairs(env, "authorize", encode(authorize(env)) + b"&" + TEN_THOUSAND), page(400))

# -- absurdly long values -------------------------------------------------------------------------

KB60 = 60_000
KB100 = 100_000
LONG_REDIRECT = REDIRECT + "/" + "a" * KB60

case("scope-60KB-body-/token", lambda env: send_pairs(env, "token_cc", replaced(token_cc(env), "scope", "a" * KB60)),
     oauth("invalid_scope"))
case("resource-60KB-body-/token",
     lambda env: send_pairs(env, "token_cc", replaced(token_cc(env), "resource", "https://a.example/" + "x" * KB60)),
     oauth("invalid_target"))
case("redirect_uri-60KB-body-/token",
     lambda env: send_pairs(env, "token_code", replaced(token_code(env), "redirect_uri", LONG_REDIRECT)),
     oauth("invalid_grant"))
case("token-60KB-body-/introspect", lambda env: send_pairs(env, "introspect", replaced(introspect(env), "token", "e" * KB60)),
     introspection(False))
case("token-60KB-body-/revoke", lambda env: send_pairs(env, "revoke", replaced(revoke(env), "token", "e" * KB60)),
     revocation_ok)
case("scope-60KB-query-/authorize", lambda env: send_pairs(env, "authorize", replaced(authorize(env), "scope", "a" * KB60)),
     redirect("invalid_scope"))
case("redirect_uri-60KB-query-/authorize",
     lambda env: send_pairs(env, "authorize", replaced(authorize(env), "redirect_uri", LONG_REDIRECT)), page(400))
case("state-60KB-query-/authorize", lambda env: send_pairs(env, "authorize", replaced(authorize(env), "state", "s" * KB60)),
     login_page_carrying("state", "s" * KB60))
# Over the HTTP parser's limit for the request line and headers (80 KiB in SwiftNIO).
case("scope-100KB-query-/authorize", lambda env: send_pairs(env, "authorize", replaced(authorize(env), "scope", "a" * KB100)),
     refused_by_http)
case("redirect_uri-100KB-query-/authorize",
     lambda env: send_pairs(env, "authorize", replaced(authorize(env), "redirect_uri", REDIRECT + "/" + "a" * KB100)),
     refused_by_http)


def with_authorization_request(pairs, **changes):
    """The login/consent form with its carried authorization request changed."""
    carried = dict(parse_qsl(dict(pairs)["authorization_request"], keep_blank_values=True))
    carried.update(changes)
    return replaced(pairs, "authorization_request", urlencode(carried))


case("scope-60KB-in-the-form-/login",
     lambda env: send_pairs(env, "login", with_authorization_request(login(env), scope="a" * KB60)),
     redirect("invalid_scope", status=303))
case("redirect_uri-60KB-in-the-form-/login",
     lambda env: send_pairs(env, "login", with_authorization_request(login(env), redirect_uri=LONG_REDIRECT)), page(400))
case("username-60KB-/login", lambda env: send_pairs(env, "login", replaced(login(env), "username", "u" * KB60)),
     login_page(failed=True))
case("redirect_uri-60KB-in-the-form-/consent",
     lambda env: send_pairs(env, "consent", with_authorization_request(consent(env), redirect_uri=LONG_REDIRECT)), page(400))
case("scope-60KB-in-the-form-/consent",
     lambda env: send_pairs(env, "consent", with_authorization_request(consent(env), scope="a" * KB60)),
     redirect("invalid_scope", status=303))

# -- headers --------------------------------------------------------------------------------------


def basic_header(length: int) -> bytes:
    return b"Authorization: Basic " + b"QUFB" * (length // 4)


case("authorization-header-60KB-/token",
     lambda env: http(env, "POST", "/token", body=b"grant_type=client_credentials", headers=[basic_header(KB60)]),
     oauth("invalid_client", 401))
case("authorization-header-100KB-/token",
     lambda env: http(env, "POST", "/token", body=b"grant_type=client_credentials", headers=[basic_header(KB100)]),
     refused_by_http)
case("one-header-100KB-/token",
     lambda env: http(env, "POST", "/token", body=encode(token_cc(env)), headers=[b"X-Big: " + b"a" * KB100]),
     refused_by_http)
case("header-name-100KB-/token",
     lambda env: http(env, "POST", "/token", body=encode(token_cc(env)), headers=[b"X" * KB100 + b": a"]),
     refused_by_http)
case("cookie-100KB-/authorize",
     lambda env: http(env, "GET", b"/authorize?" + encode(authorize(env)), headers=[b"Cookie: warden_session=" + b"a" * KB100]),
     refused_by_http)


def fresh_login_page(env: Env, raw: RawResponse) -> None:
    """A cookie naming no session: the login page, with a new pre-login cookie of the
    server's making and nothing stored."""
    response = raw.to_response()
    parsed = assert_html_page(response, 200)
    assert parsed.is_login and parsed.alerts == []
    cookie = response.headers.get("Set-Cookie") or ""
    assert cookie.startswith(PRELOGIN_COOKIE + "="), cookie
    assert len(cookie.partition(";")[0]) < 200, "the planted value was kept"


for name in (SESSION_COOKIE, PRELOGIN_COOKIE):
    case(f"cookie-60KB-{name}-/authorize",
         lambda env, name=name: http(env, "GET", b"/authorize?" + encode(authorize(env)),
                                     headers=[f"Cookie: {name}=".encode() + b"a" * KB60]),
         fresh_login_page)
case("1000-headers-/token",
     lambda env: http(env, "POST", "/token", body=encode(token_cc(env)), headers=[b"X-H%d: v" % i for i in range(1000)]),
     refused_by_http)
case("10000-headers-/token",
     lambda env: http(env, "POST", "/token", body=encode(token_cc(env)), headers=[b"X-H%d: v" % i for i in range(10_000)]),
     refused_by_http)
case("10000-cookie-headers-/consent",
     lambda env: http(env, "POST", "/consent", body=encode(consent(env)), cookie=env.logged_in,
                      headers=[b"Cookie: c%d=v" % i for i in range(10_000)]),
     refused_by_http)

# -- broken framing (request smuggling shapes and the like) ----------------------------------


def framed(env: Env, headers: bytes, body: bytes = b"", target: bytes = b"/token", method: bytes = b"POST") -> bytes:
    return (method + b" " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + FORM.encode() + b"\r\n"
            + headers + b"\r\n" + body)


FRAMING = {
    "content-length-and-chunked": (b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"),
    "two-content-lengths": (b"Content-Length: 5\r\nContent-Length: 6\r\n", b"abcdef"),
    "negative-content-length": (b"Content-Length: -1\r\n", b"abc"),
    "non-numeric-content-length": (b"Content-Length: abc\r\n", b"abc"),
    "bad-chunk-size": (b"Transfer-Encoding: chunked\r\n", b"zz\r\nabc\r\n0\r\n\r\n"),
    "nul-in-a-header": (b"X-A: a\x00b\r\nContent-Length: 0\r\n", b""),
    "cr-in-a-header": (b"X-A: a\rb\r\nContent-Length: 0\r\n", b""),
    "obs-fold": (b"X-A: a\r\n b\r\nContent-Length: 0\r\n", b""),
    "header-without-colon": (b"Broken\r\nContent-Length: 0\r\n", b""),
}
for label, (headers, body) in FRAMING.items():
    case(f"framing-{label}", lambda env, headers=headers, body=body: framed(env, headers, body), any_refusal)
case("framing-space-in-the-target", lambda env: framed(env, b"", target=b"/authorize?state=a b", method=b"GET"), any_refusal)
case("framing-nul-in-the-path", lambda env: framed(env, b"", target=b"/tok\x00en", method=b"GET"), any_refusal)
case("framing-bare-lf", lambda env: b"GET /authorize?client_id=x HTTP/1.1\nHost: 127.0.0.1\n\n", any_refusal)
case("framing-http2-preface", lambda env: b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", any_refusal)
case("framing-unknown-version", lambda env: b"GET /healthz HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n", any_refusal)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_request(env, case):
    before = env.warden.database_bytes()
    raw = raw_request(env.server.port, case.request(env), timeout=case.timeout)
    assert raw.status is None or raw.status < 500, f"{case.id}: {raw.status} {raw.body[:300]!r}"
    case.expect(env, raw)
    assert env.server.healthy(), f"/healthz is not 200 right after {case.id}"
    if case.writes is None:
        assert env.warden.database_bytes() == before, f"{case.id} changed the database"


def test_ids_are_unique():
    assert len({c.id for c in CASES}) == len(CASES)


# -- a body announced but never sent ---------------------------------------------------------


ANNOUNCED = (
    [(path, 10_000_000_000, False) for path in POST_ENDPOINTS]
    + [(path, CAP + 1, False) for path in ("/token", "/login")]
    + [(path, 10_000_000_000, True) for path in ("/token", "/login")]
)


@pytest.mark.parametrize(
    "path, length, expect_continue", ANNOUNCED,
    ids=[f"{length}-bytes{'-expect-100-continue' if expect else ''}-{path}" for path, length, expect in ANNOUNCED],
)
def test_announced_oversized_body_is_refused_before_it_is_sent(env, path, length, expect_continue):
    """A Content-Length over the 64 KiB cap can be refused from the header alone; a server
    that waits for the body instead lets any client hold a connection (and its buffers)
    open at no cost. Only the start of the body is ever sent here."""
    before = env.warden.database_bytes()
    kind = POST_BASELINE[path]
    head = http(env, "POST", path, body=b"", cookie=cookie_for(env, path)).replace(
        b"Content-Length: 0", b"Content-Length: %d" % length + (b"\r\nExpect: 100-continue" if expect_continue else b""))
    with socket.create_connection(("127.0.0.1", env.server.port), timeout=10) as sock:
        sock.sendall(head if expect_continue else head + encode(BASELINES[kind](env))[:20])
        raw = read_raw_response(sock, UPFRONT_REFUSAL_SECONDS)
        if raw.status == 100:  # "go ahead" is the wrong answer to a body that can never be accepted
            raw = read_raw_response(sock, UPFRONT_REFUSAL_SECONDS)
    assert raw.status is not None, (
        f"{path}: no answer {UPFRONT_REFUSAL_SECONDS}s after announcing a {length}-byte body: the server waits for it")
    assert 400 <= raw.status < 500, (raw.status, raw.body[:300])
    if path in TOKEN_ENDPOINTS and (raw.header("Content-Type") or "").startswith("application/json"):
        assert_oauth_error(raw.to_response(), "invalid_request", status=raw.status)
    assert env.server.healthy()
    assert env.warden.database_bytes() == before


# -- slow clients -------------------------------------------------------------------------------


def test_slow_clients_do_not_starve_others_and_get_their_answer(env):
    """Slowloris, bounded: 16 connections dribble a body (3 bytes a second) and 8 more the
    header block, for 4 seconds. Meanwhile other clients are served at once. Then each
    slow request is completed and gets the 4xx its content calls for.

    Observed while writing this test: Warden has no read timeout at all: a connection that
    stops sending mid-body, or never sends a request, is kept open indefinitely (over 200 s
    was checked). Nothing in SECURITY.md sets a limit, so this test asserts what is specified
    (others are served; the slow request is answered, never with a 5xx); see the report."""
    before = env.warden.database_bytes()
    body = encode(replaced(token_cc(env), "client_secret", "wrong-secret"))
    body_head = http(env, "POST", "/token", body=body)[: -len(body)]
    header_request = http(env, "GET", b"/authorize?client_id=no-such-client")
    slow_bodies, slow_headers = [], []
    try:
        for _ in range(16):
            sock = socket.create_connection(("127.0.0.1", env.server.port), timeout=10)
            sock.sendall(body_head)
            slow_bodies.append(sock)
        for _ in range(8):
            slow_headers.append(socket.create_connection(("127.0.0.1", env.server.port), timeout=10))
        latencies = []
        sent = 0
        for second in range(4):
            for sock in slow_bodies:
                sock.sendall(body[sent:sent + 3])
            for sock in slow_headers:
                sock.sendall(header_request[sent:sent + 3])
            sent += 3
            start = time.monotonic()
            assert env.server.healthy()
            good = requests.post(env.server.url("/token"), data=token_cc(env), timeout=5)
            latencies.append(time.monotonic() - start)
            assert good.status_code == 200, good.text
            time.sleep(max(0.0, 1.0 - (time.monotonic() - start)))
        assert max(latencies) < 1.0, f"other clients waited while slow ones dribbled: {latencies}"
        # Nothing is answered before the request is complete...
        for sock in slow_bodies[:1] + slow_headers[:1]:
            assert read_raw_response(sock, 0.2).status is None
        # ... and everything is once it is.
        for sock in slow_bodies:
            sock.sendall(body[sent:])
        for sock in slow_headers:
            sock.sendall(header_request[sent:])
        for sock in slow_bodies:
            raw = read_raw_response(sock, 10)
            oauth("invalid_client", 401)(env, raw)
        for sock in slow_headers:
            raw = read_raw_response(sock, 10)
            page(400)(env, raw)
    finally:
        for sock in slow_bodies + slow_headers:
            sock.close()
    assert env.server.healthy()
    assert env.warden.database_bytes() == before


def test_server_survived_everything(env):
    """Runs last: the process is alive, healthy and wrote nothing to standard error."""
    assert env.server.process.poll() is None
    assert env.server.healthy()
    assert env.server.stderr() == ""


# -- stalled connections ----------------------------------------------------------------


def test_a_connection_that_sends_nothing_is_closed_after_the_idle_timeout(tmp_path):
    """connection_idle_timeout: a client that connects and stalls (before a request, or
    halfway through a body) does not hold its connection for ever."""
    warden = Warden(tmp_path / "idle", config={"connection_idle_timeout": 2})
    try:
        server = warden.start_server()
        port = int(server.base_url.rsplit(":", 1)[1])
        stalled_mid_body = (b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                            b"Content-Length: 100\r\n\r\ngrant_type=")
        for opening in (b"", stalled_mid_body):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(opening)
                started = time.monotonic()
                try:
                    while sock.recv(4096):  # an error response may come first; then the close
                        pass
                except ConnectionResetError:
                    pass
                waited = time.monotonic() - started
            assert 1.5 <= waited <= 8, f"closed after {waited:.1f} s, expected about 2 s"
        assert server.healthy()
    finally:
        finish(warden)
