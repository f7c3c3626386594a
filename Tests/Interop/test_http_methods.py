"""HTTP semantics every route shares (RFC 9110): HEAD wherever GET is, 405 with Allow for a
method a known path does not take, 404 for an unknown path, the request id always echoed;
and RFC 6750's Bearer header with more than one space."""

from __future__ import annotations

import pytest
import requests

from interop import Server, Warden

GET_ROUTES = ["/healthz", "/.well-known/jwks.json", "/.well-known/openid-configuration", "/openapi.yaml"]


@pytest.mark.parametrize("path", GET_ROUTES)
def test_head_is_get_without_the_body(module_server: Server, path: str):
    get = requests.get(module_server.url(path), timeout=10)
    head = requests.head(module_server.url(path), timeout=10)
    assert get.status_code == head.status_code == 200
    assert head.content == b""
    assert head.headers["Content-Length"] == str(len(get.content))
    for name in ("Content-Type", "Cache-Control"):
        assert head.headers.get(name) == get.headers.get(name), name


@pytest.mark.parametrize("method, path, allow", [
    ("PUT", "/userinfo", "GET, HEAD, OPTIONS, POST"),
    ("DELETE", "/authorize", "GET, HEAD, POST"),
    ("POST", "/healthz", "GET, HEAD"),
    ("POST", "/.well-known/jwks.json", "GET, HEAD"),
    ("GET", "/token", "POST"),
    ("HEAD", "/token", "POST"),
    ("OPTIONS", "/introspect", "POST"),
    ("PATCH", "/revoke", "POST"),
])
def test_a_method_a_known_path_does_not_take_is_405_with_allow(module_server: Server, method: str, path: str, allow: str):
    response = requests.request(method, module_server.url(path), headers={"X-Request-Id": "method-probe"}, timeout=10)
    assert response.status_code == 405
    assert response.headers["Allow"] == allow
    assert response.headers["X-Request-Id"] == "method-probe"
    if method != "HEAD":
        assert response.json()["error"] == "invalid_request"


def test_an_unknown_path_is_404_with_the_request_id(module_server: Server):
    response = requests.get(module_server.url("/no-such-path"), headers={"X-Request-Id": "probe-1"}, timeout=10)
    assert response.status_code == 404
    assert response.headers["X-Request-Id"] == "probe-1"


def test_userinfo_takes_a_bearer_token_after_several_spaces(module_warden: Warden, module_server: Server):
    """RFC 6750 §2.1: `Bearer 1*SP b64token`; client credentials have no openid, so a live
    token without it is 403 insufficient_scope, which proves the token was read."""
    client = module_warden.create_client(grant_types=("client_credentials",), scope="read")
    token = module_server.access_token(client)
    for header in (f"Bearer {token}", f"Bearer   {token}"):
        response = requests.get(module_server.url("/userinfo"), headers={"Authorization": header}, timeout=10)
        assert response.status_code == 403, header
        assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
