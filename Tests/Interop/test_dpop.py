"""DPoP, sender-constrained access tokens (RFC 9449; shared/design/PROOF-OF-POSSESSION.md and
the issue 14 contract): the proof checks at /token (§4.3), token binding (`token_type` DPoP,
`cnf.jkt`, introspection), `--require-dpop` clients, `dpop_jkt` at /authorize (§10), refresh
tokens of public and confidential clients (§5), server nonces (§8) on one instance and across
instances on PostgreSQL, proof `jti`s single use across instances and purged after they expire,
DPoP-bound tokens at UserInfo (§7), and requests-oauth2client (a client library nobody here
wrote) getting and using DPoP tokens.

Proofs are made with joserfc (proof_of_possession.py), never with anything Warden uses. Every
URL a proof names is built from the server's metadata (`token_endpoint`, `userinfo_endpoint`),
never from the address the test talks to.

The nonce installation's first nonce is fetched when that installation starts (early in the
module) and presented again 29 s later by a timer thread, whose result the module's last test
checks: "a nonce is valid for at least 30 s" then costs only what the module does not already
spend.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from joserfc.jwk import ECKey, RSAKey

from interop import (
    NO_FAILURE_LIMITS,
    Client,
    Server,
    User,
    UserAgent,
    Warden,
    assert_authorization_error,
    assert_oauth_error,
    authorization_params,
    finish,
    jwt_claims_unverified,
    obtain_code,
    raw_request,
    verify_with_joserfc,
    wait_until,
)
from proof_of_possession import ALGORITHMS, b64url, dpop_proof, new_key, public_jwk, sign, thumbprint

pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")

API = "https://api.example.com"
CC_SCOPE = "invoices:read"
REDIRECT = "http://127.0.0.1:8765/callback"
CODE_SCOPE = "openid profile offline_access"
#: The page: `dpop_signing_alg_values_supported`, also what a DPoP challenge's `algs` lists.
DPOP_ALGORITHMS = ["ES256", "RS256", "PS256", "EdDSA"]
#: An issuer a TLS-terminating proxy would give (the server itself speaks HTTP on 127.0.0.1).
PROXIED_ISSUER = "https://warden.example"
#: RFC 9449 §8.1: DPoP-Nonce = 1*NQCHAR.
NQCHARS = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]+")
#: The page: a nonce is valid for at least 30 s. Presented this long after it arrived
#: (its age at the server is this plus the round trips, and must stay under 30 s).
NONCE_AGE = 29.0


# -- helpers -------------------------------------------------------------------------------------

_metadata: dict[int, dict] = {}


def metadata(server: Server) -> dict:
    if server.port not in _metadata:
        _metadata[server.port] = server.metadata()
    return _metadata[server.port]


def token_url(server: Server) -> str:
    return metadata(server)["token_endpoint"]


def userinfo_url(server: Server) -> str:
    return metadata(server)["userinfo_endpoint"]


def jwk_of(key) -> dict:
    """The public JWK a proof's header carries (no kid)."""
    return {name: value for name, value in public_jwk(key).items() if name != "kid"}


def proof(server: Server, key, *, alg: str = "ES256", htm: str = "POST", htu: str | None = None, **claims) -> str:
    """A good proof for POST /token of `server` (or `htu`); `claims` override (None removes)."""
    return dpop_proof(key, htm, htu or token_url(server), alg=alg, **claims)


def crafted(key, htu: str | None, *, alg: str = "ES256", header: dict | None = None, htm: str | None = "POST", **claims) -> str:
    """A proof signed by `key` whose header is edited: `header` values override, None removes."""
    body = {"jti": str(uuid.uuid4()), "htm": htm, "htu": htu, "iat": int(time.time()), **claims}
    body = {name: value for name, value in body.items() if value is not None}
    protected = {"typ": "dpop+jwt", "alg": alg, "jwk": jwk_of(key)}
    for name, value in (header or {}).items():
        if value is None:
            protected.pop(name, None)
        else:
            protected[name] = value
    return sign(protected, body, key)


def unsigned(header: dict, claims: dict, signature: bytes = b"") -> str:
    return b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode()) + "." + b64url(signature)


def default_claims(htu: str) -> dict:
    return {"jti": str(uuid.uuid4()), "htm": "POST", "htu": htu, "iat": int(time.time())}


def token_request(server: Server, client: Client, grant_type: str, dpop: str | None = None, **params) -> requests.Response:
    """POST /token with the client's auth method, a `DPoP` header when `dpop` is given,
    and `params` (None values left out)."""
    kwargs = client.credentials()
    data = [("grant_type", grant_type)] + list(kwargs.pop("data").items())
    data += [(name, value) for name, value in params.items() if value is not None]
    headers = {"DPoP": dpop} if dpop is not None else {}
    return requests.post(server.url("/token"), data=data, headers=headers, timeout=30, **kwargs)


def cc(server: Server, client: Client, dpop: str | None = None, **params) -> requests.Response:
    return token_request(server, client, "client_credentials", dpop, scope=CC_SCOPE, **params)


def assert_bad_proof(response: requests.Response, error: str = "invalid_dpop_proof") -> dict:
    return assert_oauth_error(response, error, status=400)


def assert_bound(response: requests.Response, key) -> dict:
    """A 200 token response whose access token is DPoP-bound to `key`; returns the body."""
    assert response.status_code == 200, f"{response.status_code} {response.text!r}"
    body = response.json()
    assert body["token_type"] == "DPoP", body
    claims = jwt_claims_unverified(body["access_token"])
    assert claims.get("cnf") == {"jkt": thumbprint(key)}, claims
    return body


def assert_unbound(response: requests.Response) -> dict:
    assert response.status_code == 200, f"{response.status_code} {response.text!r}"
    body = response.json()
    assert body["token_type"] == "Bearer", body
    claims = jwt_claims_unverified(body["access_token"])
    assert "cnf" not in claims, claims
    return body


def basic_header(client: Client) -> str:
    return "Basic " + base64.b64encode(f"{client.client_id}:{client.client_secret}".encode()).decode()


def challenge(response: requests.Response, scheme: str = "dpop") -> dict[str, str]:
    """The parameters of the response's WWW-Authenticate, which must start with `scheme`
    (the first value of each parameter, should another challenge follow)."""
    header = response.headers.get("WWW-Authenticate", "")
    assert re.match(rf"{scheme}(\s|$)", header, re.IGNORECASE), f"expected a {scheme} challenge, got {header!r}"
    params: dict[str, str] = {}
    for name, value in re.findall(r'([A-Za-z_]+)\s*=\s*"([^"]*)"', header):
        params.setdefault(name, value)
    return params


def userinfo(server: Server, token: str, *, scheme: str = "DPoP", dpop: str | None = None,
             method: str = "GET") -> requests.Response:
    headers = {"Authorization": f"{scheme} {token}"}
    if dpop is not None:
        headers["DPoP"] = dpop
    if method == "GET":
        return requests.get(server.url("/userinfo"), headers=headers, timeout=10)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    return requests.post(server.url("/userinfo"), data="", headers=headers, timeout=10)


def userinfo_proof(server: Server, key, token: str | None, *, htm: str = "GET", **claims) -> str:
    return dpop_proof(key, htm, userinfo_url(server), access_token=token, **claims)


def with_host(url: str, netloc: str | None = None, *, scheme: str | None = None, path: str | None = None) -> str:
    parts = urlsplit(url)
    return urlunsplit((scheme or parts.scheme, netloc or parts.netloc, path or parts.path, "", ""))


# -- installations --------------------------------------------------------------------------------


@dataclass
class Env:
    warden: Warden
    server: Server
    backend: Client       # client credentials, client_secret_basic
    resource: Client      # introspects (client_secret_post)
    strict: Client        # client credentials, --require-dpop
    spa: Client           # public code client
    web: Client           # confidential code client (client_secret_basic)
    alice: User
    agent: UserAgent      # alice's browser, signed in


def await_clients(server: Server, *clients: Client) -> None:
    for client in clients:
        wait_until(lambda: server.code_token(client, "x").status_code != 401,
                   message="clients created with the CLI did not reach the server")


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Env:
    installation = Warden(tmp_path_factory.mktemp("dpop"), config=dict(NO_FAILURE_LIMITS))
    try:
        server = installation.start_server()
        create_code = installation.create_code_client
        backend = installation.create_client(name="backend", scope=CC_SCOPE, audiences=(API,))
        resource = installation.create_client(name="resource server", scope="", audiences=(), auth_method="client_secret_post")
        strict = installation.create_client(name="strict", scope=CC_SCOPE, audiences=(API,), extra=("--require-dpop",))
        spa = create_code("spa", (REDIRECT,), CODE_SCOPE, extra=("--skip-consent",))
        web = create_code("web", (REDIRECT,), CODE_SCOPE, public=False, extra=("--skip-consent",))
        alice = installation.create_user("alice", extra=("--name", "Alice Liddell"))
        await_clients(server, backend, resource, strict, spa, web)
        agent = UserAgent(server)
        obtain_code(agent, spa, alice, REDIRECT, scope="profile")  # signs alice in
        yield Env(installation, server, backend, resource, strict, spa, web, alice, agent)
    finally:
        finish(installation)


@pytest.fixture(scope="module")
def proxied(env) -> Server:
    """A second server of the installation whose issuer is https://warden.example."""
    server = env.warden.start_server(issuer=PROXIED_ISSUER)
    yield server
    assert server.stop() == 0


@dataclass
class NonceEnv:
    server: Server
    backend: Client
    spa: Client
    alice: User
    first_nonce: str
    #: The first nonce presented again NONCE_AGE seconds after it arrived, by a timer thread
    #: (so that the check happens at that age whatever the tests do meanwhile): the key and
    #: the response (or the exception), once it fired.
    aged: dict
    timer: threading.Timer


def fresh_nonce(server: Server, client: Client) -> str:
    """A nonce from a use_dpop_nonce answer to a proof without one."""
    response = cc(server, client, proof(server, new_key()))
    assert_bad_proof(response, "use_dpop_nonce")
    nonce = response.headers.get("DPoP-Nonce")
    assert nonce, dict(response.headers)
    return nonce


@pytest.fixture(scope="module")
def nonce_env(tmp_path_factory) -> NonceEnv:
    """An installation with `dpop_nonce: required` (SQLite)."""
    installation = Warden(tmp_path_factory.mktemp("dpop-nonce"), config={"dpop_nonce": "required"})
    try:
        server = installation.start_server()
        backend = installation.create_client(name="backend", scope=CC_SCOPE, audiences=(API,))
        spa = installation.create_code_client("spa", (REDIRECT,), CODE_SCOPE, extra=("--skip-consent",))
        alice = installation.create_user("alice")
        await_clients(server, backend, spa)
        nonce = fresh_nonce(server, backend)
        aged: dict = {}

        def present_again():
            key = new_key()
            try:
                aged["response"] = cc(server, backend, proof(server, key, nonce=nonce))
            except Exception as error:  # reported by the test
                aged["error"] = error
            aged["key"] = key

        timer = threading.Timer(NONCE_AGE, present_again)
        timer.daemon = True
        timer.start()
        yield NonceEnv(server, backend, spa, alice, nonce, aged, timer)
        timer.cancel()
        timer.join(timeout=15)
    finally:
        finish(installation)


@dataclass
class Pair:
    warden: Warden
    a: Server
    b: Server
    backend: Client


@pytest.fixture(scope="module")
def pair(postgres, tmp_path_factory) -> Pair:
    """Two servers (same issuer) on one PostgreSQL database, `dpop_nonce: required`."""
    url = postgres.create_database("dpop")
    installation = Warden(tmp_path_factory.mktemp("dpop-pg"), config={"dpop_nonce": "required"}, database_url=url)
    try:
        a = installation.start_server()
        b = installation.start_server(issuer=a.issuer)
        backend = installation.create_client(name="backend", scope=CC_SCOPE, audiences=(API,))
        await_clients(a, backend)
        await_clients(b, backend)
        yield Pair(installation, a, b, backend)
    finally:
        finish(installation)
        postgres.drop_database(url)


# -- metadata ----------------------------------------------------------------------------------------


def test_metadata_lists_the_dpop_algorithms(env):
    assert env.server.metadata()["dpop_signing_alg_values_supported"] == DPOP_ALGORITHMS
    openid = requests.get(env.server.url("/.well-known/openid-configuration"), timeout=10).json()
    assert openid.get("dpop_signing_alg_values_supported") == DPOP_ALGORITHMS, sorted(openid)


# -- nonces (first, so that the installation's first nonce ages while the rest runs) ------------------


def test_nonce_required_a_proof_without_one_is_answered_use_dpop_nonce(nonce_env):
    response = cc(nonce_env.server, nonce_env.backend, proof(nonce_env.server, new_key()))
    assert_bad_proof(response, "use_dpop_nonce")
    nonce = response.headers.get("DPoP-Nonce")
    assert nonce and NQCHARS.fullmatch(nonce), dict(response.headers)


def test_nonce_required_the_retry_with_the_nonce_succeeds_and_carries_a_nonce(nonce_env):
    server, key = nonce_env.server, new_key()
    nonce = fresh_nonce(server, nonce_env.backend)
    response = cc(server, nonce_env.backend, proof(server, key, nonce=nonce))
    assert_bound(response, key)
    next_nonce = response.headers.get("DPoP-Nonce")
    assert next_nonce and NQCHARS.fullmatch(next_nonce), dict(response.headers)
    # A nonce is not single use: another proof with it (and with the one just given) works too.
    assert_bound(cc(server, nonce_env.backend, proof(server, key, nonce=nonce)), key)
    assert_bound(cc(server, nonce_env.backend, proof(server, key, nonce=next_nonce)), key)


def test_nonce_required_a_made_up_nonce_is_answered_use_dpop_nonce(nonce_env):
    server = nonce_env.server
    for made_up in ("made-up-nonce", nonce_env.first_nonce[::-1], nonce_env.first_nonce + "x"):
        response = cc(server, nonce_env.backend, proof(server, new_key(), nonce=made_up))
        assert_bad_proof(response, "use_dpop_nonce")
        assert response.headers.get("DPoP-Nonce"), dict(response.headers)


def test_nonce_required_does_not_demand_dpop(nonce_env):
    assert_unbound(cc(nonce_env.server, nonce_env.backend))


def test_nonce_required_userinfo_asks_for_no_nonce(nonce_env):
    """Contract: no nonce is asked at UserInfo (only the token endpoint asks)."""
    server, spa, key = nonce_env.server, nonce_env.spa, new_key()
    code, verifier = obtain_code(UserAgent(server), spa, nonce_env.alice, REDIRECT, scope="openid profile")
    nonce = fresh_nonce(server, nonce_env.backend)
    response = token_request(server, spa, "authorization_code", proof(server, key, nonce=nonce), code=code,
                             redirect_uri=REDIRECT, code_verifier=verifier)
    token = assert_bound(response, key)["access_token"]
    assert_claims(userinfo(server, token, dpop=userinfo_proof(server, key, token)), nonce_env.alice)


def test_a_nonce_from_one_instance_is_accepted_by_the_other(pair):
    for issuer_of_nonce, user_of_nonce in ((pair.a, pair.b), (pair.b, pair.a)):
        nonce = fresh_nonce(issuer_of_nonce, pair.backend)
        key = new_key()
        assert_bound(cc(user_of_nonce, pair.backend, proof(user_of_nonce, key, nonce=nonce)), key)


def test_a_proof_jti_is_single_use_across_instances(pair):
    nonce = fresh_nonce(pair.a, pair.backend)
    key = new_key()
    spent = proof(pair.a, key, nonce=nonce)
    assert_bound(cc(pair.a, pair.backend, spent), key)
    assert_bad_proof(cc(pair.b, pair.backend, spent))
    # The same jti in an otherwise new proof too.
    jti = jwt_claims_unverified(spent)["jti"]
    assert_bad_proof(cc(pair.b, pair.backend, proof(pair.b, key, nonce=nonce, jti=jti, iat=int(time.time()) - 1)))


# -- the proof at /token (§4.3) --------------------------------------------------------------------------


@pytest.mark.parametrize("typ", [None, "JWT", "at+jwt", "DPOP+JWT", "application/dpop+jwt"])
def test_typ_must_be_dpop_jwt(env, typ):
    response = cc(env.server, env.backend, crafted(new_key(), token_url(env.server), header={"typ": typ}))
    assert_bad_proof(response)


def test_alg_none_is_refused(env):
    key = new_key()
    header = {"typ": "dpop+jwt", "alg": "none", "jwk": jwk_of(key)}
    assert_bad_proof(cc(env.server, env.backend, unsigned(header, default_claims(token_url(env.server)))))


def test_hs256_is_refused(env):
    secret = b"0123456789abcdef0123456789abcdef"
    header = {"typ": "dpop+jwt", "alg": "HS256", "jwk": {"kty": "oct", "k": b64url(secret)}}
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(default_claims(token_url(env.server))).encode())
    token = signing_input + "." + b64url(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())
    assert_bad_proof(cc(env.server, env.backend, token))


@pytest.mark.parametrize("alg", ["ES384", "RS512"])
def test_an_asymmetric_alg_outside_the_list_is_refused(env, alg):
    key = ECKey.generate_key("P-384", private=True) if alg == "ES384" else RSAKey.generate_key(2048, private=True)
    assert_bad_proof(cc(env.server, env.backend, proof(env.server, key, alg=alg)))


def test_jwk_is_required(env):
    assert_bad_proof(cc(env.server, env.backend, crafted(new_key(), token_url(env.server), header={"jwk": None})))


@pytest.mark.parametrize("alg", ["ES256", "RS256", "EdDSA"])
def test_a_jwk_with_a_private_member_is_refused(env, alg):
    key = new_key(alg, kid=None)
    private = key.as_dict(private=True)
    assert "d" in private
    assert_bad_proof(cc(env.server, env.backend, crafted(key, token_url(env.server), alg=alg, header={"jwk": private})))


def test_the_signature_must_be_by_the_jwk(env):
    key, other = new_key(), new_key()
    forged = crafted(other, token_url(env.server), header={"jwk": jwk_of(key)})
    assert_bad_proof(cc(env.server, env.backend, forged))
    # A good proof whose signature was altered.
    head, body, signature = proof(env.server, key).split(".")
    altered = signature[:-4] + ("AAAA" if not signature.endswith("AAAA") else "BBBB")
    assert_bad_proof(cc(env.server, env.backend, f"{head}.{body}.{altered}"))


@pytest.mark.parametrize("htm", ["GET", "post", "PUT"])
def test_htm_must_be_post(env, htm):
    assert_bad_proof(cc(env.server, env.backend, proof(env.server, new_key(), htm=htm)))


def htu_variants(url: str, kind: str) -> str:
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port
    if kind == "other path":
        return with_host(url, path="/introspect")
    if kind == "longer path":
        return with_host(url, path=parts.path + "s")
    if kind == "other host":
        return with_host(url, f"{'localhost' if host != 'localhost' else '127.0.0.1'}:{port}")
    if kind == "other port":
        return with_host(url, f"{host}:{port + 1}")
    if kind == "other scheme":
        return with_host(url, scheme="https" if parts.scheme == "http" else "http")
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["other path", "longer path", "other host", "other port", "other scheme"])
def test_htu_must_be_the_token_endpoint(env, kind):
    htu = htu_variants(token_url(env.server), kind)
    assert_bad_proof(cc(env.server, env.backend, proof(env.server, new_key(), htu=htu)))


@pytest.mark.parametrize("variant", ["query", "fragment", "query and fragment", "scheme in capitals"])
def test_htu_query_and_fragment_are_ignored_and_the_scheme_normalised(env, variant):
    url = token_url(env.server)
    htu = {
        "query": url + "?a=b",
        "fragment": url + "#part",
        "query and fragment": url + "?a=b&c=d#part",
        "scheme in capitals": urlsplit(url).scheme.upper() + url[len(urlsplit(url).scheme):],
    }[variant]
    key = new_key()
    assert_bound(cc(env.server, env.backend, proof(env.server, key, htu=htu)), key)


@pytest.mark.parametrize("htu", [
    "https://warden.example/token",
    "HTTPS://WARDEN.EXAMPLE/token",
    "https://warden.example:443/token",
    "https://Warden.Example:443/token?x=1#y",
])
def test_htu_host_case_and_default_port_are_normalised(proxied, env, htu):
    assert token_url(proxied) == PROXIED_ISSUER + "/token"
    key = new_key()
    assert_bound(cc(proxied, env.backend, proof(proxied, key, htu=htu)), key)


@pytest.mark.parametrize("htu", [
    "http://warden.example/token",
    "https://warden.example:8443/token",
    "https://warden.example/Token",
    "https://other.example/token",
    "LISTENING",  # the address the server listens on: the proof names the issuer's URL, not it
])
def test_htu_is_compared_with_the_issuers_token_endpoint(proxied, env, htu):
    htu = proxied.url("/token") if htu == "LISTENING" else htu
    assert_bad_proof(cc(proxied, env.backend, proof(proxied, new_key(), htu=htu)))


@pytest.mark.parametrize("offset", [-90, 90, -600, 3600])
def test_iat_too_far_from_now_is_refused(env, offset):
    assert_bad_proof(cc(env.server, env.backend, proof(env.server, new_key(), iat=int(time.time()) + offset)))


@pytest.mark.parametrize("offset", [-30, 30])
def test_iat_within_the_lifetime_is_accepted(env, offset):
    key = new_key()
    assert_bound(cc(env.server, env.backend, proof(env.server, key, iat=int(time.time()) + offset)), key)


@pytest.mark.parametrize("claim", ["jti", "htm", "htu", "iat"])
def test_a_required_claim_missing_is_refused(env, claim):
    if claim == "htu":
        missing = crafted(new_key(), None)
    else:
        missing = crafted(new_key(), token_url(env.server), **{claim: None})
    assert claim not in jwt_claims_unverified(missing)
    assert_bad_proof(cc(env.server, env.backend, missing))


@pytest.mark.parametrize("claim, value", [("jti", 12345), ("iat", "now"), ("htu", 7), ("htm", ["POST"])])
def test_a_claim_of_the_wrong_type_is_refused(env, claim, value):
    assert_bad_proof(cc(env.server, env.backend, proof(env.server, new_key(), **{claim: value})))


def test_a_replayed_proof_is_refused(env):
    key = new_key()
    once = proof(env.server, key)
    assert_bound(cc(env.server, env.backend, once), key)
    assert_bad_proof(cc(env.server, env.backend, once))
    # The jti, not the whole proof, is what is spent.
    jti = jwt_claims_unverified(once)["jti"]
    assert_bad_proof(cc(env.server, env.backend, proof(env.server, key, jti=jti, iat=int(time.time()) - 2)))


def test_the_proof_is_checked_before_the_client_and_spent_after_it(env):
    """Contract: proof checked (not spent), then client authentication, then the jti spent, then the grant."""
    server, backend = env.server, env.backend
    wrong = Client(backend.client_id, "not-the-secret", backend.raw)
    # A bad proof with bad credentials: the proof is what is reported.
    bad = crafted(new_key(), token_url(server), header={"typ": "JWT"})
    assert_bad_proof(cc(server, wrong, bad))
    # A good proof with bad credentials is refused for the client and not spent.
    key = new_key()
    good = proof(server, key)
    assert_oauth_error(cc(server, wrong, good), "invalid_client", status=401)
    assert_bound(cc(server, backend, good), key)
    # A good proof with a grant that fails is spent.
    other = proof(server, key)
    assert_oauth_error(token_request(server, backend, "client_credentials", other, scope="not-registered"), "invalid_scope")
    assert_bad_proof(cc(server, backend, other))


def test_two_dpop_headers_are_refused(env):
    server, backend = env.server, env.backend
    key = new_key()
    first, second = proof(server, key), proof(server, key)
    body = f"grant_type=client_credentials&scope={CC_SCOPE.replace(' ', '+')}".encode()
    request = (
        f"POST /token HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Authorization: {basic_header(backend)}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"DPoP: {first}\r\nDPoP: {second}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    assert_bad_proof(raw_request(server.port, request).to_response())
    # Control: the same request with one of them is fine.
    single = request.replace(f"DPoP: {second}\r\n".encode(), b"")
    response = raw_request(server.port, single).to_response()
    assert response.status_code == 200 and response.json()["token_type"] == "DPoP", response.text


@pytest.mark.parametrize("value", [
    "not-a-jwt",
    "eyJhbGciOiJFUzI1NiJ9.eyJqdGkiOiJ4In0",
    "!!!.@@@.###",
    "e30.e30.e30.e30.e30",
    b64url(b"[1]") + "." + b64url(b"{}") + "." + b64url(b"x"),
    b64url(b"{not json") + "." + b64url(b"{}") + "." + b64url(b"x"),
])
def test_a_malformed_proof_is_invalid_dpop_proof(env, value):
    assert_bad_proof(cc(env.server, env.backend, value))


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_each_listed_algorithm_is_accepted(env, alg):
    key = new_key(alg, kid=None)
    assert_bound(cc(env.server, env.backend, proof(env.server, key, alg=alg)), key)


# -- binding -------------------------------------------------------------------------------------------------


def test_a_proof_binds_the_access_token_to_its_key(env):
    server, key = env.server, new_key()
    body = assert_bound(cc(server, env.backend, proof(server, key)), key)
    token = body["access_token"]
    _, claims = verify_with_joserfc(token, server.jwks(), issuer=server.issuer, audience=API)
    assert claims["cnf"] == {"jkt": thumbprint(key)}, claims
    response = server.introspect(env.resource, token)
    assert response.status_code == 200, response.text
    introspection = response.json()
    assert introspection["active"] is True, introspection
    assert introspection["token_type"] == "DPoP", introspection
    assert introspection["cnf"] == {"jkt": thumbprint(key)}, introspection


def test_without_a_proof_the_token_is_a_bearer_token(env):
    body = assert_unbound(cc(env.server, env.backend))
    introspection = env.server.introspect(env.resource, body["access_token"]).json()
    assert introspection["active"] is True and introspection["token_type"] == "Bearer", introspection
    assert "cnf" not in introspection, introspection


def test_a_require_dpop_client_needs_a_proof(env):
    assert env.strict.raw["dpop_bound_access_tokens"] is True, env.strict.raw
    assert env.backend.raw["dpop_bound_access_tokens"] is False, env.backend.raw
    assert_bad_proof(cc(env.server, env.strict))
    key = new_key()
    assert_bound(cc(env.server, env.strict, proof(env.server, key)), key)


# -- dpop_jkt at /authorize (§10) ----------------------------------------------------------------------------


def code_with(env: Env, client: Client, scope: str = CODE_SCOPE, **extra) -> tuple[str, str]:
    return obtain_code(env.agent, client, env.alice, REDIRECT, scope=scope, **extra)


def redeem(env: Env, client: Client, code: str, verifier: str, dpop: str | None) -> requests.Response:
    return token_request(env.server, client, "authorization_code", dpop, code=code, redirect_uri=REDIRECT,
                         code_verifier=verifier)


def test_dpop_jkt_code_redeemed_with_another_key_is_invalid_grant(env):
    key = new_key()
    code, verifier = code_with(env, env.spa, dpop_jkt=thumbprint(key))
    assert_oauth_error(redeem(env, env.spa, code, verifier, proof(env.server, new_key())), "invalid_grant")


def test_dpop_jkt_code_redeemed_without_a_proof_is_invalid_grant(env):
    code, verifier = code_with(env, env.spa, dpop_jkt=thumbprint(new_key()))
    assert_oauth_error(redeem(env, env.spa, code, verifier, None), "invalid_grant")


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_dpop_jkt_code_redeemed_with_its_key_is_bound(env, alg):
    key = new_key(alg, kid=None)
    code, verifier = code_with(env, env.spa, dpop_jkt=thumbprint(key))
    assert_bound(redeem(env, env.spa, code, verifier, proof(env.server, key, alg=alg)), key)


def test_dpop_jkt_binds_a_confidential_clients_code_too(env):
    key = new_key()
    code, verifier = code_with(env, env.web, dpop_jkt=thumbprint(key))
    assert_oauth_error(redeem(env, env.web, code, verifier, None), "invalid_grant")
    code, verifier = code_with(env, env.web, dpop_jkt=thumbprint(key))
    assert_bound(redeem(env, env.web, code, verifier, proof(env.server, key)), key)


@pytest.mark.parametrize("value", ["abc", "A" * 42, "A" * 44, "+" * 43, "A" * 42 + "=", "A" * 42 + "/"])
def test_a_malformed_dpop_jkt_is_invalid_request(env, value):
    state = "s-" + uuid.uuid4().hex
    params = authorization_params(env.spa, REDIRECT, scope="profile", state=state, challenge=b64url(b"x" * 32),
                                  dpop_jkt=value)
    response = env.agent.authorization(params, env.alice)
    assert_authorization_error(response, REDIRECT, "invalid_request", issuer=env.server.issuer, state=state,
                               status=(302, 303))


# -- refresh tokens (§5) ----------------------------------------------------------------------------------------


def refresh(env: Env, client: Client, refresh_token: str, dpop: str | None) -> requests.Response:
    return token_request(env.server, client, "refresh_token", dpop, refresh_token=refresh_token)


def test_a_public_clients_refresh_token_is_bound_to_the_key_and_failures_rotate_nothing(env):
    key = new_key()
    code, verifier = code_with(env, env.spa)
    tokens = assert_bound(redeem(env, env.spa, code, verifier, proof(env.server, key)), key)
    refresh_token = tokens["refresh_token"]
    assert_oauth_error(refresh(env, env.spa, refresh_token, None), "invalid_grant")
    assert_oauth_error(refresh(env, env.spa, refresh_token, proof(env.server, new_key())), "invalid_grant")
    # Nothing was rotated or revoked by the failures: the refresh token still works with its key.
    renewed = assert_bound(refresh(env, env.spa, refresh_token, proof(env.server, key)), key)
    assert renewed["refresh_token"] != refresh_token, "the refresh token was not rotated"
    # The new refresh token is bound to the same key.
    assert_oauth_error(refresh(env, env.spa, renewed["refresh_token"], None), "invalid_grant")
    assert_oauth_error(refresh(env, env.spa, renewed["refresh_token"], proof(env.server, new_key())), "invalid_grant")
    assert_bound(refresh(env, env.spa, renewed["refresh_token"], proof(env.server, key)), key)


def test_a_public_clients_unbound_refresh_chain_is_bound_by_its_first_proof(env):
    """RFC 9449 §5: refresh tokens issued to a public client with a proof are bound to its key,
    also when the chain began without DPoP."""
    key = new_key()
    code, verifier = code_with(env, env.spa)
    tokens = assert_unbound(redeem(env, env.spa, code, verifier, None))
    renewed = assert_bound(refresh(env, env.spa, tokens["refresh_token"], proof(env.server, key)), key)
    assert_oauth_error(refresh(env, env.spa, renewed["refresh_token"], None), "invalid_grant")
    assert_bound(refresh(env, env.spa, renewed["refresh_token"], proof(env.server, key)), key)


def test_a_confidential_clients_refresh_without_a_proof_gives_a_bearer_token(env):
    key = new_key()
    code, verifier = code_with(env, env.web)
    tokens = assert_bound(redeem(env, env.web, code, verifier, proof(env.server, key)), key)
    assert_unbound(refresh(env, env.web, tokens["refresh_token"], None))


def test_a_confidential_clients_refresh_with_a_new_key_binds_to_the_new_key(env):
    key, new = new_key(), new_key("EdDSA", kid=None)
    code, verifier = code_with(env, env.web)
    tokens = assert_bound(redeem(env, env.web, code, verifier, proof(env.server, key)), key)
    assert_bound(refresh(env, env.web, tokens["refresh_token"], proof(env.server, new, alg="EdDSA")), new)


# -- UserInfo (§7) --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bound(env) -> tuple[object, str]:
    """(key, access token) of an openid code flow redeemed with a proof of key."""
    key = new_key()
    code, verifier = code_with(env, env.spa, scope="openid profile")
    return key, assert_bound(redeem(env, env.spa, code, verifier, proof(env.server, key)), key)["access_token"]


def assert_claims(response: requests.Response, user: User) -> dict:
    assert response.status_code == 200, f"{response.status_code} {response.headers.get('WWW-Authenticate')!r} {response.text!r}"
    body = response.json()
    assert body["sub"] == user.id and body.get("preferred_username") == user.username, body
    return body


def test_userinfo_with_the_dpop_scheme_and_a_proof(env, bound):
    key, token = bound
    assert_claims(userinfo(env.server, token, dpop=userinfo_proof(env.server, key, token)), env.alice)
    assert_claims(userinfo(env.server, token, method="POST", dpop=userinfo_proof(env.server, key, token, htm="POST")),
                  env.alice)


def test_userinfo_a_bound_token_as_bearer_is_invalid_token(env, bound):
    _, token = bound
    response = userinfo(env.server, token, scheme="Bearer")
    assert response.status_code == 401, response.text
    params = challenge(response)
    assert params.get("error") == "invalid_token", params
    assert set(params.get("algs", "").split()) == set(DPOP_ALGORITHMS), params


@pytest.mark.parametrize("fault", ["no ath", "wrong ath", "token endpoint htu", "htm POST", "stale iat", "no typ"])
def test_userinfo_a_bad_proof_is_invalid_dpop_proof(env, bound, fault):
    key, token = bound
    url = userinfo_url(env.server)
    dpop = {
        "no ath": userinfo_proof(env.server, key, None),
        "wrong ath": userinfo_proof(env.server, key, token + "x"),
        "token endpoint htu": dpop_proof(key, "GET", token_url(env.server), access_token=token),
        "htm POST": userinfo_proof(env.server, key, token, htm="POST"),
        "stale iat": userinfo_proof(env.server, key, token, iat=int(time.time()) - 600),
        "no typ": crafted(key, url, htm="GET", header={"typ": None},
                          ath=b64url(hashlib.sha256(token.encode()).digest())),
    }[fault]
    response = userinfo(env.server, token, dpop=dpop)
    assert response.status_code == 401, f"{response.status_code} {response.text!r}"
    assert challenge(response).get("error") == "invalid_dpop_proof", response.headers.get("WWW-Authenticate")


def test_userinfo_a_replayed_proof_is_refused(env, bound):
    """Security line: proof identifiers are single use, at UserInfo too."""
    key, token = bound
    once = userinfo_proof(env.server, key, token)
    assert_claims(userinfo(env.server, token, dpop=once), env.alice)
    response = userinfo(env.server, token, dpop=once)
    assert response.status_code == 401, f"{response.status_code} {response.text!r}"
    assert challenge(response).get("error") == "invalid_dpop_proof", response.headers.get("WWW-Authenticate")


def test_userinfo_a_proof_of_another_key_is_refused(env, bound):
    _, token = bound
    response = userinfo(env.server, token, dpop=userinfo_proof(env.server, new_key(), token))
    assert response.status_code == 401, f"{response.status_code} {response.text!r}"
    assert challenge(response).get("error") in ("invalid_dpop_proof", "invalid_token"), response.headers


def test_userinfo_the_dpop_scheme_without_a_proof_is_refused(env, bound):
    _, token = bound
    response = userinfo(env.server, token)
    assert response.status_code == 401, f"{response.status_code} {response.text!r}"
    assert challenge(response).get("error") in ("invalid_dpop_proof", "invalid_token"), response.headers


def test_userinfo_an_unbound_token_with_the_dpop_scheme_is_invalid_token(env):
    code, verifier = code_with(env, env.spa, scope="openid profile")
    token = assert_unbound(redeem(env, env.spa, code, verifier, None))["access_token"]
    assert_claims(userinfo(env.server, token, scheme="Bearer"), env.alice)  # control
    response = userinfo(env.server, token, dpop=userinfo_proof(env.server, new_key(), token))
    assert response.status_code == 401, f"{response.status_code} {response.text!r}"
    header = response.headers.get("WWW-Authenticate", "")
    scheme = "dpop" if header.lower().startswith("dpop") else "bearer"
    assert challenge(response, scheme).get("error") == "invalid_token", header


def test_userinfo_the_bound_token_still_works_after_the_refusals(env, bound):
    key, token = bound
    assert_claims(userinfo(env.server, token, dpop=userinfo_proof(env.server, key, token)), env.alice)


# -- used proof identifiers are purged ------------------------------------------------------------------------------


def test_spent_proof_jtis_are_purged_after_they_expire(warden):
    warden.write_config({"dpop_proof_lifetime": 2})
    server = warden.start_server()
    backend = warden.create_client(name="backend", scope=CC_SCOPE, audiences=(API,))
    await_clients(server, backend)
    # The lifetime is the configured one: 10 s old is too old now.
    assert_bad_proof(cc(server, backend, proof(server, new_key(), iat=int(time.time()) - 10)))
    key = new_key()
    assert_bound(cc(server, backend, proof(server, key)), key)
    assert warden.sql("SELECT COUNT(*) FROM used_jtis")[0][0] >= 1, "the spent jti was not stored"
    wait_until(lambda: warden.sql("SELECT COUNT(*) FROM used_jtis")[0][0] == 0, timeout=8,
               message="used_jtis rows were not purged within 8 s of a 2 s proof lifetime")


# -- requests-oauth2client ----------------------------------------------------------------------------------------


def rfc7638_of(dpop_key) -> str:
    """The thumbprint of a requests-oauth2client DPoPKey, computed here (joserfc key, by hand)."""
    return thumbprint(ECKey.import_key(dpop_key.public_jwk.to_dict()))


def test_requests_oauth2client_gets_a_dpop_token(env):
    from requests_oauth2client import ClientSecretBasic, DPoPKey, DPoPToken, OAuth2Client

    client = OAuth2Client.from_discovery_endpoint(
        issuer=env.server.issuer, auth=ClientSecretBasic(*env.backend.basic), testing=True)
    dpop_key = DPoPKey.generate(alg="ES256")
    token = client.client_credentials(scope=CC_SCOPE, dpop_key=dpop_key)
    assert isinstance(token, DPoPToken), type(token)
    assert token.token_type == "DPoP"
    claims = jwt_claims_unverified(token.access_token)
    assert claims["cnf"] == {"jkt": dpop_key.dpop_jkt} == {"jkt": rfc7638_of(dpop_key)}, claims


def test_requests_oauth2client_follows_the_nonce(nonce_env):
    from requests_oauth2client import ClientSecretBasic, DPoPKey, DPoPToken, OAuth2Client

    client = OAuth2Client.from_discovery_endpoint(
        issuer=nonce_env.server.issuer, auth=ClientSecretBasic(*nonce_env.backend.basic), testing=True)
    dpop_key = DPoPKey.generate(alg="ES256")
    token = client.client_credentials(scope=CC_SCOPE, dpop_key=dpop_key)
    assert isinstance(token, DPoPToken) and token.token_type == "DPoP", token
    assert dpop_key.as_nonce, "the library was not asked for a nonce"
    assert jwt_claims_unverified(token.access_token)["cnf"] == {"jkt": dpop_key.dpop_jkt}


def test_requests_oauth2client_code_flow_with_dpop_jkt_userinfo_and_refresh(env):
    from requests_oauth2client import DPoPKey, DPoPToken, OAuth2Client

    client = OAuth2Client.from_discovery_endpoint(
        issuer=env.server.issuer, client_id=env.spa.client_id, redirect_uri=REDIRECT, testing=True)
    dpop_key = DPoPKey.generate(alg="ES256")
    request = client.authorization_request(scope="openid profile offline_access", dpop_key=dpop_key)
    assert f"dpop_jkt={dpop_key.dpop_jkt}" in str(request.uri), request.uri
    response = env.agent.get(str(request.uri))
    assert response.status_code in (302, 303), f"{response.status_code} {response.text[:300]!r}"
    assert response.headers["Location"].startswith(REDIRECT + "?"), response.headers["Location"]
    # validate=False: requests-oauth2client 1.8.0's ID token validation rebuilds the token as
    # `self.__class__(...)` without `_dpop_key`, a TypeError for every DPoPToken with an ID token.
    token = client.authorization_code(request.validate_callback(response.headers["Location"]), validate=False)
    assert isinstance(token, DPoPToken) and token.token_type == "DPoP", token
    assert jwt_claims_unverified(token.access_token)["cnf"] == {"jkt": dpop_key.dpop_jkt}
    info = client.userinfo(token)
    assert info["sub"] == env.alice.id, info
    renewed = client.refresh_token(token)
    assert isinstance(renewed, DPoPToken) and renewed.token_type == "DPoP", renewed
    assert jwt_claims_unverified(renewed.access_token)["cnf"] == {"jkt": dpop_key.dpop_jkt}
    assert client.userinfo(renewed)["sub"] == env.alice.id


# -- last: the nonce installation's first nonce, 29 s later --------------------------------------------------------


def test_a_nonce_is_still_accepted_29_seconds_later(nonce_env):
    """The page: nonces are valid for at least 30 s. The installation's first nonce was presented
    again 29 s after it arrived, by a timer started then (see nonce_env)."""
    nonce_env.timer.join(timeout=NONCE_AGE + 15)
    assert not nonce_env.timer.is_alive(), "the timer did not finish"
    assert "error" not in nonce_env.aged, nonce_env.aged.get("error")
    assert_bound(nonce_env.aged["response"], nonce_env.aged["key"])
