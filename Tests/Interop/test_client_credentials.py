"""The client credentials grant (RFC 6749 §4.4) with a real OAuth client (Authlib),
and the access tokens (RFC 9068) verified by real JOSE libraries (joserfc, PyJWT),
everything discovered from the RFC 8414 metadata."""

from __future__ import annotations

import base64
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote, quote_plus

import pytest
import requests
from authlib.integrations.base_client.errors import OAuthError as AuthlibOAuthError
from authlib.integrations.requests_client import OAuth2Session

from interop import (
    assert_oauth_error,
    assert_rfc9068_token,
    jwt_claims_unverified,
    wait_until,
)

API = "https://api.example.com"
REPORTS = "https://reports.example.com/v1"
SCOPE = "invoices:read invoices:write"


@pytest.fixture(scope="module")
def basic_client(module_warden):
    return module_warden.create_client(
        name="billing", scope=SCOPE, audiences=(API, REPORTS), auth_method="client_secret_basic"
    )


@pytest.fixture(scope="module")
def post_client(module_warden):
    return module_warden.create_client(
        name="reporting", scope="reports:read", audiences=(), auth_method="client_secret_post"
    )


@pytest.fixture(scope="module")
def metadata(module_server, basic_client, post_client):
    return module_server.metadata()


def authlib_session(client, metadata, **kwargs) -> OAuth2Session:
    session = OAuth2Session(
        client.client_id,
        client.client_secret,
        token_endpoint_auth_method=client.auth_method,
        **kwargs,
    )
    session.metadata = metadata
    return session


# -- discovery --------------------------------------------------------------


def test_metadata_document(module_server, metadata):
    issuer = module_server.issuer
    assert metadata["issuer"] == issuer
    assert metadata["token_endpoint"] == issuer + "/token"
    assert metadata["introspection_endpoint"] == issuer + "/introspect"
    assert metadata["revocation_endpoint"] == issuer + "/revoke"
    assert metadata["jwks_uri"] == issuer + "/.well-known/jwks.json"
    assert "client_credentials" in metadata["grant_types_supported"]
    for name in (
        "token_endpoint_auth_methods_supported",
        "introspection_endpoint_auth_methods_supported",
        "revocation_endpoint_auth_methods_supported",
    ):
        assert {"client_secret_basic", "client_secret_post"} <= set(metadata[name]), (name, metadata[name])
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert "response_types_supported" in metadata
    assert {"invoices:read", "invoices:write", "reports:read"} <= set(metadata["scopes_supported"])
    response = requests.get(module_server.url("/.well-known/oauth-authorization-server"), timeout=10)
    assert response.headers["Content-Type"].startswith("application/json")


def test_scopes_supported_follows_clients_registered_while_serving(module_warden, module_server):
    module_warden.create_client(name="late", scope="late:scope")
    wait_until(
        lambda: "late:scope" in module_server.metadata()["scopes_supported"],
        message="a client registered with the CLI did not reach scopes_supported within 5 s",
    )


def test_jwks_publishes_public_keys_only(module_server, metadata):
    response = requests.get(metadata["jwks_uri"], timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].split(";")[0] in ("application/jwk-set+json", "application/json")
    # Default lead time 600 s: caches may hold the JWKS for half of it.
    assert response.headers["Cache-Control"].replace(" ", "") == "public,max-age=300"
    keys = response.json()["keys"]
    assert keys, "the JWKS is empty"
    for key in keys:
        assert key["kid"], key
        assert key["alg"] in ("ES256", "RS256", "EdDSA"), key
        assert key.get("use", "sig") == "sig", key
        assert not {"d", "p", "q", "dp", "dq", "qi", "k", "oth"} & set(key), f"private material in JWKS: {key}"
    assert len({key["kid"] for key in keys}) == len(keys), "duplicate kid"


# -- Authlib, both authentication methods -----------------------------------


def test_authlib_client_secret_basic(module_server, metadata, basic_client):
    session = authlib_session(basic_client, metadata)
    token = session.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
    assert token["token_type"] == "Bearer"
    assert token["scope"] == SCOPE
    assert isinstance(token["expires_in"], int) and 0 < token["expires_in"] <= 3600
    assert "refresh_token" not in token, "client credentials must not issue a refresh token (RFC 6749 §4.4.3)"
    assert_rfc9068_token(
        token["access_token"], module_server, basic_client, audience=API, scope=SCOPE,
        expires_in=token["expires_in"],
    )


def test_authlib_client_secret_post(module_server, metadata, post_client):
    session = authlib_session(post_client, metadata)
    token = session.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
    assert token["token_type"] == "Bearer"
    assert token["scope"] == "reports:read"
    # Registered without --audience: the default audience is the issuer.
    assert_rfc9068_token(
        token["access_token"], module_server, post_client, audience=module_server.issuer, scope="reports:read",
        expires_in=token["expires_in"],
    )


def test_token_response_is_not_cacheable(module_server, basic_client):
    response = module_server.token(basic_client)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers.get("Cache-Control") == "no-store"
    assert response.headers.get("Pragma") == "no-cache"
    body = response.json()
    assert set(body) >= {"access_token", "token_type", "expires_in", "scope"}


def test_every_token_has_a_unique_jti(module_server, basic_client):
    jtis = {jwt_claims_unverified(module_server.access_token(basic_client))["jti"] for _ in range(5)}
    assert len(jtis) == 5


# -- scope ------------------------------------------------------------------


def test_scope_subset_is_granted(module_server, metadata, basic_client):
    session = authlib_session(basic_client, metadata, scope="invoices:read")
    token = session.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
    assert token["scope"] == "invoices:read"
    assert_rfc9068_token(token["access_token"], module_server, basic_client, audience=API, scope="invoices:read")


def test_no_scope_gives_every_registered_scope(module_server, basic_client):
    response = module_server.token(basic_client)
    assert response.json()["scope"] == SCOPE
    # OAuth 2.1: an empty value counts as absent.
    response = module_server.token(basic_client, scope="")
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == SCOPE


@pytest.mark.parametrize("scope", ["invoices:delete", "invoices:read admin", "reports:read"])
def test_scope_outside_registration_is_invalid_scope(module_server, metadata, basic_client, scope):
    session = authlib_session(basic_client, metadata, scope=scope)
    with pytest.raises(AuthlibOAuthError) as raised:
        session.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
    assert raised.value.error == "invalid_scope"
    # Never silently narrowed:
    assert_oauth_error(module_server.token(basic_client, scope=scope), "invalid_scope")


# -- resource indicators (RFC 8707) ------------------------------------------


def test_resource_selects_audience(module_server, metadata, basic_client):
    session = authlib_session(basic_client, metadata)
    token = session.fetch_token(metadata["token_endpoint"], grant_type="client_credentials", resource=REPORTS)
    claims = assert_rfc9068_token(token["access_token"], module_server, basic_client, audience=REPORTS, scope=SCOPE)
    assert claims["aud"] == REPORTS, "a single audience is a plain string"


def test_without_resource_the_first_registered_audience(module_server, basic_client):
    token = module_server.access_token(basic_client)
    assert jwt_claims_unverified(token)["aud"] == API


def test_several_resources_give_an_audience_list(module_server, basic_client):
    token = module_server.access_token(basic_client, resource=[API, REPORTS])
    claims = assert_rfc9068_token(token, module_server, basic_client, audience=[API, REPORTS], scope=SCOPE)
    assert claims["aud"] == [API, REPORTS]


@pytest.mark.parametrize(
    "resources",
    [
        ["https://evil.example.com"],
        [API, "https://evil.example.com"],
        [API + "#fragment"],
        ["not a uri"],
        [API + "/"],  # exact match only
    ],
)
def test_unregistered_resource_is_invalid_target(module_server, metadata, basic_client, resources):
    assert_oauth_error(module_server.token(basic_client, resource=resources), "invalid_target")
    if len(resources) == 1:
        session = authlib_session(basic_client, metadata)
        with pytest.raises(AuthlibOAuthError) as raised:
            session.fetch_token(metadata["token_endpoint"], grant_type="client_credentials", resource=resources[0])
        assert raised.value.error == "invalid_target"


# -- client authentication ----------------------------------------------------


def basic_header(client_id: str, secret: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def every_byte_percent_encoded(text: str) -> str:
    return "".join(f"%{byte:02X}" for byte in text.encode())


def test_basic_credentials_are_form_url_encoded(module_server, basic_client):
    """RFC 6749 §2.3.1: id and secret are form-url-encoded before base64."""
    client_id, secret = basic_client.basic
    for encoded_id, encoded_secret in [
        (quote_plus(client_id), quote_plus(secret)),
        (quote(client_id, safe=""), quote(secret, safe="")),
        (every_byte_percent_encoded(client_id), secret),
        (client_id, every_byte_percent_encoded(secret)),
        (every_byte_percent_encoded(client_id).lower(), every_byte_percent_encoded(secret).lower()),
    ]:
        response = requests.post(
            module_server.url("/token"), data={"grant_type": "client_credentials"},
            headers=basic_header(encoded_id, encoded_secret), timeout=10,
        )
        assert response.status_code == 200, (encoded_id, encoded_secret, response.text)
        assert jwt_claims_unverified(response.json()["access_token"])["client_id"] == client_id


def test_basic_percent_escape_of_a_single_character(module_server, basic_client):
    """'%41' in the Basic client id is 'A' (and so on for the first character)."""
    client_id, secret = basic_client.basic
    first = client_id[0]
    escaped = f"%{ord(first):02X}" + client_id[1:]
    response = requests.post(
        module_server.url("/token"), data={"grant_type": "client_credentials"},
        headers=basic_header(escaped, secret), timeout=10,
    )
    assert response.status_code == 200, response.text
    # The escape is decoded, not compared literally: a different escaped character fails.
    other = "%41" if first != "A" else "%42"
    response = requests.post(
        module_server.url("/token"), data={"grant_type": "client_credentials"},
        headers=basic_header(other + client_id[1:], secret), timeout=10,
    )
    assert_oauth_error(response, "invalid_client", status=401)


def test_basic_scheme_is_case_insensitive(module_server, basic_client):
    """RFC 9110 §11.1: the auth scheme is case-insensitive."""
    encoded = base64.b64encode(":".join(basic_client.basic).encode()).decode()
    for scheme in ("basic", "BASIC", "bAsIc"):
        response = requests.post(
            module_server.url("/token"), data={"grant_type": "client_credentials"},
            headers={"Authorization": f"{scheme} {encoded}"}, timeout=10,
        )
        assert response.status_code == 200, (scheme, response.text)


def test_wrong_secret_and_unknown_client_look_the_same(module_server, basic_client):
    wrong_secret = requests.post(
        module_server.url("/token"), data={"grant_type": "client_credentials"},
        auth=(basic_client.client_id, basic_client.client_secret[:-1] + ("A" if basic_client.client_secret[-1] != "A" else "B")),
        timeout=10,
    )
    unknown = requests.post(
        module_server.url("/token"), data={"grant_type": "client_credentials"},
        auth=("no-such-client", basic_client.client_secret), timeout=10,
    )
    first = assert_oauth_error(wrong_secret, "invalid_client", status=401)
    second = assert_oauth_error(unknown, "invalid_client", status=401)
    assert first == second
    assert wrong_secret.headers["WWW-Authenticate"] == unknown.headers["WWW-Authenticate"]


def test_wrong_secret_with_post_is_invalid_client(module_server, post_client):
    response = requests.post(
        module_server.url("/token"),
        data={"grant_type": "client_credentials", "client_id": post_client.client_id, "client_secret": "nope"},
        timeout=10,
    )
    assert_oauth_error(response, "invalid_client", status=401)


def test_client_must_use_its_registered_method(module_server, basic_client, post_client):
    # A client_secret_basic client sending its credentials in the body:
    response = requests.post(
        module_server.url("/token"),
        data={"grant_type": "client_credentials", "client_id": basic_client.client_id,
              "client_secret": basic_client.client_secret},
        timeout=10,
    )
    assert_oauth_error(response, "invalid_client", status=401)
    # A client_secret_post client using HTTP Basic:
    response = requests.post(
        module_server.url("/token"), data={"grant_type": "client_credentials"}, auth=post_client.basic, timeout=10
    )
    assert_oauth_error(response, "invalid_client", status=401)
    assert response.headers["WWW-Authenticate"].lower().startswith("basic")


def test_authlib_with_the_wrong_method_is_rejected(module_server, metadata, basic_client):
    session = OAuth2Session(
        basic_client.client_id, basic_client.client_secret, token_endpoint_auth_method="client_secret_post"
    )
    with pytest.raises(AuthlibOAuthError) as raised:
        session.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
    assert raised.value.error == "invalid_client"


def test_client_not_registered_for_the_grant(module_warden, module_server):
    code_client = module_warden.create_client(
        name="webapp", grant_types=("authorization_code",), extra=("--redirect-uri", "http://127.0.0.1:9/cb")
    )
    wait_until(lambda: module_server.token(code_client).status_code != 401, message="client did not reach the server")
    assert_oauth_error(module_server.token(code_client), "unauthorized_client")


def test_client_registered_while_serving_can_get_tokens_within_5s(module_warden, module_server):
    client = module_warden.create_client(name="newcomer", scope="x:y")
    response = wait_until(
        lambda: (lambda r: r if r.status_code == 200 else None)(module_server.token(client)),
        message="a client created with the CLI could not get a token within 5 s",
    )
    assert response.json()["scope"] == "x:y"


def test_concurrent_token_requests_while_the_cli_writes(module_warden, module_server, basic_client, post_client):
    """Many token requests at once, while the CLI writes to the same database: no 5xx."""
    def fetch(index):
        client = basic_client if index % 2 else post_client
        return module_server.token(client).status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        futures = [pool.submit(fetch, index) for index in range(100)]
        for index in range(3):
            module_warden.create_client(name=f"concurrent-{index}", scope="c:d")
        statuses = [future.result() for future in futures]
    assert statuses == [200] * 100, sorted(set(statuses))
    assert module_server.healthy()


def test_logs_contain_no_secret_or_token(module_server, basic_client, post_client):
    token = module_server.access_token(basic_client)
    module_server.access_token(post_client)
    time.sleep(0.5)
    log = module_server.stdout()
    assert "path=/token" in log or "/token" in log, "the server logs requests to stdout"
    for secret in (basic_client.client_secret, post_client.client_secret, token, token.split(".")[2]):
        assert secret not in log
