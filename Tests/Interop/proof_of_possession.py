"""Keys, client assertions (RFC 7523) and DPoP proofs (RFC 9449) built with joserfc,
a library Warden does not use, for the private_key_jwt, DPoP and PAR tests."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid

from joserfc import jws
from joserfc.jwk import ECKey, OKPKey, RSAKey

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ("ES256", "RS256", "PS256", "EdDSA")


def new_key(alg: str = "ES256", kid: str | None = "k1"):
    """A private key for `alg` (joserfc), with `kid` (none when kid is None)."""
    parameters = {"kid": kid} if kid is not None else {}
    if alg == "ES256":
        return ECKey.generate_key("P-256", parameters=parameters, private=True)
    if alg in ("RS256", "PS256"):
        return RSAKey.generate_key(2048, parameters=parameters, private=True)
    if alg == "EdDSA":
        return OKPKey.generate_key("Ed25519", parameters=parameters, private=True)
    raise ValueError(alg)


def public_jwk(key) -> dict:
    return key.as_dict(private=False)


def public_jwks(*keys) -> dict:
    return {"keys": [public_jwk(key) for key in keys]}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def thumbprint(key) -> str:
    """RFC 7638 SHA-256 thumbprint of the public key, computed here by hand."""
    jwk = public_jwk(key)
    required = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}[jwk["kty"]]
    text = json.dumps({name: jwk[name] for name in required}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(text.encode()).digest())


def sign(header: dict, claims: dict, key) -> str:
    """A compact JWS of `claims`; joserfc is told to allow every algorithm it knows."""
    return jws.serialize_compact(header, json.dumps(claims).encode(), key, algorithms=[header["alg"]])


def client_assertion(key, client_id: str, audience, *, alg: str = "ES256", header: dict | None = None, **claims) -> str:
    """A private_key_jwt assertion; `claims` override or (with None) remove the defaults."""
    now = int(time.time())
    body = {"iss": client_id, "sub": client_id, "aud": audience, "iat": now, "exp": now + 60, "jti": str(uuid.uuid4())}
    for name, value in claims.items():
        if value is None:
            body.pop(name, None)
        else:
            body[name] = value
    protected = {"alg": alg, "typ": "JWT"}
    kid = key.as_dict(private=False).get("kid")
    if kid:
        protected["kid"] = kid
    protected.update(header or {})
    return sign(protected, body, key)


def assertion_form(key, client_id: str, audience, **claims) -> dict:
    """The form members that authenticate with an assertion."""
    return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": client_assertion(key, client_id, audience, **claims)}


def dpop_proof(key, htm: str, htu: str, *, alg: str = "ES256", header: dict | None = None, access_token: str | None = None, **claims) -> str:
    """A DPoP proof; `claims` override or (with None) remove the defaults; `ath` from `access_token`."""
    body = {"jti": str(uuid.uuid4()), "htm": htm, "htu": htu, "iat": int(time.time())}
    if access_token is not None:
        body["ath"] = b64url(hashlib.sha256(access_token.encode()).digest())
    for name, value in claims.items():
        if value is None:
            body.pop(name, None)
        else:
            body[name] = value
    jwk = {name: value for name, value in public_jwk(key).items() if name != "kid"}
    protected = {"typ": "dpop+jwt", "alg": alg, "jwk": jwk}
    protected.update(header or {})
    return sign(protected, body, key)
