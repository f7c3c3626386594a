"""Keys, client assertions (RFC 7523) and DPoP proofs (RFC 9449) built with joserfc,
a library Warden does not use, for the private_key_jwt, DPoP and PAR tests."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import uuid
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

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


class JwksHost:
    """A client's `jwks_uri` host: a loopback HTTP server whose answer per path the tests set
    (status, body, Cache-Control, delay); it records the time of every fetch per path."""

    def __init__(self):
        self.routes: dict[str, dict] = {}
        self.fetches: dict[str, list[float]] = defaultdict(list)
        self.lock = threading.Lock()
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                path = urlsplit(self.path).path
                with host.lock:
                    host.fetches[path].append(time.monotonic())
                    route = dict(host.routes.get(path) or {"status": 404, "body": b"{}"})
                if route.get("delay"):
                    time.sleep(route["delay"])
                body = route["body"]
                try:
                    self.send_response(route.get("status", 200))
                    self.send_header("Content-Type", route.get("content_type", "application/json"))
                    if route.get("max_age") is not None:
                        self.send_header("Cache-Control", f"max-age={route['max_age']}")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the fetcher gave up (too slow, too big)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def serve(self, path: str, jwks=None, *, body: bytes | None = None, status: int = 200, max_age: int | None = 300,
              delay: float = 0.0, content_type: str = "application/json") -> str:
        """Sets what `path` answers from now on and returns its URL."""
        if body is None:
            body = json.dumps(jwks).encode()
        with self.lock:
            self.routes[path] = {"body": body, "status": status, "max_age": max_age, "delay": delay, "content_type": content_type}
        return f"http://127.0.0.1:{self.port}{path}"

    def count(self, path: str) -> int:
        with self.lock:
            return len(self.fetches[path])

    def first_fetch(self, path: str) -> float | None:
        with self.lock:
            return self.fetches[path][0] if self.fetches[path] else None

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
