"""Bad input at every endpoint.

INTERFACE.md / SECURITY.md: a request the server cannot make sense of (bad encoding,
repeated parameter, oversized body, wrong content type) gets a 4xx with a spec error,
never a 5xx, and changes nothing stored; the server stays healthy."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import pytest
import requests

from interop import SPEC_ERROR_CODES, assert_oauth_error

API = "https://api.example.com"
FORM = "application/x-www-form-urlencoded"
ENDPOINTS = ("/token", "/introspect", "/revoke")


@pytest.fixture(scope="module")
def clients(module_warden):
    basic = module_warden.create_client(name="basic", scope="invoices:read", audiences=(API,))
    post = module_warden.create_client(
        name="post", scope="invoices:read", audiences=(API,), auth_method="client_secret_post"
    )
    return basic, post


@pytest.fixture(scope="module")
def baseline(module_warden, module_server, clients):
    """What is stored before any bad request (taken once, before the first case)."""
    return dump(module_warden)


def dump(warden) -> dict:
    return {
        table: warden.sql(f"SELECT * FROM {table} ORDER BY 1")
        for table in ("clients", "signing_keys", "revoked_access_tokens")
    }


def basic_header(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


@dataclass
class Case:
    name: str
    body: bytes | None = b""
    content_type: str | None = FORM
    authorization: str | None = "valid"  # "valid": the basic client's credentials
    errors: set = field(default_factory=lambda: {"invalid_request"})
    status: int | None = 400
    method: str = "POST"
    endpoints: tuple = ENDPOINTS
    query: str = ""


def token_body(extra: bytes) -> bytes:
    return b"grant_type=client_credentials&" + extra


def with_token(extra: bytes) -> bytes:
    return b"token=abc&" + extra


def base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, rest = divmod(number, 36)
        text = digits[rest] + text
        if number == 0:
            return text


TEN_THOUSAND_PARAMS = "&".join(f"{base36(i)}=1" for i in range(10_000)).encode()
assert len(TEN_THOUSAND_PARAMS) < 64 * 1024

CASES = [
    # -- methods and content types
    Case("GET", method="GET", body=None, content_type=None, errors=SPEC_ERROR_CODES, status=None),
    Case("PUT", method="PUT", body=b"grant_type=client_credentials", errors=SPEC_ERROR_CODES, status=None),
    Case("DELETE", method="DELETE", body=None, content_type=None, errors=SPEC_ERROR_CODES, status=None),
    Case("JSON body", body=b'{"grant_type": "client_credentials", "token": "abc"}', content_type="application/json"),
    Case("no content type", body=b"grant_type=client_credentials&token=abc", content_type=None),
    Case("text/plain", body=b"grant_type=client_credentials&token=abc", content_type="text/plain"),
    Case("multipart", body=b"--x\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\nclient_credentials\r\n--x--\r\n",
         content_type="multipart/form-data; boundary=x"),
    Case("latin1 charset", body=b"grant_type=client_credentials&token=abc", content_type=FORM + "; charset=iso-8859-1"),
    Case("form content type prefix", body=b"grant_type=client_credentials&token=abc",
         content_type="application/x-www-form-urlencodedx"),
    # -- bodies
    Case("empty body", body=b""),
    Case("empty body, no authentication", body=b"", authorization=None,
         errors={"invalid_client", "invalid_request"}, status=None),
    Case("only ampersands", body=b"&&&&&&"),
    Case("empty parameter name", body=b"=client_credentials&token=abc"),
    Case("10k parameters", body=TEN_THOUSAND_PARAMS),
    Case("body just over 64 KiB", body=token_body(b"scope=" + b"a" * (64 * 1024))),
    Case("body of 1 MiB", body=b"token=abc&grant_type=client_credentials&x=" + b"a" * (1024 * 1024)),
    Case("NUL percent-encoded", body=b"grant_type=client_credentials%00&token=abc%00"),
    Case("raw NUL byte", body=b"grant_type=client_credentials\x00&token=abc\x00"),
    Case("invalid UTF-8 percent-encoded", body=b"grant_type=client_credentials&scope=%FF%FE&token=%C3%28"),
    Case("raw invalid UTF-8", body=b"grant_type=client_credentials&scope=\xff\xfe&token=\xc3\x28"),
    Case("overlong UTF-8", body=b"grant_type=client_credentials&scope=%C0%AF&token=%C0%AF"),
    Case("UTF-8 surrogate", body=b"grant_type=client_credentials&scope=%ED%A0%80&token=%ED%A0%80"),
    Case("bad percent-encoding %ZZ", body=b"grant_type=client%ZZcredentials&token=a%ZZ"),
    Case("truncated percent-encoding", body=b"token=abc&grant_type=client_credentials&scope=%4"),
    Case("lone percent", body=b"token=abc&grant_type=client_credentials&scope=%"),
    Case("bad percent-encoding in a name", body=b"grant_type=client_credentials&token=abc&sc%GGope=x"),
    Case("repeated grant_type / token",
         body=b"grant_type=client_credentials&grant_type=client_credentials&token=a&token=a"),
    Case("repeated scope", body=b"grant_type=client_credentials&scope=invoices:read&scope=invoices:read&token=a&token=b"),
    Case("repeated with an empty value", body=b"grant_type=client_credentials&grant_type=&token=a&token="),
    # -- client authentication
    Case("Basic without colon", body=b"grant_type=client_credentials&token=abc",
         authorization=basic_header("no-colon-here"), errors={"invalid_client", "invalid_request"}, status=None),
    Case("Basic not base64", body=b"grant_type=client_credentials&token=abc",
         authorization="Basic !!!not-base64!!!", errors={"invalid_client", "invalid_request"}, status=None),
    Case("Basic empty", body=b"grant_type=client_credentials&token=abc",
         authorization="Basic ", errors={"invalid_client", "invalid_request"}, status=None),
    Case("Basic only a colon", body=b"grant_type=client_credentials&token=abc",
         authorization=basic_header(":"), errors={"invalid_client", "invalid_request"}, status=None),
    Case("Basic with bad percent-encoding", body=b"grant_type=client_credentials&token=abc",
         authorization=basic_header("%ZZ:%"), errors={"invalid_client", "invalid_request"}, status=None),
    Case("Basic with NUL", body=b"grant_type=client_credentials&token=abc",
         authorization=basic_header("abc%00:def"), errors={"invalid_client", "invalid_request"}, status=None),
    Case("Basic with invalid UTF-8", body=b"grant_type=client_credentials&token=abc",
         authorization="Basic " + base64.b64encode(b"\xff\xfe:\xc3\x28").decode(),
         errors={"invalid_client", "invalid_request"}, status=None),
    # A client id past 255 bytes is refused before it is looked up or counted (SECURITY.md).
    Case("Basic of 8 KiB", body=b"grant_type=client_credentials&token=abc",
         authorization=basic_header("a" * 3000 + ":" + "b" * 3000), errors={"invalid_request"}, status=400),
    Case("Bearer scheme", body=b"grant_type=client_credentials&token=abc",
         authorization="Bearer eyJhbGciOiJub25lIn0.e30.", errors={"invalid_client", "invalid_request"}, status=None),
    Case("Digest scheme", body=b"grant_type=client_credentials&token=abc",
         authorization='Digest username="x"', errors={"invalid_client", "invalid_request"}, status=None),
    Case("Basic plus client_secret in the body", body=b"grant_type=client_credentials&token=abc&client_secret=x"),
    Case("no client authentication", body=b"grant_type=client_credentials&token=abc", authorization=None,
         errors={"invalid_client"}, status=401),
    Case("client_secret without client_id", body=b"grant_type=client_credentials&token=abc&client_secret=x",
         authorization=None, errors={"invalid_client", "invalid_request"}, status=None),
    Case("credentials in the query string", body=b"grant_type=client_credentials&token=abc", authorization=None,
         query="?client_id=x&client_secret=y", errors={"invalid_client", "invalid_request"}, status=None),
]


def send(server, clients, case: Case, path: str) -> requests.Response:
    basic, _ = clients
    headers = {}
    if case.content_type is not None:
        headers["Content-Type"] = case.content_type
    if case.authorization == "valid":
        headers["Authorization"] = basic_header(f"{basic.client_id}:{basic.client_secret}")
    elif case.authorization is not None:
        headers["Authorization"] = case.authorization
    request = requests.Request(case.method, server.url(path + case.query), headers=headers, data=case.body)
    prepared = request.prepare()
    if case.body is None:
        prepared.headers.pop("Content-Length", None)
    if case.content_type is None:
        prepared.headers.pop("Content-Type", None)
    with requests.Session() as session:
        return session.send(prepared, timeout=30)


APPLICABLE = [(case, path) for case in CASES for path in ENDPOINTS if path in case.endpoints]


@pytest.mark.parametrize(("case", "path"), APPLICABLE, ids=[f"{case.name}-{path}" for case, path in APPLICABLE])
def test_bad_request(module_server, clients, baseline, case, path):
    response = send(module_server, clients, case, path)
    assert 400 <= response.status_code < 500, f"{case.name} at {path}: {response.status_code} {response.text[:300]!r}"
    body = assert_oauth_error(response, case.errors, status=case.status)
    assert body["error"] in SPEC_ERROR_CODES
    if path == "/token":
        assert "access_token" not in response.text
    assert module_server.healthy(), f"unhealthy after {case.name} at {path}"


# -- grant-level errors at the token endpoint --------------------------------------


@pytest.mark.parametrize(
    "body, error",
    [
        (b"", "invalid_request"),
        (b"grant_type=", "invalid_request"),
        (b"scope=invoices:read", "invalid_request"),
        (b"grant_type=password&username=a&password=b", "unsupported_grant_type"),
        (b"grant_type=implicit", "unsupported_grant_type"),
        # Supported grants this (client credentials) client is not registered for (RFC 6749 §5.2).
        (b"grant_type=authorization_code&code=x&redirect_uri=http://127.0.0.1/cb", "unauthorized_client"),
        (b"grant_type=refresh_token&refresh_token=x", "unauthorized_client"),
        (b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=x", "unsupported_grant_type"),
        (b"grant_type=CLIENT_CREDENTIALS", "unsupported_grant_type"),
        (b"grant_type=client_credentials&scope=" + b"a" * 60_000, "invalid_scope"),
        (b"grant_type=client_credentials&scope=" + b"+".join(b"s%d" % i for i in range(8000)), "invalid_scope"),
        (b"grant_type=client_credentials&scope=invoices%3Ar%C3%A9ad", "invalid_scope"),
        (b"grant_type=client_credentials&scope=invoices:read%01", "invalid_scope"),
        (b"grant_type=client_credentials&scope=%22invoices:read%22", "invalid_scope"),
        (b"grant_type=client_credentials&resource=https%3A%2F%2Fevil.example.com", "invalid_target"),
        (b"grant_type=client_credentials&resource=relative%2Fpath", "invalid_target"),
        (b"grant_type=client_credentials&resource=https%3A%2F%2Fapi.example.com%23frag", "invalid_target"),
        (b"grant_type=client_credentials&resource=" + b"https%3A%2F%2Fa.example%2F" + b"x" * 60_000, "invalid_target"),
        (b"grant_type=client_credentials&resource=https%3A%2F%2Fapi.example.com%00", "invalid_request"),
    ],
    ids=lambda value: value[:40].decode(errors="replace") if isinstance(value, bytes) else value,
)
def test_bad_token_request(module_server, clients, baseline, body, error):
    basic, _ = clients
    response = requests.post(
        module_server.url("/token"), data=body, auth=basic.basic, headers={"Content-Type": FORM}, timeout=30
    )
    assert_oauth_error(response, error)
    assert module_server.healthy()


def test_repeated_post_credentials(module_server, clients, baseline):
    _, post = clients
    for body in (
        f"grant_type=client_credentials&client_id={post.client_id}&client_id={post.client_id}&client_secret={post.client_secret}",
        f"grant_type=client_credentials&client_id={post.client_id}&client_secret={post.client_secret}&client_secret={post.client_secret}",
    ):
        response = requests.post(module_server.url("/token"), data=body.encode(), headers={"Content-Type": FORM}, timeout=10)
        assert_oauth_error(response, "invalid_request")


def test_basic_and_a_different_client_id_in_the_body(module_server, clients, baseline):
    basic, post = clients
    response = requests.post(
        module_server.url("/token"), data={"grant_type": "client_credentials", "client_id": post.client_id},
        auth=basic.basic, timeout=10,
    )
    assert_oauth_error(response, {"invalid_request", "invalid_client"}, status=None)


def test_basic_and_client_secret_in_the_body_is_invalid_request(module_server, clients, baseline):
    basic, _ = clients
    response = requests.post(
        module_server.url("/token"),
        data={"grant_type": "client_credentials", "client_id": basic.client_id, "client_secret": basic.client_secret},
        auth=basic.basic, timeout=10,
    )
    assert_oauth_error(response, "invalid_request")


def test_oversized_chunked_body(module_server, clients, baseline):
    basic, _ = clients

    def chunks():
        yield b"grant_type=client_credentials&scope="
        for _ in range(80):
            yield b"a" * 1024

    for path in ENDPOINTS:
        response = requests.post(
            module_server.url(path), data=chunks(), auth=basic.basic, headers={"Content-Type": FORM}, timeout=30
        )
        assert_oauth_error(response, "invalid_request")
    assert module_server.healthy()


def test_charset_utf8_and_a_chunked_body_are_fine(module_server, clients, baseline):
    """The strictness above does not reject well-formed requests."""
    basic, _ = clients

    def chunks():
        yield b"grant_type=client_"
        yield b"credentials&scope=invoices%3Aread"

    for content_type in (FORM + "; charset=utf-8", FORM + ";charset=UTF-8", "Application/X-WWW-Form-Urlencoded"):
        response = requests.post(
            module_server.url("/token"), data=b"grant_type=client_credentials", auth=basic.basic,
            headers={"Content-Type": content_type}, timeout=10,
        )
        assert response.status_code == 200, (content_type, response.text)
    response = requests.post(
        module_server.url("/token"), data=chunks(), auth=basic.basic, headers={"Content-Type": FORM}, timeout=10
    )
    assert response.status_code == 200, response.text
    # Unknown parameters are ignored.
    response = requests.post(
        module_server.url("/token"), data={"grant_type": "client_credentials", "foo": "bar", "state": "x"},
        auth=basic.basic, timeout=10,
    )
    assert response.status_code == 200, response.text


def test_unknown_paths_are_not_5xx(module_server):
    for path in ("/authorize", "/token/", "/.well-known/webfinger", "/%00", "/..%2F..%2Fetc%2Fpasswd"):
        response = requests.get(module_server.url(path), timeout=10)
        assert 400 <= response.status_code < 500, (path, response.status_code)


def test_nothing_stored_changed_and_server_healthy(module_warden, module_server, baseline):
    """Runs last in this module: after every bad request above, the stored clients,
    keys and revocations are exactly as before, and the server answers."""
    assert module_server.healthy()
    assert dump(module_warden) == baseline
    assert module_server.process.poll() is None
    assert module_server.stderr() == ""
