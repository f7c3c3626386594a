"""Signing keys: rotation with a lead time, rotation --now, other algorithms,
retirement, and encryption at rest. Every test has its own installation and
server, since each one changes the keys. There is one staged-rotation ring per
algorithm: access tokens sign with `signing_algorithm`'s (ES256 by default), ID
tokens with RS256's unless a client registered another."""

from __future__ import annotations

import time

import jwt as pyjwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from interop import (
    PROPAGATION_SECONDS,
    assert_one_line_failure,
    assert_rfc9068_token,
    jwt_header,
    new_key_encryption_key,
    verify_with_joserfc,
    verify_with_pyjwt,
    wait_until,
)

API = "https://api.example.com"
SCOPE = "invoices:read"


@pytest.fixture
def client(warden):
    return warden.create_client(name="billing", scope=SCOPE, audiences=(API,))


@pytest.fixture
def introspector(warden):
    return warden.create_client(name="rs", scope="", audiences=(), auth_method="client_secret_post")


def token_kid(server, client) -> str:
    return jwt_header(server.access_token(client))["kid"]


def wait_for_signer(server, client, kid: str, timeout: float = PROPAGATION_SECONDS) -> str:
    """Waits until new tokens carry `kid`; returns such a token."""
    def signed_by_kid():
        token = server.access_token(client)
        return token if jwt_header(token)["kid"] == kid else None

    return wait_until(signed_by_kid, timeout=timeout, message=f"tokens are not signed with {kid} within {timeout}s")


def states(warden, algorithm: str = "ES256") -> dict[str, str]:
    """kid -> state of one algorithm's ring."""
    return {key["kid"]: key["state"] for key in warden.keys() if key["algorithm"] == algorithm}


def b64url_decode(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# -- the first key --------------------------------------------------------------


def test_serve_creates_an_es256_access_token_key_and_an_rs256_id_token_key(warden, server, client):
    keys = warden.keys()
    assert [key["algorithm"] for key in keys] == ["ES256", "RS256"]
    for key in keys:
        assert set(key) >= {"kid", "algorithm", "state", "created_at", "activates_at"}
        # retired_at is null, or left out, for a key that is not retired.
        assert key["state"] == "signing" and key.get("retired_at") is None
        assert isinstance(key["created_at"], int) and key["activates_at"] == key["created_at"]
    assert server.jwks_kids() == {key["kid"] for key in keys}
    assert token_kid(server, client) == keys[0]["kid"]


def test_keys_survive_a_restart(warden, server, client, introspector):
    token = server.access_token(client)
    kid = jwt_header(token)["kid"]
    published = server.jwks_kids()
    assert server.stop() == 0
    again = warden.start_server(issuer=server.issuer)
    assert again.jwks_kids() == published and kid in published
    assert token_kid(again, client) == kid
    assert again.is_active(introspector, token)


# -- rotation -------------------------------------------------------------------


def test_rotation_publishes_at_once_but_signs_after_the_lead_time(warden, server, client):
    old = warden.signing_kid()
    new = warden.rotate()
    listed = {key["kid"]: key for key in warden.keys()}
    assert listed[new]["state"] == "pending"
    assert listed[new]["activates_at"] - listed[new]["created_at"] == 600
    assert listed[old]["state"] == "signing"
    wait_until(lambda: new in server.jwks_kids(), message="a rotated key is not in the JWKS within 5 s")
    assert old in server.jwks_kids()
    assert token_kid(server, client) == old
    time.sleep(2.5)  # at least one more reload of the key ring
    token = server.access_token(client)
    assert jwt_header(token)["kid"] == old
    assert_rfc9068_token(token, server, client, audience=API, scope=SCOPE)


def test_rotated_key_signs_once_the_lead_time_has_passed(warden, client):
    warden.write_config({"key_rotation_lead_time": 6})
    server = warden.start_server()
    # The JWKS may be cached for half the lead time.
    response = requests.get(server.url("/.well-known/jwks.json"), timeout=10)
    assert response.headers["Cache-Control"].replace(" ", "") == "public,max-age=3"
    old = warden.signing_kid()
    new = warden.rotate()
    activates_at = next(key["activates_at"] for key in warden.keys() if key["kid"] == new)
    wait_until(lambda: new in server.jwks_kids(), message="a rotated key is not in the JWKS within 5 s")
    if time.time() < activates_at - 0.5:
        assert token_kid(server, client) == old, "the new key signs before its lead time"
    wait_for_signer(server, client, new, timeout=max(0.0, activates_at - time.time()) + PROPAGATION_SECONDS)
    assert states(warden) == {old: "verifying", new: "signing"}


@pytest.mark.parametrize("lead_time, max_age", [(0, 0), (601, 300), (100_000, 3600)])
def test_jwks_max_age_is_half_the_lead_time(warden, lead_time, max_age):
    warden.write_config({"key_rotation_lead_time": lead_time})
    server = warden.start_server()
    response = requests.get(server.url("/.well-known/jwks.json"), timeout=10)
    assert response.headers["Cache-Control"].replace(" ", "") == f"public,max-age={max_age}"


def test_rotate_now_signs_within_seconds_and_old_tokens_stay_good(warden, server, client, introspector):
    old_token = server.access_token(client)
    old = jwt_header(old_token)["kid"]
    new = warden.rotate(now=True)
    assert new != old
    new_token = wait_for_signer(server, client, new)
    assert old in server.jwks_kids() and new in server.jwks_kids()
    assert states(warden) == {old: "verifying", new: "signing"}
    # The old token still verifies for a resource server and introspects active.
    jwks_uri = server.metadata()["jwks_uri"]
    verify_with_pyjwt(old_token, jwks_uri, issuer=server.issuer, audience=API)
    verify_with_joserfc(old_token, server.jwks(), issuer=server.issuer, audience=API)
    assert server.is_active(introspector, old_token)
    assert server.is_active(introspector, new_token)
    assert_rfc9068_token(new_token, server, client, audience=API, scope=SCOPE)


@pytest.mark.parametrize(
    "algorithm, kty",
    [("EdDSA", "OKP"), ("RS256", "RSA"), ("ES256", "EC")],
)
def test_rotation_of_each_algorithm_s_ring(warden, client, introspector, algorithm, kty):
    """With `signing_algorithm` A, `keys rotate --algorithm A --now` moves access tokens to
    the new key of A's ring; the other rings' keys stay as they are."""
    warden.write_config({"signing_algorithm": algorithm})
    server = warden.start_server()
    others = {kid: state for kid, state in ((key["kid"], key["state"]) for key in warden.keys() if key["algorithm"] != algorithm)}
    new = warden.rotate(algorithm=algorithm, now=True)
    assert next(key for key in warden.keys() if key["kid"] == new)["algorithm"] == algorithm
    token = wait_for_signer(server, client, new)
    published = next(key for key in server.jwks()["keys"] if key["kid"] == new)
    assert published["kty"] == kty and published["alg"] == algorithm
    if kty == "RSA":
        assert len(b64url_decode(published["n"])) * 8 >= 2048
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(published)
    elif kty == "OKP":
        assert published["crv"] == "Ed25519" and "d" not in published
    else:
        assert published["crv"] == "P-256" and "d" not in published
    # joserfc and PyJWT, metadata -> jwks_uri -> key by kid:
    assert_rfc9068_token(token, server, client, audience=API, scope=SCOPE, algorithm=algorithm)
    assert server.is_active(introspector, token)
    assert {key["kid"]: key["state"] for key in warden.keys() if key["algorithm"] != algorithm} == others


def test_rotating_another_algorithm_leaves_access_tokens_alone(warden, server, client):
    signing = warden.signing_kid("ES256")
    new = warden.rotate(algorithm="EdDSA", now=True)
    wait_until(lambda: new in server.jwks_kids(), message="the EdDSA key is not in the JWKS within 5 s")
    time.sleep(0.5)  # more than a key reload
    assert token_kid(server, client) == signing
    assert states(warden, "EdDSA") == {new: "signing"} and states(warden)[signing] == "signing"


def test_signing_algorithm_from_config(warden, client):
    warden.write_config({"signing_algorithm": "EdDSA"})
    server = warden.start_server()
    assert warden.keys()[0]["algorithm"] == "EdDSA"
    token = server.access_token(client)
    assert_rfc9068_token(token, server, client, audience=API, scope=SCOPE, algorithm="EdDSA")


def test_rotate_refuses_an_unknown_algorithm(warden, server):
    for algorithm in ("HS256", "none", "es256"):
        result = warden.run("keys", "rotate", "--algorithm", algorithm, check=False)
        assert_one_line_failure(result, algorithm)
    assert len(warden.keys()) == 2  # access tokens' ES256 and ID tokens' RS256


# -- retirement -----------------------------------------------------------------


def test_retiring_the_old_key_unpublishes_it_and_kills_its_tokens(warden, server, client, introspector):
    old_token = server.access_token(client)
    old = jwt_header(old_token)["kid"]
    new = warden.rotate(now=True)
    new_token = wait_for_signer(server, client, new)
    assert server.is_active(introspector, old_token)

    result = warden.run("keys", "retire", positional=(old,))
    assert result.returncode == 0
    wait_until(lambda: old not in server.jwks_kids(), message="a retired key is still in the JWKS after 5 s")
    wait_until(
        lambda: not server.is_active(introspector, old_token),
        message="a token of a retired key still introspects active after 5 s",
    )
    listed = {key["kid"]: key for key in warden.keys()}
    assert listed[old]["state"] == "retired" and isinstance(listed[old]["retired_at"], int)
    # A resource server refreshing the JWKS cannot find the key any more.
    with pytest.raises(pyjwt.PyJWKClientError):
        verify_with_pyjwt(old_token, server.metadata()["jwks_uri"], issuer=server.issuer, audience=API)
    # The new key is unaffected.
    assert server.is_active(introspector, new_token)
    assert_rfc9068_token(server.access_token(client), server, client, audience=API, scope=SCOPE)
    # Retiring twice is an operator error.
    assert_one_line_failure(warden.run("keys", "retire", positional=(old,), check=False), old)


def test_retiring_the_signing_key_is_refused(warden, server, client, introspector):
    token = server.access_token(client)
    kid = warden.signing_kid()
    result = warden.run("keys", "retire", positional=(kid,), check=False)
    assert_one_line_failure(result, kid)
    assert warden.signing_kid() == kid
    assert all(key.get("retired_at") is None for key in warden.keys())
    time.sleep(2.5)
    assert kid in server.jwks_kids()
    assert server.is_active(introspector, token)


def test_retiring_a_pending_key(warden, server, client):
    old = warden.signing_kid()
    pending = warden.rotate()
    wait_until(lambda: pending in server.jwks_kids())
    warden.run("keys", "retire", positional=(pending,))
    wait_until(lambda: pending not in server.jwks_kids(), message="a retired pending key is still published")
    assert server.jwks_kids() == {old, warden.signing_kid("RS256")}
    assert token_kid(server, client) == old


def test_retiring_an_unknown_kid(warden, server):
    assert_one_line_failure(warden.run("keys", "retire", positional=("no-such-kid",), check=False), "no-such-kid")


# -- the key-encryption key -----------------------------------------------------


@pytest.mark.parametrize(
    "args, positional",
    [(("keys", "list"), ()), (("keys", "list", "--json"), ()), (("keys", "rotate"), ()),
     (("keys", "rotate", "--now"), ()), (("keys", "retire"), ("some-kid",))],
)
def test_keys_commands_need_a_key_encryption_key(warden, args, positional):
    warden.run("migrate")
    result = warden.run(*args, positional=positional, kek=False, check=False)
    assert_one_line_failure(result)
    assert result.stdout.strip() == "" or "[" not in result.stdout
    assert warden.sql("SELECT count(*) FROM signing_keys") == [(0,)]


def test_serve_needs_a_key_encryption_key(warden):
    result = warden.run("serve", "--port", "0", kek=False, check=False, timeout=30)
    assert_one_line_failure(result)


@pytest.mark.parametrize("content", ["", "not base64!", "c2hvcnQ=", "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"])
def test_a_malformed_key_encryption_key_is_refused(warden, content):
    warden.kek_file.write_text(content)
    result = warden.run("keys", "list", check=False)
    assert_one_line_failure(result, str(warden.kek_file))


def test_key_encryption_key_from_the_environment(warden):
    kek = warden.kek_file.read_text().strip()
    result = warden.run("keys", "rotate", "--now", kek=False, env={"WARDEN_KEY_ENCRYPTION_KEY": kek})
    assert result.returncode == 0
    listed = warden.run_json("keys", "list", kek=False, env={"WARDEN_KEY_ENCRYPTION_KEY": kek})
    assert len(listed) == 1
    # The same key from the file opens what the environment's key encrypted.
    server = warden.start_server()
    assert listed[0]["kid"] in server.jwks_kids() and states(warden) == {listed[0]["kid"]: "signing"}


def test_serve_with_another_key_encryption_key_fails_cleanly(warden, server):
    kid = warden.signing_kid()
    assert server.stop() == 0
    warden.kek_file.write_text(new_key_encryption_key() + "\n")
    result = warden.run("serve", "--port", "0", check=False, timeout=30)
    assert_one_line_failure(result)
    assert "Listening" not in result.stdout and "listening" not in result.stdout


def test_rotate_with_another_key_encryption_key_is_refused(warden, server, client, introspector):
    """A key encrypted with a different key-encryption key could never be opened by
    the server: `keys rotate` must refuse (exit 1, one line) instead of storing it."""
    old = warden.signing_kid()
    good_kek = warden.kek_file.read_text()
    warden.kek_file.write_text(new_key_encryption_key() + "\n")
    result = warden.run("keys", "rotate", "--now", check=False)
    warden.kek_file.write_text(good_kek)
    keys = warden.keys()
    assert_one_line_failure(result)
    assert [key["kid"] for key in keys if key["algorithm"] == "ES256"] == [old], "a key the server cannot decrypt was stored"
    assert len(keys) == 2


def test_private_keys_are_encrypted_at_rest(warden, server):
    for algorithm in ("RS256", "EdDSA", "ES256"):
        warden.rotate(algorithm=algorithm)
    rows = warden.sql("SELECT kid, algorithm, public_jwk, encrypted_private_key FROM signing_keys")
    assert len(rows) == 5  # with serve's ES256 and RS256
    import json

    database = warden.database_bytes()
    for kid, algorithm, public_jwk, blob in rows:
        jwk = json.loads(public_jwk)
        assert "d" not in jwk and "p" not in jwk
        assert isinstance(blob, bytes) and len(blob) > 0
        assert b"-----BEGIN" not in blob and b"PRIVATE" not in blob
        for loader in (serialization.load_der_private_key, serialization.load_pem_private_key):
            with pytest.raises(Exception):
                loader(blob, password=None)
        if algorithm == "RS256":
            # No DER private key starts anywhere in the blob.
            for offset in range(len(blob)):
                if blob[offset] == 0x30:
                    with pytest.raises(Exception):
                        serialization.load_der_private_key(blob[offset:], password=None)
        else:
            # No 32-byte window of the blob is the private scalar/seed of the published key.
            public_x = b64url_decode(jwk["x"])
            for offset in range(len(blob) - 31):
                window = blob[offset:offset + 32]
                if algorithm == "EdDSA":
                    derived = ed25519.Ed25519PrivateKey.from_private_bytes(window).public_key().public_bytes(
                        serialization.Encoding.Raw, serialization.PublicFormat.Raw
                    )
                else:
                    scalar = int.from_bytes(window, "big")
                    if not 0 < scalar < 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551:
                        continue
                    derived = ec.derive_private_key(scalar, ec.SECP256R1()).public_key().public_numbers().x.to_bytes(32, "big")
                assert derived != public_x, f"the private key of {kid} is stored in the clear"
        assert blob in database  # sanity: we looked at what is on disk
