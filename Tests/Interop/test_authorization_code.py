"""The authorization code flow without a browser (RFC 6749 §4.1, RFC 7636, RFC 9207,
RFC 9700): every negative path of /authorize, /login, /consent and /token, refresh
token rotation and reuse detection, the grace window, revocation and introspection
of refresh tokens, races, CSRF, session fixation, login rate limits, operator
templates, the users CLI, `purge` and `serve --demo`.

A cookie-keeping `requests` session (interop.UserAgent) plays the browser and never
follows a redirect by itself, so every status code and Location is checked.
Redirect URIs here are never listened on: the code is read from the Location header."""

from __future__ import annotations

import re
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import pytest
import requests

from interop import (
    LOGIN_ERROR,
    PRELOGIN_COOKIE,
    SESSION_COOKIE,
    Page,
    User,
    UserAgent,
    Warden,
    assert_authorization_error,
    assert_html_page,
    assert_html_security_headers,
    assert_oauth_error,
    assert_one_line_failure,
    assert_redirect_to,
    authorization_params,
    bcrypt_cost,
    finish,
    jwt_claims_unverified,
    jwt_header,
    obtain_code,
    pkce_pair,
    query_params,
    s256,
    tokens_for,
    verify_with_joserfc,
    verify_with_pyjwt,
    wait_until,
)

REDIRECT = "http://127.0.0.1:8765/callback"
V6_REDIRECT = "http://[::1]:8765/callback"
WEB_REDIRECT = "https://app.example.com/callback"
LOCALHOST_REDIRECT = "http://localhost:8765/callback"
LEGACY_REDIRECT = "https://legacy.example.com/cb"
SCOPE = "profile email offline_access"
API = "https://api.example.com"

#: SECURITY.md: codes live at most 60 s. The expiry test waits this long after the
#: module's first code was issued (the rest of the module runs meanwhile).
CODE_EXPIRY_WAIT = 62.0


# -- the installation shared by this module ------------------------------------------


@pytest.fixture(scope="module")
def spa(module_warden):
    """A public client with one loopback redirect URI."""
    return module_warden.create_code_client("spa", (REDIRECT,), SCOPE)


@pytest.fixture(scope="module")
def other_public(module_warden):
    return module_warden.create_code_client("other spa", (REDIRECT,), SCOPE)


@pytest.fixture(scope="module")
def native6(module_warden):
    return module_warden.create_code_client("native v6", (V6_REDIRECT,), SCOPE)


@pytest.fixture(scope="module")
def web(module_warden):
    """A confidential web client (client_secret_basic) with two redirect URIs and an audience."""
    return module_warden.create_code_client(
        "web", (WEB_REDIRECT, LOCALHOST_REDIRECT), SCOPE, public=False, audiences=(API, "https://other.example.com")
    )


@pytest.fixture(scope="module")
def legacy(module_warden):
    """A confidential client allowed to skip PKCE, without the refresh_token grant."""
    return module_warden.create_code_client(
        "legacy", (LEGACY_REDIRECT,), "profile", public=False, grant_types=("authorization_code",),
        extra=("--pkce-optional",),
    )


@pytest.fixture(scope="module")
def cc_client(module_warden):
    """A confidential client-credentials client that happens to have a redirect URI."""
    return module_warden.create_code_client(
        "backend", ("https://cc.example.com/cb",), "profile", public=False, grant_types=("client_credentials",)
    )


@pytest.fixture(scope="module")
def refresh_only(module_warden):
    return module_warden.create_code_client("refresh only", (REDIRECT,), "profile", grant_types=("refresh_token",))


@pytest.fixture(scope="module")
def resource_server(module_warden):
    """A confidential client that only introspects."""
    return module_warden.create_client(name="api", scope="", audiences=(), auth_method="client_secret_post")


@pytest.fixture(scope="module")
def alice(module_warden):
    return module_warden.create_user("alice")


@pytest.fixture(scope="module")
def bob(module_warden):
    return module_warden.create_user("bob")


@pytest.fixture(scope="module")
def server(module_server, spa, other_public, native6, web, legacy, cc_client, refresh_only, resource_server, alice, bob):
    """The module's server once every client and user exists (and reached it)."""
    for client in (spa, web, legacy):
        wait_until(
            lambda: module_server.code_token(client, "x").status_code != 401,
            message="clients created with the CLI did not reach the server",
        )
    return module_server


@pytest.fixture(scope="module")
def alice_agent(server, spa, alice):
    """Alice, logged in once, having allowed `spa` everything it may ask for."""
    agent = UserAgent(server)
    obtain_code(agent, spa, alice, REDIRECT, scope=SCOPE, expect_login=True, expect_consent=True)
    return agent


@pytest.fixture(scope="module", autouse=True)
def early_code(server, spa, alice):
    """A code issued as the module starts, redeemed only by the last test (expiry)."""
    agent = UserAgent(server)
    code, verifier = obtain_code(agent, spa, alice, REDIRECT, scope="profile")
    return code, verifier, time.monotonic()


def code_for(agent: UserAgent, client, user, redirect_uri=REDIRECT, **kwargs):
    return obtain_code(agent, client, user, redirect_uri, **kwargs)


def tokens(server, agent, client, user, redirect_uri=REDIRECT, scope="profile") -> dict:
    return tokens_for(server, client, user, redirect_uri, scope=scope, agent=agent)


def refreshed(server, client, refresh_token, **params) -> dict:
    response = server.refresh(client, refresh_token, **params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["refresh_token"] != refresh_token, "the refresh token was not rotated"
    return body


def assert_refresh_dead(server, client, refresh_token):
    assert_oauth_error(server.refresh(client, refresh_token), "invalid_grant")


def assert_grant_dead(server, client, resource_server, *, access_tokens=(), refresh_tokens=()):
    for token in access_tokens:
        assert server.is_active(resource_server, token) is False, "an access token of a revoked grant is still active"
    for token in refresh_tokens:
        assert_refresh_dead(server, client, token)


# -- discovery ------------------------------------------------------------------------


def test_metadata_advertises_the_code_flow(server):
    metadata = server.metadata()
    assert metadata["authorization_endpoint"] == server.issuer + "/authorize"
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["code_challenge_methods_supported"] == ["S256"], "plain must not be advertised unless enabled"
    assert {"authorization_code", "refresh_token"} <= set(metadata["grant_types_supported"])
    assert not {"implicit", "password"} & set(metadata["grant_types_supported"])
    assert "none" in metadata["token_endpoint_auth_methods_supported"]
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert {"profile", "email", "offline_access"} <= set(metadata["scopes_supported"])


def test_no_cors_on_the_authorization_endpoint(server, spa):
    _, challenge = pkce_pair()
    query = urlencode(authorization_params(spa, REDIRECT, challenge=challenge))
    headers = {"Origin": "https://evil.example.com"}
    response = requests.get(server.url("/authorize?" + query), headers=headers, allow_redirects=False, timeout=10)
    assert "Access-Control-Allow-Origin" not in response.headers
    preflight = requests.options(
        server.url("/authorize?" + query),
        headers=dict(headers, **{"Access-Control-Request-Method": "GET"}), timeout=10,
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers


# -- /authorize: errors that must not redirect (RFC 6749 §4.1.2.1) ---------------------


def assert_error_page(response: requests.Response, status: int = 400) -> Page:
    page = assert_html_page(response, status)
    assert not page.is_login and not page.is_consent
    assert "code=" not in response.text
    return page


def test_unknown_client_gets_an_error_page(server):
    _, challenge = pkce_pair()
    response = UserAgent(server).authorize({
        "response_type": "code", "client_id": "no-such-client", "redirect_uri": REDIRECT, "state": "s",
        "code_challenge": challenge, "code_challenge_method": "S256",
    })
    assert_error_page(response)


def test_missing_client_id_gets_an_error_page(server):
    response = UserAgent(server).authorize({"response_type": "code", "redirect_uri": REDIRECT, "state": "s"})
    assert_error_page(response)


def test_missing_redirect_uri_with_several_registered_gets_an_error_page(server, web):
    _, challenge = pkce_pair()
    response = UserAgent(server).authorize(authorization_params(web, None, challenge=challenge))
    assert_error_page(response)


def test_missing_redirect_uri_with_one_registered_uses_it(server, spa, alice, alice_agent):
    code, verifier = code_for(alice_agent, spa, alice, send_redirect_uri=False)
    # The request named no redirect_uri, so the token request need not either (RFC 6749 §4.1.3).
    response = server.code_token(spa, code, code_verifier=verifier)
    assert response.status_code == 200, response.text


def test_empty_redirect_uri_counts_as_absent(server, spa):
    _, challenge = pkce_pair()
    response = UserAgent(server).authorize(authorization_params(spa, "", challenge=challenge))
    page = assert_html_page(response, 200)
    assert page.is_login


OPEN_REDIRECTS_WEB = [
    "http://app.example.com/callback",  # scheme
    "HTTPS://app.example.com/callback",  # scheme case
    "https://evil.example.com/callback",  # host
    "https://APP.example.com/callback",  # host case
    "https://app.example.com.evil.example/callback",
    "https://app.example.com:8443/callback",  # port
    "https://app.example.com:443/callback",  # explicit default port: not the same string
    "https://app.example.com/callback/",  # path
    "https://app.example.com/Callback",  # path case
    "https://app.example.com/callbackx",
    "https://app.example.com/callback/../evil",
    "https://app.example.com/%63allback",  # percent-encoded
    "https%3A%2F%2Fapp.example.com%2Fcallback",  # double-encoded
    "https://app.example.com/callback?next=https://evil.example.com",  # extra query
    "https://app.example.com/callback#fragment",
    "https://user@app.example.com/callback",  # userinfo
    "https://app.example.com@evil.example.com/callback",
    "https://evil.example.com\\@app.example.com/callback",
    "//app.example.com/callback",  # scheme-relative
    " https://app.example.com/callback",
    "https://app.example.com/callback ",
    "http://localhost:9999/callback",  # the loopback port rule is for IP literals only (RFC 8252 §7.3)
    "http://localhost/callback",
    "javascript:alert(1)//https://app.example.com/callback",
]

OPEN_REDIRECTS_LOOPBACK = [
    "https://127.0.0.1:8765/callback",  # scheme
    "http://127.0.0.2:8765/callback",
    "http://127.0.0.1.evil.example:8765/callback",
    "http://127.0.0.1:8765@evil.example/callback",
    "http://evil@127.0.0.1:9999/callback",  # userinfo, with the port changed
    "http://127.0.0.1:9999/other",  # path, with the port changed
    "http://127.0.0.1:9999/callback/",
    "http://127.0.0.1:9999/CALLBACK",
    "http://127.0.0.1:9999/callback?x=1",
    "http://127.0.0.1:9999/callback#x",
    "http://127.0.0.1:9999/%63allback",
    "http://[::1]:8765/callback",  # another loopback address than the registered one
    "http://localhost:8765/callback",
    "http://2130706433:8765/callback",  # 127.0.0.1 in other spellings
    "http://0x7f000001:8765/callback",
    "http://127.1:8765/callback",
]

OPEN_REDIRECTS_V6 = [
    "http://[::2]:8765/callback",
    "https://[::1]:8765/callback",
    "http://[::1]:9999/other",
    "http://127.0.0.1:8765/callback",
]


@pytest.mark.parametrize(
    "client_name, uri",
    [("web", uri) for uri in OPEN_REDIRECTS_WEB]
    + [("spa", uri) for uri in OPEN_REDIRECTS_LOOPBACK]
    + [("native6", uri) for uri in OPEN_REDIRECTS_V6],
)
def test_unregistered_redirect_uri_gets_an_error_page(request, server, client_name, uri):
    client = request.getfixturevalue(client_name)
    _, challenge = pkce_pair()
    # An otherwise invalid request too: the redirect URI must be checked before anything is redirected.
    for params in (
        authorization_params(client, uri, challenge=challenge),
        authorization_params(client, uri, challenge=challenge, response_type="token"),
        authorization_params(client, uri, challenge=challenge, scope="admin"),
    ):
        response = UserAgent(server).authorize(params)
        assert_error_page(response)


# -- /authorize: errors redirected back with error, state and iss ------------------------

STATE = "xyz ~!*'();:@&=+$,/?#[]é%20"


@pytest.mark.parametrize(
    "change, error",
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": "code id_token"}, "unsupported_response_type"),
        ({"response_type": "CODE"}, "unsupported_response_type"),
        ({"response_type": None}, "invalid_request"),
        ({"scope": "admin"}, "invalid_scope"),
        ({"scope": "profile admin"}, "invalid_scope"),
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
        ({"code_challenge": ""}, "invalid_request"),
        ({"code_challenge_method": "plain", "code_challenge": "a" * 43}, "invalid_request"),
        ({"code_challenge_method": None, "code_challenge": "a" * 43}, "invalid_request"),  # defaults to plain
        ({"code_challenge_method": "s256"}, "invalid_request"),
        ({"code_challenge_method": "S512"}, "invalid_request"),
        ({"code_challenge": "abc"}, "invalid_request"),
        ({"code_challenge": "a" * 44}, "invalid_request"),
        ({"code_challenge": "a" * 42}, "invalid_request"),
        ({"code_challenge": "a+b/" * 10 + "ab="}, "invalid_request"),
        ({"code_challenge": None}, "invalid_request"),  # a method without a challenge
        ({"resource": "https://evil.example.com"}, "invalid_target"),
        ({"resource": "not a uri"}, "invalid_target"),
    ],
    ids=lambda value: repr(value)[:60],
)
def test_invalid_request_is_redirected_with_state_and_iss(server, spa, change, error):
    _, challenge = pkce_pair()
    params = authorization_params(spa, REDIRECT, state=STATE, challenge=challenge)
    for name, value in change.items():
        if value is None:
            params.pop(name, None)
        else:
            params[name] = value
    response = UserAgent(server).authorize(params)
    assert_authorization_error(response, REDIRECT, error, issuer=server.issuer, state=STATE)


def test_error_without_state_has_no_state(server, spa):
    params = authorization_params(spa, REDIRECT, challenge=pkce_pair()[1], scope="admin")
    params.pop("state")
    response = UserAgent(server).authorize(params)
    assert_authorization_error(response, REDIRECT, "invalid_scope", issuer=server.issuer, state=None)


def test_confidential_client_must_use_pkce(server, web):
    response = UserAgent(server).authorize(authorization_params(web, WEB_REDIRECT, state="s1"))
    assert_authorization_error(response, WEB_REDIRECT, "invalid_request", issuer=server.issuer, state="s1")


def test_resource_not_registered_is_invalid_target(server, web):
    params = authorization_params(web, WEB_REDIRECT, state="s2", challenge=pkce_pair()[1], resource="https://evil.example.com")
    response = UserAgent(server).authorize(params)
    assert_authorization_error(response, WEB_REDIRECT, "invalid_target", issuer=server.issuer, state="s2")


@pytest.mark.parametrize("client_name, redirect", [("cc_client", "https://cc.example.com/cb"), ("refresh_only", REDIRECT)])
def test_client_without_the_code_grant_is_unauthorized_client(request, server, client_name, redirect):
    client = request.getfixturevalue(client_name)
    params = authorization_params(client, redirect, state="s3", challenge=pkce_pair()[1])
    response = UserAgent(server).authorize(params)
    assert_authorization_error(response, redirect, "unauthorized_client", issuer=server.issuer, state="s3")


def test_repeated_parameter_is_refused(server, spa):
    _, challenge = pkce_pair()
    query = urlencode(authorization_params(spa, REDIRECT, state="s4", challenge=challenge)) + "&scope=email"
    response = UserAgent(server).authorize(query)
    assert response.status_code in (302, 400), response.status_code
    if response.status_code == 302:
        assert_authorization_error(response, REDIRECT, "invalid_request", issuer=server.issuer, state="s4")
    else:
        assert_error_page(response)


def test_unknown_parameters_are_ignored(server, spa):
    params = authorization_params(spa, REDIRECT, challenge=pkce_pair()[1], foo="bar", prompt_me="x")
    page = assert_html_page(UserAgent(server).authorize(params), 200)
    assert page.is_login


def test_loopback_error_redirect_goes_to_the_requested_port(server, spa):
    uri = "http://127.0.0.1:9999/callback"
    params = authorization_params(spa, uri, state="s5", challenge=pkce_pair()[1], response_type="token")
    response = UserAgent(server).authorize(params)
    assert_authorization_error(response, uri, "unsupported_response_type", issuer=server.issuer, state="s5")


# -- redirect URI matching: the loopback port rule (RFC 8252 §7.3) --------------------------


@pytest.mark.parametrize(
    "client_name, registered, requested",
    [
        ("spa", REDIRECT, "http://127.0.0.1:9999/callback"),
        ("spa", REDIRECT, "http://127.0.0.1:80/callback"),
        ("native6", V6_REDIRECT, "http://[::1]:9999/callback"),
    ],
)
def test_loopback_redirect_port_may_differ(request, server, alice, alice_agent, client_name, registered, requested):
    client = request.getfixturevalue(client_name)
    code, verifier = code_for(alice_agent, client, alice, requested)
    # The code is bound to the redirect URI as requested, port included.
    assert_oauth_error(server.code_token(client, code, redirect_uri=registered, code_verifier=verifier), "invalid_grant")
    code, verifier = code_for(alice_agent, client, alice, requested)
    response = server.code_token(client, code, redirect_uri=requested, code_verifier=verifier)
    assert response.status_code == 200, response.text


def test_exact_registered_redirect_uris_work(server, web, alice, alice_agent):
    for uri in (WEB_REDIRECT, LOCALHOST_REDIRECT):
        code, verifier = code_for(alice_agent, web, alice, uri)
        response = server.code_token(web, code, redirect_uri=uri, code_verifier=verifier)
        assert response.status_code == 200, response.text


def test_state_is_echoed_exactly(server, spa, alice, alice_agent):
    params = authorization_params(spa, REDIRECT, state=STATE, challenge=pkce_pair()[1])
    response = alice_agent.authorization(params, alice, expect_login=False, expect_consent=False)
    result = assert_redirect_to(response, REDIRECT, status=302)
    assert result["state"] == STATE and result["iss"] == server.issuer and result["code"]


# -- the token endpoint: codes -------------------------------------------------------------


def test_code_exchange_issues_user_tokens(server, spa, alice, alice_agent):
    code, verifier = code_for(alice_agent, spa, alice, scope="profile email")
    assert len(code) >= 43, "codes carry 256 bits of randomness"
    response = server.code_token(spa, code, redirect_uri=REDIRECT, code_verifier=verifier)
    assert response.status_code == 200, response.text
    assert response.headers.get("Cache-Control") == "no-store"
    assert response.headers.get("Pragma") == "no-cache"
    body = response.json()
    assert body["token_type"].lower() == "bearer"
    assert body["scope"] == "profile email"
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0
    assert isinstance(body.get("refresh_token"), str) and len(body["refresh_token"]) >= 43
    token = body["access_token"]
    assert jwt_header(token)["typ"] == "at+jwt"
    metadata = server.metadata()
    _, claims = verify_with_joserfc(token, server.jwks(), issuer=server.issuer, audience=server.issuer)
    assert verify_with_pyjwt(token, metadata["jwks_uri"], issuer=server.issuer, audience=server.issuer) == claims
    assert claims["sub"] == alice.id, "sub is the user's stable id"
    assert claims["client_id"] == spa.client_id
    assert claims["aud"] == server.issuer, "a client without audiences gets the issuer as audience"
    assert claims["scope"] == "profile email"
    assert isinstance(claims.get("gid"), str) and claims["gid"]
    assert claims["exp"] - claims["iat"] == body["expires_in"]


def test_confidential_client_tokens_carry_its_audience(server, web, alice, alice_agent, resource_server):
    code, verifier = code_for(alice_agent, web, alice, WEB_REDIRECT)
    body = server.code_token(web, code, redirect_uri=WEB_REDIRECT, code_verifier=verifier).json()
    claims = verify_with_pyjwt(body["access_token"], server.metadata()["jwks_uri"], issuer=server.issuer, audience=API)
    assert claims["aud"] == API and claims["sub"] == alice.id and claims["client_id"] == web.client_id
    # With an explicit resource (RFC 8707) the audience is that resource.
    code, verifier = code_for(alice_agent, web, alice, WEB_REDIRECT, resource="https://other.example.com")
    body = server.code_token(web, code, redirect_uri=WEB_REDIRECT, code_verifier=verifier).json()
    assert jwt_claims_unverified(body["access_token"])["aud"] == "https://other.example.com"
    introspection = server.introspect(resource_server, body["access_token"]).json()
    assert introspection["active"] is True and introspection["sub"] == alice.id


def test_confidential_client_must_authenticate(server, web, alice, alice_agent):
    code, verifier = code_for(alice_agent, web, alice, WEB_REDIRECT)
    for kwargs in (
        {"data": {"client_id": web.client_id}},
        {"data": {}, "auth": (web.client_id, "wrong-secret")},
    ):
        data = dict(kwargs.pop("data"), grant_type="authorization_code", code=code, redirect_uri=WEB_REDIRECT,
                    code_verifier=verifier)
        response = requests.post(server.url("/token"), data=data, timeout=10, **kwargs)
        assert_oauth_error(response, "invalid_client", status=401)


@pytest.mark.parametrize(
    "change, errors",
    [
        ({"code_verifier": None}, {"invalid_grant", "invalid_request"}),
        ({"code_verifier": "wrong"}, {"invalid_grant", "invalid_request"}),
        ({"code_verifier": secrets.token_urlsafe(32)}, {"invalid_grant"}),
        ({"redirect_uri": None}, {"invalid_grant", "invalid_request"}),
        ({"redirect_uri": "http://127.0.0.1:8765/other"}, {"invalid_grant"}),
        ({"redirect_uri": "http://127.0.0.1:9999/callback"}, {"invalid_grant"}),
        ({"code": "not-a-code"}, {"invalid_grant"}),
        ({"code": None}, {"invalid_request"}),
    ],
    ids=lambda value: repr(value)[:50],
)
def test_code_exchange_errors(server, spa, alice, alice_agent, change, errors):
    code, verifier = code_for(alice_agent, spa, alice)
    params = {"redirect_uri": REDIRECT, "code_verifier": verifier, "code": code}
    params.update(change)
    code_value = params.pop("code")
    kwargs = spa.credentials()
    data = [("grant_type", "authorization_code")] + list(kwargs.pop("data").items())
    if code_value is not None:
        data.append(("code", code_value))
    data += [(name, value) for name, value in params.items() if value is not None]
    response = requests.post(server.url("/token"), data=data, timeout=10)
    assert_oauth_error(response, errors)
    assert "access_token" not in response.text


def test_verifier_must_be_the_one_for_the_challenge_of_this_code(server, spa, alice, alice_agent):
    code_a, verifier_a = code_for(alice_agent, spa, alice)
    code_b, verifier_b = code_for(alice_agent, spa, alice)
    assert_oauth_error(server.code_token(spa, code_a, redirect_uri=REDIRECT, code_verifier=verifier_b), "invalid_grant")


def test_code_of_another_client_is_refused(server, spa, other_public, alice, alice_agent):
    code, verifier = code_for(alice_agent, spa, alice)
    response = server.code_token(other_public, code, redirect_uri=REDIRECT, code_verifier=verifier)
    assert_oauth_error(response, "invalid_grant")


def test_pkce_optional_client_without_pkce(server, legacy, alice, alice_agent):
    code, _ = code_for(alice_agent, legacy, alice, LEGACY_REDIRECT, verifier="")
    response = server.code_token(legacy, code, redirect_uri=LEGACY_REDIRECT)
    assert response.status_code == 200, response.text
    assert "refresh_token" not in response.json(), "no refresh token for a client without the refresh_token grant"


def test_verifier_for_a_code_issued_without_challenge_is_a_downgrade(server, legacy, alice, alice_agent):
    code, _ = code_for(alice_agent, legacy, alice, LEGACY_REDIRECT, verifier="")
    response = server.code_token(legacy, code, redirect_uri=LEGACY_REDIRECT, code_verifier=secrets.token_urlsafe(32))
    assert_oauth_error(response, "invalid_grant")


def test_pkce_optional_client_using_pkce_needs_the_verifier(server, legacy, alice, alice_agent):
    code, verifier = code_for(alice_agent, legacy, alice, LEGACY_REDIRECT)
    assert_oauth_error(server.code_token(legacy, code, redirect_uri=LEGACY_REDIRECT), {"invalid_grant", "invalid_request"})
    code, verifier = code_for(alice_agent, legacy, alice, LEGACY_REDIRECT)
    assert server.code_token(legacy, code, redirect_uri=LEGACY_REDIRECT, code_verifier=verifier).status_code == 200


def test_second_redemption_revokes_the_first_tokens(server, spa, alice, alice_agent, resource_server):
    code, verifier = code_for(alice_agent, spa, alice)
    first = server.code_token(spa, code, redirect_uri=REDIRECT, code_verifier=verifier)
    assert first.status_code == 200, first.text
    tokens_ = first.json()
    assert server.is_active(resource_server, tokens_["access_token"]) is True
    second = server.code_token(spa, code, redirect_uri=REDIRECT, code_verifier=verifier)
    assert_oauth_error(second, "invalid_grant")
    assert_grant_dead(
        server, spa, resource_server, access_tokens=[tokens_["access_token"]], refresh_tokens=[tokens_["refresh_token"]]
    )


def test_concurrent_redemptions_of_one_code(server, spa, alice, alice_agent, resource_server):
    code, verifier = code_for(alice_agent, spa, alice)
    barrier = threading.Barrier(20)

    def redeem(_):
        barrier.wait(timeout=30)
        return requests.post(
            server.url("/token"),
            data={"grant_type": "authorization_code", "client_id": spa.client_id, "code": code,
                  "redirect_uri": REDIRECT, "code_verifier": verifier},
            timeout=60,
        )

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(redeem, range(20)))
    statuses = sorted(response.status_code for response in responses)
    assert statuses.count(200) == 1, f"expected exactly one winner, got {statuses}"
    for response in responses:
        if response.status_code != 200:
            assert_oauth_error(response, "invalid_grant")
    # Every other redemption was a reuse of the code: what the winner got is revoked (SECURITY.md).
    winner = next(response for response in responses if response.status_code == 200).json()
    assert_grant_dead(
        server, spa, resource_server, access_tokens=[winner["access_token"]], refresh_tokens=[winner["refresh_token"]]
    )


# -- the token endpoint: refresh tokens ------------------------------------------------------


def test_refresh_rotates_and_keeps_the_grant(server, spa, alice, alice_agent, resource_server):
    first = tokens(server, alice_agent, spa, alice, scope="profile email")
    second = refreshed(server, spa, first["refresh_token"])
    assert second["scope"] == "profile email"
    assert second.get("token_type", "").lower() == "bearer"
    old_claims = jwt_claims_unverified(first["access_token"])
    new_claims = jwt_claims_unverified(second["access_token"])
    assert new_claims["jti"] != old_claims["jti"]
    for name in ("sub", "gid", "client_id", "aud", "scope"):
        assert new_claims[name] == old_claims[name], name
    third = refreshed(server, spa, second["refresh_token"])
    assert server.is_active(resource_server, third["access_token"]) is True


def test_refresh_response_is_not_cached(server, spa, alice, alice_agent):
    first = tokens(server, alice_agent, spa, alice)
    response = server.refresh(spa, first["refresh_token"])
    assert response.status_code == 200
    assert response.headers.get("Cache-Control") == "no-store" and response.headers.get("Pragma") == "no-cache"


def test_replaying_a_rotated_refresh_token_revokes_the_grant(server, spa, alice, alice_agent, resource_server):
    first = tokens(server, alice_agent, spa, alice)
    second = refreshed(server, spa, first["refresh_token"])
    third = refreshed(server, spa, second["refresh_token"])
    assert_oauth_error(server.refresh(spa, first["refresh_token"]), "invalid_grant")
    assert_grant_dead(
        server, spa, resource_server,
        access_tokens=[first["access_token"], second["access_token"], third["access_token"]],
        refresh_tokens=[third["refresh_token"]],
    )


def test_refresh_may_narrow_the_scope(server, spa, alice, alice_agent):
    first = tokens(server, alice_agent, spa, alice, scope="profile email")
    narrowed = refreshed(server, spa, first["refresh_token"], scope="email")
    assert narrowed["scope"] == "email"
    assert jwt_claims_unverified(narrowed["access_token"])["scope"] == "email"
    # RFC 6749 §6: the new refresh token keeps the scope of the grant.
    again = refreshed(server, spa, narrowed["refresh_token"])
    assert again["scope"] == "profile email"


@pytest.mark.parametrize("scope", ["profile email", "offline_access", "admin", "profile admin"])
def test_refresh_may_not_widen_the_scope(server, spa, alice, alice_agent, scope):
    first = tokens(server, alice_agent, spa, alice, scope="profile")
    assert_oauth_error(server.refresh(spa, first["refresh_token"], scope=scope), "invalid_scope")
    # The refused request spent nothing: the refresh token still works.
    assert refreshed(server, spa, first["refresh_token"])["scope"] == "profile"


def test_refresh_token_of_another_client_is_refused(server, spa, other_public, alice, alice_agent):
    first = tokens(server, alice_agent, spa, alice)
    assert_oauth_error(server.refresh(other_public, first["refresh_token"]), "invalid_grant")


@pytest.mark.parametrize("token", ["garbage", "a" * 43, ""])
def test_unknown_refresh_token(server, spa, token):
    assert_oauth_error(server.refresh(spa, token), {"invalid_grant", "invalid_request"})


def test_confidential_refresh_requires_authentication(server, web, alice, alice_agent):
    code, verifier = code_for(alice_agent, web, alice, WEB_REDIRECT)
    body = server.code_token(web, code, redirect_uri=WEB_REDIRECT, code_verifier=verifier).json()
    response = requests.post(
        server.url("/token"),
        data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"], "client_id": web.client_id},
        timeout=10,
    )
    assert_oauth_error(response, "invalid_client", status=401)
    refreshed(server, web, body["refresh_token"])


def test_concurrent_refreshes_of_one_token(server, spa, alice, alice_agent):
    first = tokens(server, alice_agent, spa, alice)
    barrier = threading.Barrier(20)

    def refresh(_):
        barrier.wait(timeout=30)
        return requests.post(
            server.url("/token"),
            data={"grant_type": "refresh_token", "client_id": spa.client_id, "refresh_token": first["refresh_token"]},
            timeout=60,
        )

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(refresh, range(20)))
    statuses = sorted(response.status_code for response in responses)
    assert statuses.count(200) <= 1, f"a refresh token was redeemed more than once: {statuses}"
    for response in responses:
        if response.status_code != 200:
            assert_oauth_error(response, "invalid_grant")
    for response in responses:
        if response.status_code == 200:
            # The others were reuse of a rotated token: the grant is gone.
            assert_refresh_dead(server, spa, response.json()["refresh_token"])


# -- revocation and introspection of refresh tokens -------------------------------------------


def test_revoking_a_refresh_token_revokes_the_grant(server, spa, alice, alice_agent, resource_server):
    first = tokens(server, alice_agent, spa, alice)
    second = refreshed(server, spa, first["refresh_token"])
    response = server.revoke(spa, second["refresh_token"], token_type_hint="refresh_token")
    assert response.status_code == 200, response.text
    assert_grant_dead(
        server, spa, resource_server,
        access_tokens=[first["access_token"], second["access_token"]], refresh_tokens=[second["refresh_token"]],
    )


def test_confidential_client_revokes_its_refresh_token(server, web, alice, alice_agent, resource_server):
    code, verifier = code_for(alice_agent, web, alice, WEB_REDIRECT)
    body = server.code_token(web, code, redirect_uri=WEB_REDIRECT, code_verifier=verifier).json()
    assert server.revoke(web, body["refresh_token"]).status_code == 200
    assert_grant_dead(server, web, resource_server, access_tokens=[body["access_token"]], refresh_tokens=[body["refresh_token"]])


def test_another_client_cannot_revoke_a_refresh_token(server, spa, other_public, alice, alice_agent, resource_server):
    first = tokens(server, alice_agent, spa, alice)
    response = server.revoke(other_public, first["refresh_token"])
    assert response.status_code < 500
    if response.status_code != 200:
        assert_oauth_error(response, "unauthorized_client")
    assert server.is_active(resource_server, first["access_token"]) is True
    refreshed(server, spa, first["refresh_token"])


def test_revocation_by_a_public_client_needs_its_client_id(server, spa, alice, alice_agent, resource_server):
    first = tokens(server, alice_agent, spa, alice)
    response = requests.post(server.url("/revoke"), data={"token": first["refresh_token"]}, timeout=10)
    assert_oauth_error(response, "invalid_client", status=None)
    refreshed(server, spa, first["refresh_token"])


def test_refresh_token_introspects_active_only_to_its_client(server, web, alice, alice_agent, resource_server):
    code, verifier = code_for(alice_agent, web, alice, WEB_REDIRECT, scope="profile email")
    body = server.code_token(web, code, redirect_uri=WEB_REDIRECT, code_verifier=verifier).json()
    own = server.introspect(web, body["refresh_token"])
    assert own.status_code == 200, own.text
    info = own.json()
    assert info["active"] is True, info
    assert info.get("client_id") == web.client_id
    assert info.get("scope") == "profile email"
    if "sub" in info:
        assert info["sub"] == alice.id
    assert server.introspect(resource_server, body["refresh_token"]).json() == {"active": False}
    # Once rotated, the old refresh token is inactive to its own client too.
    refreshed(server, web, body["refresh_token"])
    assert server.introspect(web, body["refresh_token"]).json() == {"active": False}


def test_user_access_token_introspection(server, spa, alice, alice_agent, resource_server):
    first = tokens(server, alice_agent, spa, alice, scope="profile email")
    info = server.introspect(resource_server, first["access_token"]).json()
    assert info["active"] is True
    assert info["sub"] == alice.id and info["client_id"] == spa.client_id and info["scope"] == "profile email"


# -- login, consent, sessions ---------------------------------------------------------------


def login_page(server, client=None, *, agent=None, **params):
    agent = agent or UserAgent(server)
    response = agent.authorize(authorization_params(client, REDIRECT, challenge=pkce_pair()[1], **params))
    page = assert_html_page(response, 200)
    assert page.is_login
    return agent, response, page


def test_login_page(server, spa):
    agent, response, page = login_page(server, spa)
    form = page.form("/login")
    assert form.inputs["username"]["type"] == "text"
    assert form.inputs["password"]["type"] == "password"
    assert "value" not in form.inputs["password"] or form.inputs["password"]["value"] == ""
    hidden = form.hidden()
    assert len(hidden.get("csrf_token", "")) >= 32
    assert "authorization_request" in hidden
    assert any(button["type"] == "submit" for button in form.buttons)
    assert {"username", "password"} <= page.label_for
    assert page.scripts == 0
    assert "spa" in page.text


def test_session_cookie_attributes(server, spa, alice):
    def attributes(header: str) -> list[str]:
        return [part.strip().lower() for part in header.split(";")[1:]]

    agent, response, _ = login_page(server, spa)
    header = response.headers.get("Set-Cookie", "")
    assert header.startswith(PRELOGIN_COOKIE + "="), header
    assert SESSION_COOKIE not in header, "no session before sign-in"
    assert {"httponly", "samesite=lax", "path=/"} <= set(attributes(header)), header
    logged_in = agent.login(response, alice.username, alice.password)
    session = [cookie for cookie in logged_in.raw.headers.getlist("Set-Cookie") if cookie.startswith(SESSION_COOKIE + "=")]
    assert len(session) == 1 and {"httponly", "samesite=lax", "path=/"} <= set(attributes(session[0])), session


def test_client_name_is_escaped_in_pages(module_warden, server, bob):
    evil = module_warden.create_code_client("<script>alert(1)</script> & co", (REDIRECT,), "profile")
    wait_until(lambda: server.code_token(evil, "x").status_code != 401)
    agent, response, page = login_page(server, evil)
    assert "<script>" not in response.text and page.scripts == 0
    assert "&lt;script&gt;" in response.text
    response = agent.login(response, bob.username, bob.password)
    consent = agent.follow(response)
    assert Page.parse(consent.text).is_consent
    assert "<script>" not in consent.text and "&lt;script&gt;" in consent.text


def test_wrong_password_and_unknown_user_look_the_same(server, spa, alice):
    agent, response, _ = login_page(server, spa)
    wrong = agent.login(response, alice.username, "not-the-password")
    unknown = agent.login(response, "nobody-" + secrets.token_hex(4), "not-the-password")
    assert wrong.status_code == unknown.status_code
    assert wrong.status_code < 500 and wrong.status_code not in (301, 302, 303, 307, 308)
    wrong_page, unknown_page = assert_html_page(wrong, wrong.status_code), assert_html_page(unknown, unknown.status_code)
    assert wrong_page.is_login and unknown_page.is_login
    assert wrong_page.alerts == unknown_page.alerts == [LOGIN_ERROR]
    assert "not-the-password" not in wrong.text, "the password must never be echoed"
    assert SESSION_COOKIE not in wrong.headers.get("Set-Cookie", ""), "a failed login must not start a session"
    # The same form then accepts the right password.
    ok = agent.login(wrong, alice.username, alice.password)
    assert ok.status_code == 303


def test_login_session_is_renewed_no_fixation(server, spa, alice):
    agent, response, _ = login_page(server, spa)
    assert agent.session_cookie is None
    before = agent.http.cookies.get(PRELOGIN_COOKIE)
    assert before
    logged_in = agent.login(response, alice.username, alice.password)
    assert logged_in.status_code == 303
    after = agent.session_cookie
    assert after and after != before, "sign-in must start a new session"
    assert not agent.http.cookies.get(PRELOGIN_COOKIE), "the pre-login cookie is cleared at sign-in"
    # The pre-login cookie is not a logged-in session, whatever it is presented as.
    for name in (PRELOGIN_COOKIE, SESSION_COOKIE):
        attacker = UserAgent(server)
        attacker.http.cookies.set(name, before, domain="127.0.0.1", path="/")
        page = assert_html_page(attacker.authorize(authorization_params(spa, REDIRECT, challenge=pkce_pair()[1])), 200)
        assert page.is_login, f"the pre-login cookie as {name} logged in"
    # The new session is.
    response = agent.authorize(authorization_params(spa, REDIRECT, challenge=pkce_pair()[1]))
    assert not (response.status_code == 200 and Page.parse(response.text).is_login)


def test_a_planted_session_cookie_is_replaced(server, spa, alice):
    agent = UserAgent(server)
    agent.http.cookies.set(SESSION_COOKIE, "attacker-chosen-value", domain="127.0.0.1", path="/")
    response = agent.authorize(authorization_params(spa, REDIRECT, challenge=pkce_pair()[1]))
    assert Page.parse(response.text).is_login
    assert agent.login(response, alice.username, alice.password).status_code == 303
    assert agent.session_cookie not in (None, "attacker-chosen-value")


def test_logged_in_user_is_not_asked_to_log_in_again(server, spa, alice, alice_agent):
    params = authorization_params(spa, REDIRECT, challenge=pkce_pair()[1], scope="profile")
    response = alice_agent.authorization(params, None, expect_login=False, expect_consent=False)
    assert response.status_code == 302
    assert "code" in assert_redirect_to(response, REDIRECT)


def test_consent_is_remembered_for_the_same_or_fewer_scopes(module_warden, server, bob):
    client = module_warden.create_code_client("remembered", (REDIRECT,), SCOPE)
    wait_until(lambda: server.code_token(client, "x").status_code != 401)
    agent = UserAgent(server)
    code_for(agent, client, bob, scope="profile email", expect_login=True, expect_consent=True)
    for scope in ("profile email", "email", "profile"):
        params = authorization_params(client, REDIRECT, challenge=pkce_pair()[1], scope=scope)
        response = agent.authorization(params, None, expect_login=False, expect_consent=False)
        assert response.status_code == 302
        assert "code" in assert_redirect_to(response, REDIRECT)
    # More than was allowed: asked again, listing the scopes.
    response = agent.authorize(authorization_params(client, REDIRECT, challenge=pkce_pair()[1], scope="profile offline_access"))
    page = assert_html_page(response, 200)
    assert page.is_consent
    assert "offline_access" in page.text and "profile" in page.text
    assert "remembered" in page.text


def test_consent_page_and_deny(module_warden, server, bob):
    client = module_warden.create_code_client("denied", (REDIRECT,), SCOPE)
    wait_until(lambda: server.code_token(client, "x").status_code != 401)
    agent = UserAgent(server)
    response = agent.authorize(authorization_params(client, REDIRECT, challenge=pkce_pair()[1], scope="profile email"))
    response = agent.follow(agent.login(response, bob.username, bob.password))
    page = assert_html_page(response, 200)
    assert page.is_consent
    form = page.form("/consent")
    assert {(b.get("name"), b.get("value")) for b in form.buttons} >= {("decision", "allow"), ("decision", "deny")}
    assert len(form.hidden().get("csrf_token", "")) >= 32
    assert any("profile" in item for item in page.list_items) and any("email" in item for item in page.list_items)
    assert "denied" in page.text and page.scripts == 0
    denied = agent.consent(response, "deny")
    assert denied.status_code == 303, "redirects after a POST are 303 (RFC 9700 §4.12)"
    params = assert_redirect_to(denied, REDIRECT, status=303)
    assert params["error"] == "access_denied" and "code" not in params
    assert params["iss"] == server.issuer and params["state"]


def test_consent_with_an_unknown_decision(module_warden, server, bob):
    client = module_warden.create_code_client("undecided", (REDIRECT,), SCOPE)
    wait_until(lambda: server.code_token(client, "x").status_code != 401)
    agent = UserAgent(server)
    response = agent.authorize(authorization_params(client, REDIRECT, challenge=pkce_pair()[1]))
    response = agent.follow(agent.login(response, bob.username, bob.password))
    form = Page.parse(response.text).form("/consent")
    answer = agent.post("/consent", dict(form.hidden(), decision="maybe"))
    assert answer.status_code == 400 and "Location" not in answer.headers
    assert_html_security_headers(answer)


def test_skip_consent_client(module_warden, server, bob):
    client = module_warden.create_code_client("trusted", (REDIRECT,), SCOPE, extra=("--skip-consent",))
    wait_until(lambda: server.code_token(client, "x").status_code != 401)
    agent = UserAgent(server)
    code, verifier = code_for(agent, client, bob, scope=SCOPE, expect_login=True, expect_consent=False)
    assert server.code_token(client, code, redirect_uri=REDIRECT, code_verifier=verifier).status_code == 200


def test_consent_is_per_user(server, spa, bob):
    # Alice allowed `spa` everything; Bob has not.
    agent = UserAgent(server)
    response = agent.authorize(authorization_params(spa, REDIRECT, challenge=pkce_pair()[1]))
    consent = agent.follow(agent.login(response, bob.username, bob.password))
    assert Page.parse(consent.text).is_consent, "another user's consent was used"


def test_unknown_user_costs_the_same_time_as_a_wrong_password(server, spa, alice):
    """No user enumeration through timing: an unknown user also pays for a password hash."""
    def duration(username):
        agent, response, _ = login_page(server, spa)
        start = time.monotonic()
        answer = agent.login(response, username, "wrong password")
        elapsed = time.monotonic() - start
        assert Page.parse(answer.text).alerts == [LOGIN_ERROR]
        return elapsed

    wrong = sorted(duration(alice.username) for _ in range(3))[1]
    unknown = sorted(duration("nobody-" + secrets.token_hex(4)) for _ in range(3))[1]
    assert unknown > 0.5 * wrong and wrong > 0.5 * unknown, (wrong, unknown)


@pytest.mark.parametrize("step", ["login", "consent"])
def test_tampered_authorization_request_in_a_form_is_revalidated(module_warden, server, bob, step):
    """The forms carry the authorization request; the server must check it again and
    never redirect to an unregistered URI because a form said so."""
    client = module_warden.create_code_client(f"tamper {step}", (REDIRECT,), SCOPE)
    wait_until(lambda: server.code_token(client, "x").status_code != 401)
    agent = UserAgent(server)
    response = agent.authorize(authorization_params(client, REDIRECT, challenge=pkce_pair()[1]))
    if step == "consent":
        response = agent.follow(agent.login(response, bob.username, bob.password))
    form = Page.parse(response.text).form("/" + step)
    evil = urlencode(authorization_params(client, "https://evil.example.com/cb", challenge=pkce_pair()[1]))
    fields = dict(form.hidden(), authorization_request=evil)
    fields.update({"username": bob.username, "password": bob.password} if step == "login" else {"decision": "allow"})
    answer = agent.post("/" + step, fields)
    assert_html_page(answer, 400)
    # Raw CR/LF in the carried request must not reach a response header either.
    fields["authorization_request"] = form.hidden()["authorization_request"] + "&x=\r\nX-Injected: 1"
    answer = agent.post("/" + step, fields)
    assert answer.status_code < 500 and "X-Injected" not in answer.headers
    if "Location" in answer.headers:
        assert "\r" not in answer.headers["Location"] and "\n" not in answer.headers["Location"]


def test_deleting_a_client_kills_its_grants(module_warden, server, alice, resource_server):
    client = module_warden.create_code_client("short-lived app", (REDIRECT,), SCOPE, extra=("--skip-consent",))
    wait_until(lambda: server.code_token(client, "x").status_code != 401)
    first = tokens(server, UserAgent(server), client, alice)
    module_warden.run("clients", "delete", positional=(client.client_id,))
    wait_until(lambda: server.is_active(resource_server, first["access_token"]) is False,
               message="the access token of a deleted client is still active after 5 s")
    response = server.refresh(client, first["refresh_token"])
    assert_oauth_error(response, {"invalid_client", "invalid_grant"}, status=None)
    assert response.status_code in (400, 401)


# -- CSRF ------------------------------------------------------------------------------------


def test_login_without_csrf_token_is_refused(server, spa, alice):
    agent, response, page = login_page(server, spa)
    fields = page.form("/login").hidden()
    fields.pop("csrf_token")
    answer = agent.post("/login", dict(fields, username=alice.username, password=alice.password))
    assert_html_page(answer, 403)
    assert SESSION_COOKIE not in answer.headers.get("Set-Cookie", "")
    assert Page.parse(agent.authorize(authorization_params(spa, REDIRECT, challenge=pkce_pair()[1])).text).is_login


def test_login_with_the_csrf_token_of_another_session_is_refused(server, spa, alice):
    victim, _, victim_page = login_page(server, spa)
    attacker, _, attacker_page = login_page(server, spa)
    fields = dict(victim_page.form("/login").hidden(), csrf_token=attacker_page.form("/login").hidden()["csrf_token"])
    answer = victim.post("/login", dict(fields, username=alice.username, password=alice.password))
    assert_html_page(answer, 403)
    # No cookie at all, with a real token.
    fresh = UserAgent(server)
    answer = fresh.post("/login", dict(attacker_page.form("/login").hidden(), username=alice.username, password=alice.password))
    assert_html_page(answer, 403)
    assert SESSION_COOKIE not in answer.headers.get("Set-Cookie", "")


def test_consent_without_or_with_a_foreign_csrf_token_is_refused(module_warden, server, bob):
    client = module_warden.create_code_client("csrf target", (REDIRECT,), SCOPE)
    wait_until(lambda: server.code_token(client, "x").status_code != 401)
    agent = UserAgent(server)
    params = authorization_params(client, REDIRECT, challenge=pkce_pair()[1])
    response = agent.follow(agent.login(agent.authorize(params), bob.username, bob.password))
    fields = Page.parse(response.text).form("/consent").hidden()
    other, _, other_page = login_page(server, client)
    for csrf in (None, other_page.form("/login").hidden()["csrf_token"], "", "x" * 43):
        data = dict(fields, decision="allow")
        if csrf is None:
            data.pop("csrf_token")
        else:
            data["csrf_token"] = csrf
        answer = agent.post("/consent", data)
        assert_html_page(answer, 403)
    # A cross-site POST without the session cookie at all.
    answer = UserAgent(server).post("/consent", dict(fields, decision="allow"))
    assert_html_page(answer, 403)
    # Nothing was consented.
    assert Page.parse(agent.authorize(authorization_params(client, REDIRECT, challenge=pkce_pair()[1])).text).is_consent


# -- users CLI ---------------------------------------------------------------------------------


def can_log_in(server, client, username, password) -> bool:
    agent, response, _ = login_page(server, client)
    answer = agent.login(response, username, password)
    if answer.status_code == 303:
        return True
    assert Page.parse(answer.text).alerts == [LOGIN_ERROR], answer.text
    return False


def test_users_create_list_delete(module_warden, server, spa):
    result = module_warden.run("users", "create", "--username", "carol", "--password", "correct horse 1")
    assert "correct horse 1" not in result.stdout + result.stderr
    users = {user["username"]: user for user in module_warden.users()}
    carol = users["carol"]
    # No profile attribute was given: none is listed (OpenID Connect claims are absent, never null).
    assert set(carol) == {"id", "username", "created_at", "updated_at", "email_verified"}
    assert isinstance(carol["created_at"], int) and abs(carol["created_at"] - time.time()) < 120
    assert len(carol["id"]) >= 16 and carol["id"] != "carol"
    listing = module_warden.run("users", "list")
    assert "carol" in listing.stdout and "$2" not in listing.stdout
    # Stored as bcrypt with cost >= 12, never in clear.
    (password_hash,) = module_warden.sql("SELECT password_hash FROM users WHERE username = 'carol'")[0]
    assert (bcrypt_cost(password_hash) or 0) >= 12 or password_hash.startswith("$argon2id$"), password_hash
    assert "correct horse 1" not in module_warden.database_bytes().decode("latin-1")
    # Duplicate.
    duplicate = module_warden.run("users", "create", "--username", "carol", "--password", "x", check=False)
    assert_one_line_failure(duplicate, "carol")
    assert [user["username"] for user in module_warden.users()].count("carol") == 1
    assert wait_until(lambda: can_log_in(server, spa, "carol", "correct horse 1"))
    module_warden.run("users", "delete", "carol")
    assert "carol" not in {user["username"] for user in module_warden.users()}
    assert wait_until(lambda: not can_log_in(server, spa, "carol", "correct horse 1"))
    missing = module_warden.run("users", "delete", "carol", check=False)
    assert_one_line_failure(missing, "carol")


@pytest.mark.parametrize(
    "args, stdin",
    [
        (("--password-stdin", "--password", "x"), "y\n"),
        ((), None),
        (("--password-stdin",), ""),
        (("--password", ""), None),
    ],
)
def test_users_create_refuses_bad_password_options(module_warden, server, args, stdin):
    result = module_warden.run("users", "create", "--username", "dora", *args, input=stdin, check=False)
    assert_one_line_failure(result)
    assert "dora" not in {user["username"] for user in module_warden.users()}


def test_password_stdin_strips_the_line_ending(module_warden, server, spa):
    module_warden.run("users", "create", "--username", "erin", "--password-stdin", input="two words \n")
    module_warden.run("users", "create", "--username", "frank", "--password-stdin", input="crlf-password\r\n")
    assert wait_until(lambda: can_log_in(server, spa, "erin", "two words "))
    assert not can_log_in(server, spa, "erin", "two words \n")
    assert not can_log_in(server, spa, "erin", "two words")
    assert can_log_in(server, spa, "frank", "crlf-password")
    assert not can_log_in(server, spa, "frank", "crlf-password\r")


def test_set_password(module_warden, server, spa):
    module_warden.run("users", "create", "--username", "gina", "--password-stdin", input="old-password\n")
    assert wait_until(lambda: can_log_in(server, spa, "gina", "old-password"))
    result = module_warden.run("users", "set-password", "gina", "--password-stdin", input="new-password\n")
    assert "new-password" not in result.stdout + result.stderr
    assert wait_until(lambda: not can_log_in(server, spa, "gina", "old-password"))
    assert can_log_in(server, spa, "gina", "new-password")
    module_warden.run("users", "set-password", "gina", "--password", "third-password")
    assert wait_until(lambda: can_log_in(server, spa, "gina", "third-password"))
    missing = module_warden.run("users", "set-password", "nobody", "--password", "x", check=False)
    assert_one_line_failure(missing, "nobody")


def test_deleting_a_user_kills_their_tokens_and_sessions(module_warden, server, spa, resource_server):
    henry = module_warden.create_user("henry")
    agent = UserAgent(server)
    first = tokens(server, agent, spa, henry, scope="profile")
    second = refreshed(server, spa, first["refresh_token"])
    assert server.is_active(resource_server, second["access_token"]) is True
    module_warden.run("users", "delete", "henry")
    wait_until(
        lambda: server.is_active(resource_server, second["access_token"]) is False,
        message="the access token of a deleted user is still active after 5 s",
    )
    assert server.is_active(resource_server, first["access_token"]) is False
    assert_refresh_dead(server, spa, second["refresh_token"])
    response = agent.authorize(authorization_params(spa, REDIRECT, challenge=pkce_pair()[1]))
    assert response.status_code == 200 and Page.parse(response.text).is_login, (
        "the deleted user's browser session still works"
    )


def test_purge_runs_beside_a_server_and_keeps_live_tokens(module_warden, server, spa, alice, alice_agent, resource_server):
    first = tokens(server, alice_agent, spa, alice)
    result = module_warden.run("purge")
    assert result.returncode == 0 and result.stderr.strip() == ""
    assert server.is_active(resource_server, first["access_token"]) is True
    refreshed(server, spa, first["refresh_token"])
    assert server.healthy()


# == other installations ==========================================================================


def make_installation(tmp_path_factory, name: str, config: dict) -> Warden:
    return Warden(tmp_path_factory.mktemp(name), config=config)


# -- login rate limits --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    installation = make_installation(
        tmp_path_factory, "limited", {"login_failures_per_account": 3, "login_failures_per_address": 8}
    )
    server = installation.start_server()
    client = installation.create_code_client("spa", (REDIRECT,), SCOPE, extra=("--skip-consent",))
    users = installation.create_user("ivy"), installation.create_user("jack")
    wait_until(lambda: server.code_token(client, "x").status_code != 401)
    yield server, client, users
    finish(installation)


def attempt(server, client, username, password) -> requests.Response:
    agent, response, _ = login_page(server, client)
    return agent.login(response, username, password)


def assert_rate_limited(response):
    assert response.status_code == 429, f"expected 429, got {response.status_code}"
    assert_html_security_headers(response)
    retry_after = response.headers.get("Retry-After", "")
    assert retry_after.isdigit() and 1 <= int(retry_after) <= 60, retry_after
    assert SESSION_COOKIE not in response.headers.get("Set-Cookie", ""), "a refused login must not log in"


def test_login_rate_limits(limited):
    server, client, (ivy, jack) = limited
    for _ in range(3):
        response = attempt(server, client, ivy.username, "wrong")
        assert response.status_code == 200 and Page.parse(response.text).alerts == [LOGIN_ERROR]
    # Limited per account: even the right password is refused for now...
    assert_rate_limited(attempt(server, client, ivy.username, ivy.password))
    assert_rate_limited(attempt(server, client, ivy.username, "wrong"))
    # ... but another account is not (the per-address limit is looser).
    assert attempt(server, client, jack.username, jack.password).status_code == 303
    # Per address: 3 failures so far, 5 more allowed, then every account is refused.
    for index in range(5):
        response = attempt(server, client, f"nobody-{index}", "wrong")
        assert response.status_code == 200, f"attempt {index}: {response.status_code}"
    assert_rate_limited(attempt(server, client, "nobody-new", "wrong"))
    assert_rate_limited(attempt(server, client, jack.username, jack.password))


# -- refresh token grace period -------------------------------------------------------------------


@pytest.fixture(scope="module")
def grace(tmp_path_factory):
    installation = make_installation(tmp_path_factory, "grace", {"refresh_token_grace_period": 5})
    server = installation.start_server()
    client = installation.create_code_client("spa", (REDIRECT,), SCOPE, extra=("--skip-consent",))
    introspector = installation.create_client(name="api", scope="", audiences=(), auth_method="client_secret_post")
    user = installation.create_user("kate")
    agent = UserAgent(server)
    wait_until(lambda: server.code_token(client, "x").status_code != 401)
    yield server, client, introspector, user, agent
    finish(installation)


def test_grace_replay_succeeds_once_and_replaces_the_successor(grace):
    server, client, introspector, user, agent = grace
    r0 = tokens(server, agent, client, user)
    r1 = refreshed(server, client, r0["refresh_token"])
    r2 = refreshed(server, client, r0["refresh_token"])  # the response with r1 was "lost"
    assert r2["refresh_token"] != r1["refresh_token"]
    # The new successor works; the one it replaced does not (whether presenting that one
    # then counts as reuse and revokes the grant is the server's choice: not checked).
    refreshed(server, client, r2["refresh_token"])
    assert_refresh_dead(server, client, r1["refresh_token"])


def test_second_grace_replay_revokes_the_grant(grace):
    server, client, introspector, user, agent = grace
    r0 = tokens(server, agent, client, user)
    r1 = refreshed(server, client, r0["refresh_token"])
    r2 = refreshed(server, client, r0["refresh_token"])
    assert_oauth_error(server.refresh(client, r0["refresh_token"]), "invalid_grant")
    assert_grant_dead(
        server, client, introspector,
        access_tokens=[r0["access_token"], r1["access_token"], r2["access_token"]], refresh_tokens=[r2["refresh_token"]],
    )


def test_grace_replay_of_an_older_token_leaves_one_chain_at_most(grace):
    server, client, introspector, user, agent = grace
    r0 = tokens(server, agent, client, user)
    r1 = refreshed(server, client, r0["refresh_token"])
    r2 = refreshed(server, client, r1["refresh_token"])  # r1 arrived: nothing was lost
    replay = server.refresh(client, r0["refresh_token"])
    if replay.status_code == 200:
        # Tolerated; then r2's chain must be dead, or two live chains exist.
        assert_refresh_dead(server, client, r2["refresh_token"])
    else:
        assert_oauth_error(replay, "invalid_grant")
        assert_grant_dead(server, client, introspector, access_tokens=[r2["access_token"]], refresh_tokens=[r2["refresh_token"]])


def test_replay_after_the_grace_period_revokes_the_grant(grace):
    server, client, introspector, user, agent = grace
    r0 = tokens(server, agent, client, user)
    r1 = refreshed(server, client, r0["refresh_token"])
    time.sleep(6.5)
    assert_oauth_error(server.refresh(client, r0["refresh_token"]), "invalid_grant")
    assert_grant_dead(server, client, introspector, access_tokens=[r1["access_token"]], refresh_tokens=[r1["refresh_token"]])


# -- lifetimes ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lifetimes(tmp_path_factory):
    installation = make_installation(
        tmp_path_factory, "lifetimes",
        {"session_lifetime": 3, "refresh_token_idle_lifetime": 4, "refresh_token_absolute_lifetime": 6,
         "access_token_lifetime": 300},
    )
    server = installation.start_server()
    client = installation.create_code_client("spa", (REDIRECT,), SCOPE, extra=("--skip-consent",))
    user = installation.create_user("liam")
    wait_until(lambda: server.code_token(client, "x").status_code != 401)
    yield server, client, user
    finish(installation)


def test_session_expires_after_session_lifetime(lifetimes):
    server, client, user = lifetimes
    agent = UserAgent(server)
    code_for(agent, client, user, expect_login=True)
    code_for(agent, client, user, expect_login=False)
    time.sleep(3.5)
    code_for(agent, client, user, expect_login=True)


def test_refresh_token_idle_and_absolute_lifetimes(lifetimes):
    server, client, user = lifetimes
    agent = UserAgent(server)
    idle = tokens(server, agent, client, user)
    # The clock starts when the absolute chain's code is redeemed: a slow sign-in before
    # it (the 3 s session may have ended) must not eat into its lifetime. Times are stored
    # in whole seconds, rounded down, so each step keeps a second of margin.
    absolute = tokens(server, agent, client, user)
    start = time.monotonic()
    assert absolute["expires_in"] == 300
    idle_1 = refreshed(server, client, idle["refresh_token"])

    def at(seconds):
        time.sleep(max(0.0, start + seconds - time.monotonic()))

    at(2.0)
    absolute_2 = refreshed(server, client, absolute["refresh_token"])
    at(4.0)
    # Used every 2 s, it outlives the 4 s idle lifetime...
    absolute_3 = refreshed(server, client, absolute_2["refresh_token"])
    at(5.0)
    # ... while one left alone for 5 s is dead.
    assert_oauth_error(server.refresh(client, idle_1["refresh_token"]), "invalid_grant")
    at(7.5)
    # 7.5 s after the code was redeemed: past the 6 s absolute lifetime, though used 3.5 s ago.
    assert_oauth_error(server.refresh(client, absolute_3["refresh_token"]), "invalid_grant")


# -- operator templates and plain PKCE ----------------------------------------------------------------

CUSTOM_LOGIN = """{{> header}}
<h1>ACME corporate sign-in</h1>
<p class="client">for {{client_name}}</p>
{{#error}}<p class="error" role="alert">{{error}}</p>{{/error}}
<form method="post" action="/login">
<input type="hidden" name="csrf_token" value="{{csrf_token}}">
<input type="hidden" name="authorization_request" value="{{authorization_request}}">
<label for="username">ACME id</label>
<input id="username" name="username" type="text" value="{{username}}">
<label for="password">ACME password</label>
<input id="password" name="password" type="password">
<button type="submit">Enter</button>
</form>
{{> footer}}
"""


@pytest.fixture(scope="module")
def custom(tmp_path_factory):
    templates = tmp_path_factory.mktemp("templates")
    (templates / "login.mustache").write_text(CUSTOM_LOGIN)
    installation = make_installation(
        tmp_path_factory, "custom", {"templates_directory": str(templates), "allow_plain_pkce": True}
    )
    server = installation.start_server()
    client = installation.create_code_client("<b>Acme & Co</b>", (REDIRECT,), SCOPE)
    user = installation.create_user("mia")
    wait_until(lambda: server.code_token(client, "x").status_code != 401)
    yield server, client, user
    finish(installation)


def test_templates_directory_overrides_the_login_page(custom):
    server, client, user = custom
    agent, response, page = login_page(server, client)
    assert page.h1 == "ACME corporate sign-in"
    assert "ACME password" in page.text
    assert "<b>Acme" not in response.text and "&lt;b&gt;Acme &amp; Co&lt;/b&gt;" in response.text
    # The error of a failed login renders in the operator's page.
    wrong = agent.login(response, user.username, "wrong")
    assert Page.parse(wrong.text).h1 == "ACME corporate sign-in" and Page.parse(wrong.text).alerts == [LOGIN_ERROR]
    # Templates not overridden are the built-in ones, and the flow works.
    consent = agent.follow(agent.login(wrong, user.username, user.password))
    assert_html_page(consent, 200)
    assert Page.parse(consent.text).is_consent
    error = UserAgent(server).authorize({"response_type": "code", "client_id": "nope"})
    assert_html_page(error, 400)


def test_plain_pkce_when_enabled(custom):
    server, client, user = custom
    assert set(server.metadata()["code_challenge_methods_supported"]) == {"S256", "plain"}
    agent = UserAgent(server)
    verifier = secrets.token_urlsafe(40)
    params = authorization_params(client, REDIRECT, challenge=verifier, method="plain", state="p")
    result = assert_redirect_to(agent.authorization(params, user), REDIRECT)
    assert server.code_token(client, result["code"], redirect_uri=REDIRECT, code_verifier=s256(verifier)).status_code == 400
    params = authorization_params(client, REDIRECT, challenge=verifier, method="plain", state="p")
    result = assert_redirect_to(agent.authorization(params, user, expect_login=False, expect_consent=False), REDIRECT)
    response = server.code_token(client, result["code"], redirect_uri=REDIRECT, code_verifier=verifier)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("problem", ["unparsable", "missing"])
def test_bad_templates_directory_is_refused(tmp_path, problem):
    templates = tmp_path / "templates"
    if problem == "unparsable":
        templates.mkdir()
        (templates / "login.mustache").write_text("{{#error}} never closed")
    installation = Warden(tmp_path / "warden", config={"templates_directory": str(templates)})
    # INTERFACE.md: a bad configuration value ends `serve` with exit 1 and one line on stderr.
    try:
        server = installation.start_server(attempts=1)
    except AssertionError:
        (stderr,) = [path.read_text() for path in installation.root.glob("serve-*.stderr")]
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "templates" in lines[0], lines
        return
    server.stop()
    installation.servers.remove(server)
    pytest.fail(f"serve started with a {problem} templates_directory ({templates}) instead of refusing it")


# -- serve --demo ---------------------------------------------------------------------------------


def test_demo_banner_prints_a_working_authorization_url(warden):
    server = warden.start_server(extra=("--demo",))
    banner = wait_until(lambda: (lambda out: out if "/authorize?" in out else None)(server.stdout()),
                        message="the demo banner has no /authorize URL")
    urls = re.findall(r"https?://\S+/authorize\?\S+", banner)
    assert len(urls) == 1, banner
    url = urls[0]
    assert url.startswith(server.issuer + "/authorize?"), url
    query = query_params(url)
    assert query["response_type"] == "code" and query.get("code_challenge_method") == "S256"
    credentials = re.search(r"user:\s*(\S+)\s+password:\s*(\S+)", banner)
    verifier = re.search(r"code_verifier=([A-Za-z0-9._~-]{43,128})", banner)
    assert credentials and verifier, banner
    user = User(credentials.group(1), credentials.group(2), "")
    assert user.username in {u["username"] for u in warden.users()}
    agent = UserAgent(server)
    response = agent.authorization(query, user, expect_login=True)
    result = assert_redirect_to(response, query["redirect_uri"])
    assert result["state"] == query.get("state") and result["iss"] == server.issuer
    token = requests.post(
        server.url("/token"),
        data={"grant_type": "authorization_code", "client_id": query["client_id"], "code": result["code"],
              "redirect_uri": query["redirect_uri"], "code_verifier": verifier.group(1)},
        timeout=10,
    )
    assert token.status_code == 200, token.text
    assert jwt_claims_unverified(token.json()["access_token"])["client_id"] == query["client_id"]
    assert s256(verifier.group(1)) == query["code_challenge"]


# -- code expiry (last in the file: it waits until the module's first code is 60 s old) --------------


def test_zz_code_expires_after_60_seconds(server, spa, early_code):
    code, verifier, issued = early_code
    remaining = CODE_EXPIRY_WAIT - (time.monotonic() - issued)
    if remaining > 0:
        time.sleep(remaining)
    response = server.code_token(spa, code, redirect_uri=REDIRECT, code_verifier=verifier)
    assert_oauth_error(response, "invalid_grant")
