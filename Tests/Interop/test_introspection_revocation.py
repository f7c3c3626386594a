"""Token introspection (RFC 7662) and revocation (RFC 7009).

Introspection is authoritative: anything that is not a live token this issuer
signed with a published key, for a client that still exists, and not revoked,
is `{"active": false}`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt as pyjwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jwk as joserfc_jwk

from interop import (
    assert_oauth_error,
    jwt_claims_unverified,
    jwt_header,
    verify_with_pyjwt,
    wait_until,
)

API = "https://api.example.com"
SCOPE = "invoices:read invoices:write"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def compact(header: dict, claims: dict, signature: bytes = b"") -> str:
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    return signing_input + "." + b64url(signature)


def hmac_jwt(header: dict, claims: dict, key: bytes) -> str:
    """An HS256/384/512 JWT, by hand (JOSE libraries rightly refuse public keys as HMAC secrets)."""
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[header["alg"]]
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    return signing_input + "." + b64url(hmac.new(key, signing_input.encode(), digest).digest())


def es256_with_own_key(header: dict, claims: dict) -> str:
    """A well-formed ES256 JWT signed with a key the server never saw."""
    own = ec.generate_private_key(ec.SECP256R1())
    pem = own.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    extra = {k: v for k, v in header.items() if k != "alg"}
    return pyjwt.encode(claims, pem, algorithm="ES256", headers=extra)


@pytest.fixture(scope="module")
def billing(module_warden):
    return module_warden.create_client(name="billing", scope=SCOPE, audiences=(API,))


@pytest.fixture(scope="module")
def resource_server(module_warden):
    """A confidential client that only introspects (what a resource server would be)."""
    return module_warden.create_client(name="api", scope="", audiences=(), auth_method="client_secret_post")


@pytest.fixture(scope="module")
def other(module_warden):
    return module_warden.create_client(name="other", scope=SCOPE, audiences=(API,))


@pytest.fixture
def token(module_server, billing):
    return module_server.access_token(billing)


# -- live tokens -------------------------------------------------------------


def test_live_token_is_active_with_its_claims(module_server, billing, resource_server, token):
    response = module_server.introspect(resource_server, token)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    claims = jwt_claims_unverified(token)
    assert body["active"] is True
    assert body["scope"] == SCOPE
    assert body["client_id"] == billing.client_id
    assert body["sub"] == billing.client_id
    assert body["aud"] == API
    assert body["iss"] == module_server.issuer
    assert body["token_type"] == "Bearer"
    for name in ("exp", "iat", "jti", "iss", "sub", "aud", "scope", "client_id"):
        assert body[name] == claims[name], name
    assert isinstance(body["exp"], int) and isinstance(body["iat"], int)


def test_any_confidential_client_may_introspect(module_server, billing, other, token):
    assert module_server.is_active(billing, token)
    assert module_server.is_active(other, token)


def test_token_type_hint_is_only_a_hint(module_server, resource_server, token):
    for hint in ("access_token", "refresh_token", "unknown_type"):
        kwargs = resource_server.credentials()
        data = dict(kwargs.pop("data"), token=token, token_type_hint=hint)
        response = requests.post(module_server.url("/introspect"), data=data, timeout=10, **kwargs)
        assert response.status_code == 200, (hint, response.text)
        assert response.json()["active"] is True, hint


def test_multiple_audiences_introspect_as_a_list(module_warden, module_server, resource_server):
    client = module_warden.create_client(name="multi", audiences=(API, "https://b.example.com"))
    token = module_server.access_token(client, resource=[API, "https://b.example.com"])
    body = module_server.introspect(resource_server, token).json()
    assert body["active"] is True
    assert body["aud"] == [API, "https://b.example.com"]


# -- client authentication of the endpoints ------------------------------------


def test_introspection_requires_client_authentication(module_server, token, billing):
    response = requests.post(module_server.url("/introspect"), data={"token": token}, timeout=10)
    assert_oauth_error(response, "invalid_client", status=401)
    response = requests.post(
        module_server.url("/introspect"), data={"token": token}, auth=(billing.client_id, "wrong"), timeout=10
    )
    assert_oauth_error(response, "invalid_client", status=401)


def test_public_client_may_not_introspect(module_warden, module_server, token):
    public = module_warden.create_client(
        name="spa", scope="", audiences=(), auth_method="none", grant_types=("authorization_code",),
        extra=("--redirect-uri", "http://127.0.0.1:9/cb"),
    )
    assert public.client_secret is None
    response = requests.post(
        module_server.url("/introspect"), data={"token": token, "client_id": public.client_id}, timeout=10
    )
    assert response.status_code in (400, 401), response.text
    assert_oauth_error(response, {"invalid_client", "unauthorized_client"}, status=None)
    assert "active" not in response.json()


def test_introspection_without_token_is_invalid_request(module_server, resource_server):
    response = requests.post(
        module_server.url("/introspect"),
        data={"client_id": resource_server.client_id, "client_secret": resource_server.client_secret},
        timeout=10,
    )
    assert_oauth_error(response, "invalid_request")
    response = module_server.introspect(resource_server, "")
    assert_oauth_error(response, "invalid_request")


def test_revocation_requires_client_authentication(module_server, token, billing):
    response = requests.post(module_server.url("/revoke"), data={"token": token}, timeout=10)
    assert_oauth_error(response, "invalid_client", status=401)
    response = requests.post(
        module_server.url("/revoke"), data={"token": token}, auth=(billing.client_id, "wrong"), timeout=10
    )
    assert_oauth_error(response, "invalid_client", status=401)
    assert module_server.is_active(billing, token), "an unauthenticated revocation must change nothing"


def test_revocation_without_token_is_invalid_request(module_server, billing):
    response = requests.post(module_server.url("/revoke"), data={}, auth=billing.basic, timeout=10)
    assert_oauth_error(response, "invalid_request")


# -- inactive tokens ------------------------------------------------------------


@pytest.mark.parametrize(
    "garbage",
    ["garbage", "a.b.c", "eyJhbGciOiJFUzI1NiJ9", "....", "x" * 4000, "ü-not-ascii", "Bearer abc"],
)
def test_garbage_is_inactive(module_server, resource_server, garbage):
    assert module_server.is_active(resource_server, garbage) is False


def test_tampered_signature_is_inactive(module_server, resource_server, token):
    head, payload, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[len(raw) // 2] ^= 0x01
    assert module_server.is_active(resource_server, f"{head}.{payload}.{b64url(bytes(raw))}") is False
    assert module_server.is_active(resource_server, f"{head}.{payload}.") is False
    assert module_server.is_active(resource_server, token) is True


def test_respelled_signature_is_inactive(module_server, resource_server, token):
    """RFC 7515 §2: base64url without padding. The same signature bytes spelled with
    padding, or with other bits in the unused low bits of its last character, is another
    token string and must not be active (jwt-kit alone accepts these spellings)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    head, payload, signature = token.split(".")
    unused = {2: 4, 3: 2}[len(signature) % 4]
    last = alphabet.index(signature[-1])
    siblings = [alphabet[last & ~((1 << unused) - 1) | bits] for bits in range(1 << unused)]
    variants = [signature + "=", signature + "=="] + [signature[:-1] + c for c in siblings if c != signature[-1]]
    for variant in variants:
        assert base64.urlsafe_b64decode(variant + "=" * (-len(variant) % 4)) == base64.urlsafe_b64decode(
            signature + "=" * (-len(signature) % 4))
        assert module_server.is_active(resource_server, f"{head}.{payload}.{variant}") is False, variant
    assert module_server.is_active(resource_server, token) is True


def test_tampered_payload_is_inactive(module_server, resource_server, token):
    head, _, signature = token.split(".")
    claims = jwt_claims_unverified(token)
    claims["scope"] = "invoices:read invoices:write admin"
    payload = b64url(json.dumps(claims).encode())
    assert module_server.is_active(resource_server, f"{head}.{payload}.{signature}") is False


def test_token_signed_with_a_foreign_key_and_the_servers_kid(module_server, resource_server, token):
    header = jwt_header(token)
    claims = jwt_claims_unverified(token)
    # Same issuer, same kid, valid-looking claims: only the key is wrong.
    assert module_server.is_active(resource_server, es256_with_own_key(header, claims)) is False
    # Another issuer signing with its own key and reusing the kid.
    foreign = dict(claims, iss="https://evil.example.com", jti="foreign-" + claims["jti"])
    assert module_server.is_active(resource_server, es256_with_own_key(header, foreign)) is False
    # A kid the server does not know.
    assert module_server.is_active(resource_server, es256_with_own_key(dict(header, kid="unknown-kid"), claims)) is False


def test_token_embedding_its_own_jwk_is_inactive(module_server, resource_server, token):
    """The header `jwk` must not be trusted (CVE-2018-0114 style)."""
    own = ec.generate_private_key(ec.SECP256R1())
    pem = own.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    public_jwk = joserfc_jwk.ECKey.import_key(pem).as_dict(private=False)
    header = dict(jwt_header(token), jwk=public_jwk)
    header.pop("alg")
    forged = pyjwt.encode(jwt_claims_unverified(token), pem, algorithm="ES256", headers=header)
    assert module_server.is_active(resource_server, forged) is False


def test_token_of_another_issuer_with_the_same_keys_is_inactive(module_warden, module_server, billing, resource_server):
    """A second server on the same database, with another issuer, signs with the same key:
    the signature is good, only `iss` differs."""
    other_server = module_warden.start_server()
    try:
        assert other_server.issuer != module_server.issuer
        foreign = other_server.access_token(billing)
        assert jwt_claims_unverified(foreign)["iss"] == other_server.issuer
        # The signature verifies against this server's JWKS:
        verify_with_pyjwt(
            foreign, module_server.metadata()["jwks_uri"], issuer=other_server.issuer, audience=API
        )
        assert other_server.is_active(resource_server, foreign) is True
        assert module_server.is_active(resource_server, foreign) is False
        mine = module_server.access_token(billing)
        assert other_server.is_active(resource_server, mine) is False
    finally:
        assert other_server.stop() == 0


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_is_inactive(module_server, resource_server, token, alg):
    header = dict(jwt_header(token), alg=alg)
    claims = jwt_claims_unverified(token)
    assert module_server.is_active(resource_server, compact(header, claims)) is False
    head, payload, signature = token.split(".")
    unsigned = b64url(json.dumps(header).encode()) + "." + payload + "."
    assert module_server.is_active(resource_server, unsigned) is False
    assert module_server.is_active(resource_server, unsigned + signature) is False


def test_hs256_with_the_public_key_as_secret_is_inactive(module_server, resource_server, token):
    """Algorithm confusion: HMAC keyed with the published public key."""
    header = jwt_header(token)
    claims = jwt_claims_unverified(token)
    jwks = module_server.jwks()
    published = next(key for key in jwks["keys"] if key["kid"] == header["kid"])
    public = joserfc_jwk.import_key(published)
    public_key = public.public_key
    candidates = [
        public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
        json.dumps(published).encode(),
        requests.get(module_server.url("/.well-known/jwks.json"), timeout=10).content,
        base64.urlsafe_b64decode(published["x"] + "=" * (-len(published["x"]) % 4)),
        published["x"].encode(),
    ]
    for alg in ("HS256", "HS384", "HS512"):
        for key in candidates:
            forged = hmac_jwt(dict(header, alg=alg), claims, key)
            assert module_server.is_active(resource_server, forged) is False, (alg, key[:20])


def test_wrong_typ_is_inactive(module_server, resource_server, token):
    """RFC 9068 §4: typ must be at+jwt. A token re-labelled as a plain JWT breaks the
    signature anyway; checked so a future relaxation is deliberate."""
    header = dict(jwt_header(token), typ="JWT")
    _, payload, signature = token.split(".")
    relabelled = b64url(json.dumps(header).encode()) + "." + payload + "." + signature
    assert module_server.is_active(resource_server, relabelled) is False


def test_expired_token_is_inactive(short_lived_warden, short_lived_server):
    client = short_lived_warden.create_client(name="brief", scope="a", audiences=(API,))
    response = short_lived_server.token(client)
    assert response.status_code == 200, response.text
    assert response.json()["expires_in"] == 2
    token = response.json()["access_token"]
    claims = jwt_claims_unverified(token)
    assert claims["exp"] - claims["iat"] == 2
    assert short_lived_server.is_active(client, token) is True
    wait_until(
        lambda: short_lived_server.is_active(client, token) is False,
        timeout=6,
        message="a token past its exp still introspects active",
    )
    assert time.time() >= claims["exp"] - 1
    with pytest.raises(pyjwt.ExpiredSignatureError):
        pyjwt.decode(
            token,
            pyjwt.PyJWKClient(short_lived_server.metadata()["jwks_uri"], cache_jwk_set=False)
            .get_signing_key_from_jwt(token).key,
            algorithms=["ES256"], audience=API, issuer=short_lived_server.issuer,
        )


# -- revocation ----------------------------------------------------------------


def test_revoking_own_token(module_server, billing, resource_server, token):
    assert module_server.is_active(resource_server, token) is True
    response = module_server.revoke(billing, token)
    assert response.status_code == 200, response.text
    assert response.headers.get("Cache-Control") == "no-store"
    # Inactive at once, for everybody, although the JWT itself is still good.
    assert module_server.is_active(resource_server, token) is False
    assert module_server.is_active(billing, token) is False
    verify_with_pyjwt(token, module_server.metadata()["jwks_uri"], issuer=module_server.issuer, audience=API)
    # Revoking again is fine.
    assert module_server.revoke(billing, token).status_code == 200


def test_revoking_with_a_token_type_hint(module_server, billing, resource_server):
    for hint in ("access_token", "refresh_token", "something_else"):
        token = module_server.access_token(billing)
        response = module_server.revoke(billing, token, token_type_hint=hint)
        assert response.status_code == 200, (hint, response.text)
        assert module_server.is_active(resource_server, token) is False, hint


def test_revoking_only_the_token_given(module_server, billing, resource_server):
    first = module_server.access_token(billing)
    second = module_server.access_token(billing)
    assert module_server.revoke(billing, first).status_code == 200
    assert module_server.is_active(resource_server, first) is False
    assert module_server.is_active(resource_server, second) is True


@pytest.mark.parametrize("garbage", ["garbage", "a.b.c", "x" * 2000])
def test_revoking_an_unknown_token_is_ok(module_server, billing, garbage):
    response = module_server.revoke(billing, garbage)
    assert response.status_code == 200, response.text


def test_revoking_another_clients_token_is_refused(module_server, billing, other, resource_server):
    token = module_server.access_token(billing)
    response = module_server.revoke(other, token)
    assert_oauth_error(response, "unauthorized_client")
    assert module_server.is_active(resource_server, token) is True


def test_revoked_token_of_post_client(module_warden, module_server, resource_server):
    client = module_warden.create_client(name="poster", audiences=(API,), auth_method="client_secret_post")
    token = module_server.access_token(client)
    assert module_server.revoke(client, token).status_code == 200
    assert module_server.is_active(resource_server, token) is False


def test_token_of_a_deleted_client_is_inactive(module_warden, module_server, resource_server):
    doomed = module_warden.create_client(name="doomed", audiences=(API,))
    token = module_server.access_token(doomed)
    assert module_server.is_active(resource_server, token) is True
    module_warden.run("clients", "delete", positional=(doomed.client_id,))
    wait_until(
        lambda: module_server.is_active(resource_server, token) is False,
        message="a deleted client's token still introspects active after 5 s",
    )
    # And the deleted client can no longer authenticate.
    assert_oauth_error(module_server.token(doomed), "invalid_client", status=401)


def test_logs_contain_no_tokens(module_server, billing, resource_server):
    token = module_server.access_token(billing)
    module_server.introspect(resource_server, token)
    module_server.revoke(billing, token)
    time.sleep(0.5)
    log = module_server.stdout()
    assert "/introspect" in log and "/revoke" in log
    for secret in (token, token.split(".")[1], token.split(".")[2], billing.client_secret, resource_server.client_secret):
        assert secret not in log
