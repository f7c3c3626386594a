"""`private_key_jwt` client authentication (RFC 7523 §2.2, OIDC Core §9), as
shared/design/PROOF-OF-POSSESSION.md and the issue 14 contract describe it: registration
with `--jwks FILE` / `--jwks-uri URL`, the assertion at /token, /introspect, /revoke and /par,
every check of the assertion (each failure the same 401 `invalid_client`), a `jwks_uri`
fetched from a loopback server (cache, refetch on an unknown kid, fetch failures), the
metadata, two third-party clients (requests-oauth2client and Authlib), and single use of
the `jti` across instances on PostgreSQL, with the stored identifiers purged after `exp`.

Keys and assertions come from joserfc (proof_of_possession.py), which Warden does not use.
The shared installation raises the failure rate limits (interop.NO_FAILURE_LIMITS), since
most tests fail client authentication on purpose, and allows http `jwks_uri`s for the
loopback JWKS server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from pathlib import Path

import pytest
import requests
from joserfc.jwk import ECKey, OKPKey, RSAKey
from joserfc.jws import JWSRegistry

from interop import (
    NO_FAILURE_LIMITS,
    Client,
    Warden,
    assert_one_line_failure,
    finish,
    free_port,
    pkce_pair,
    wait_until,
)
from proof_of_possession import (
    ALGORITHMS,
    ASSERTION_TYPE,
    JwksHost,
    b64url,
    client_assertion,
    new_key,
    public_jwk,
    public_jwks,
)

# joserfc flags the "EdDSA" alg name as deprecated by RFC 9864; the page asks for "EdDSA".
pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated", "ignore:Key size should be")

API = "https://api.example.com"
SCOPE = "invoices:read invoices:write"
REDIRECT = "http://127.0.0.1:8765/callback"
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
#: Config of the shared installation: failures on purpose, http jwks_uri on loopback, JSON logs.
CONFIG = {**NO_FAILURE_LIMITS, "allow_http_jwks_uri": True, "log_format": "json"}


# -- helpers -------------------------------------------------------------------------------------


def default_alg(key) -> str:
    return {"EC": "ES256", "RSA": "RS256", "OKP": "EdDSA"}[key.as_dict(private=False)["kty"]]


def without_kid(key):
    """The same key pair without a `kid` (so the assertion header has none)."""
    data = {name: value for name, value in key.as_dict(private=True).items() if name != "kid"}
    return type(key).import_key(data)


def write_jwks(warden: Warden, jwks) -> Path:
    """A JWKS file (any JSON value, or text as is) in the installation's directory."""
    path = warden.root / f"jwks-{secrets.token_hex(6)}.json"
    path.write_text(jwks if isinstance(jwks, str) else json.dumps(jwks))
    return path


def create_args(name: str = "signer", *extra: str) -> list[str]:
    return ["clients", "create", "--name", name, "--grant-type", "client_credentials", "--scope", SCOPE,
            "--audience", API, *extra]


def register(warden: Warden, *, jwks: dict | None = None, jwks_uri: str | None = None, name: str = "signer") -> Client:
    """A client-credentials client registered with `--auth-method private_key_jwt`."""
    extra: list[str] = []
    if jwks is not None:
        extra += ["--jwks", str(write_jwks(warden, jwks))]
    if jwks_uri is not None:
        extra += ["--jwks-uri", jwks_uri]
    return warden.create_client(name=name, scope=SCOPE, audiences=(API,), auth_method="private_key_jwt", extra=tuple(extra))


def claims_for(client_id: str, audience, **overrides) -> dict:
    now = int(time.time())
    body = {"iss": client_id, "sub": client_id, "aud": audience, "iat": now, "exp": now + 60, "jti": str(uuid.uuid4())}
    body.update(overrides)
    return body


def forge(header: dict, claims: dict, *, key=None, signing_alg: str | None = None, secret: bytes | None = None) -> str:
    """A compact JWS whose header says whatever `header` says, signed with `signing_alg` by
    `key` (whatever the header's alg), with HMAC-SHA256 over `secret`, or unsigned."""
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    if secret is not None:
        signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    elif key is not None:
        signature = JWSRegistry.algorithms[signing_alg].sign(signing_input.encode(), key)
    else:
        signature = b""
    return signing_input + "." + b64url(signature)


def post_assertion(url: str, assertion: str, *, client_id: str | None = None, data: dict | None = None, **kwargs) -> requests.Response:
    body = dict(data or {})
    if client_id is not None:
        body["client_id"] = client_id
    body["client_assertion_type"] = ASSERTION_TYPE
    body["client_assertion"] = assertion
    return requests.post(url, data=body, timeout=15, **kwargs)


CC = {"grant_type": "client_credentials"}


def token_with(meta: dict, client_id: str, key, *, aud=..., alg: str | None = None, header: dict | None = None,
               with_client_id: bool = False, **claims) -> requests.Response:
    """A client-credentials request authenticated with a fresh assertion (aud: the issuer by
    default; aud=None leaves it out)."""
    if aud is None:
        claims["aud"] = None
    assertion = client_assertion(
        key, client_id, meta["issuer"] if aud in (None, ...) else aud, alg=alg or default_alg(key), header=header, **claims)
    return post_assertion(meta["token_endpoint"], assertion, client_id=client_id if with_client_id else None, data=CC)


def assert_token(response: requests.Response) -> dict:
    assert response.status_code == 200, f"expected a token, got {response.status_code}: {response.text!r}"
    body = response.json()
    assert body["access_token"] and body["token_type"] == "Bearer", body
    return body


def assert_invalid_client(response: requests.Response, reference: dict | None = None) -> dict:
    """401 invalid_client (never a 5xx); with `reference`, exactly the same body."""
    assert response.status_code < 500, f"5xx: {response.status_code} {response.text!r}"
    assert response.status_code == 401, f"expected 401 invalid_client, got {response.status_code}: {response.text!r}"
    assert response.headers.get("Content-Type", "").split(";")[0].strip() == "application/json", dict(response.headers)
    body = response.json()
    assert body.get("error") == "invalid_client", body
    assert set(body) <= {"error", "error_description", "error_uri"}, body
    if reference is not None:
        assert body == reference, f"the failure body tells what failed: {body} differs from {reference}"
    return body


def cli_json(result) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def assert_same_keys(printed: dict, keys) -> None:
    """`printed` (a JWKS the CLI showed) holds exactly the public parts of `keys`."""
    assert isinstance(printed, dict) and isinstance(printed.get("keys"), list), printed
    by_kid = {item.get("kid"): item for item in printed["keys"]}
    assert len(printed["keys"]) == len(keys) and set(by_kid) == {public_jwk(key)["kid"] for key in keys}, printed
    for key in keys:
        expected = public_jwk(key)
        shown = by_kid[expected["kid"]]
        assert {name: shown.get(name) for name in expected} == expected, (shown, expected)
        assert not PRIVATE_MEMBERS & set(shown), f"private material shown: {shown}"


# -- the shared installation ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def installation(tmp_path_factory):
    warden = Warden(tmp_path_factory.mktemp("private-key-jwt"), config=CONFIG)
    yield warden
    finish(warden)


@pytest.fixture(scope="module")
def authz(installation):
    return installation.start_server()


@pytest.fixture(scope="module")
def meta(authz) -> dict:
    metadata = authz.metadata()
    assert metadata["issuer"] == authz.issuer
    return metadata


@pytest.fixture(scope="module")
def keys() -> dict:
    """The signer's keys: two EC keys, an RSA key for RS256, one for PS256, an Ed25519 key."""
    return {
        "e1": new_key("ES256", "e1"),
        "e2": new_key("ES256", "e2"),
        "r1": new_key("RS256", "r1"),
        "p1": new_key("PS256", "p1"),
        "o1": new_key("EdDSA", "o1"),
    }


#: Which key of `keys` signs which algorithm.
KEY_FOR = {"ES256": "e1", "RS256": "r1", "PS256": "p1", "EdDSA": "o1"}


@pytest.fixture(scope="module")
def signer(installation, authz, keys) -> Client:
    """The main client: `--jwks` with all five keys."""
    return register(installation, jwks=public_jwks(*keys.values()), name="signer")


@pytest.fixture(scope="module")
def other(installation, authz) -> tuple[Client, object]:
    """A second private_key_jwt client and its key."""
    key = new_key("ES256", "x1")
    return register(installation, jwks=public_jwks(key), name="other"), key


@pytest.fixture(scope="module")
def basic(installation, authz) -> Client:
    return installation.create_client(name="basic", scope=SCOPE, audiences=(API,), auth_method="client_secret_basic")


@pytest.fixture(scope="module")
def failure(meta, signer) -> dict:
    """The body of one failed authentication (a signature by a key the client does not have,
    under a registered kid): every other failure must answer exactly this."""
    return assert_invalid_client(token_with(meta, signer.client_id, new_key("ES256", "e1")))


# -- the command line ----------------------------------------------------------------------------


def test_create_with_jwks_shows_the_public_keys_and_no_secret(installation, signer, keys):
    raw = signer.raw
    assert raw["token_endpoint_auth_method"] == "private_key_jwt"
    assert raw.get("client_secret") is None, "a private_key_jwt client gets no secret"
    assert_same_keys(raw["jwks"], list(keys.values()))
    assert raw.get("jwks_uri") is None, raw
    assert raw["dpop_bound_access_tokens"] is False and raw["require_pushed_authorization_requests"] is False, raw
    shown = installation.run_json("clients", "show", positional=(signer.client_id,))
    assert shown.get("client_secret") is None
    assert_same_keys(shown["jwks"], list(keys.values()))
    assert shown["token_endpoint_auth_method"] == "private_key_jwt"


def test_create_with_an_https_jwks_uri(warden):
    raw = cli_json(warden.run(*create_args("remote", "--auth-method", "private_key_jwt",
                                           "--jwks-uri", "https://client.example.com/jwks.json", "--json")))
    assert raw["token_endpoint_auth_method"] == "private_key_jwt"
    assert raw["jwks_uri"] == "https://client.example.com/jwks.json"
    assert raw.get("jwks") is None, raw
    assert raw.get("client_secret") is None, raw
    assert raw["dpop_bound_access_tokens"] is False and raw["require_pushed_authorization_requests"] is False, raw


def _rsa_with(member: str) -> dict:
    private = new_key("RS256", "bad").as_dict(private=True)
    jwk = public_jwk(new_key("RS256", "bad")) if member == "oth" else {
        name: value for name, value in private.items() if name not in PRIVATE_MEMBERS}
    jwk[member] = [{"r": "AQAB", "d": "AQAB", "t": "AQAB"}] if member == "oth" else private[member]
    return jwk


REFUSED_JWKS = {
    "EC private key (d)": lambda: {"keys": [new_key("ES256", "bad").as_dict(private=True)]},
    "Ed25519 private key (d)": lambda: {"keys": [new_key("EdDSA", "bad").as_dict(private=True)]},
    **{f"RSA key with {member}": (lambda member=member: {"keys": [_rsa_with(member)]})
       for member in ("d", "p", "q", "dp", "dq", "qi", "oth")},
    "EC key with k": lambda: {"keys": [dict(public_jwk(new_key("ES256", "bad")), k="c2VjcmV0")]},
    "private key beside a public one": lambda: {"keys": [public_jwk(new_key("ES256", "ok")),
                                                         new_key("ES256", "bad").as_dict(private=True)]},
    "symmetric key (oct)": lambda: {"keys": [{"kty": "oct", "kid": "bad", "k": b64url(secrets.token_bytes(32))}]},
    "unknown kty": lambda: {"keys": [{"kty": "XYZ", "kid": "bad", "x": "AQAB"}]},
    "EC key on P-384": lambda: {"keys": [ECKey.generate_key("P-384", parameters={"kid": "bad"}, private=False).as_dict(private=False)]},
    "OKP key on X25519": lambda: {"keys": [OKPKey.generate_key("X25519", parameters={"kid": "bad"}, private=False).as_dict(private=False)]},
    "RSA key of 1024 bits": lambda: {"keys": [RSAKey.generate_key(1024, parameters={"kid": "bad"}, private=False).as_dict(private=False)]},
    "empty keys": lambda: {"keys": []},
    "a bare JWK, not a set": lambda: public_jwk(new_key("ES256", "bad")),
    "not JSON": lambda: "this is not JSON {",
}


@pytest.mark.parametrize("case", list(REFUSED_JWKS))
def test_a_private_or_unusable_jwks_file_is_refused(warden, case):
    path = write_jwks(warden, REFUSED_JWKS[case]())
    result = warden.run(*create_args("bad", "--auth-method", "private_key_jwt", "--jwks", str(path), "--json"), check=False)
    line = assert_one_line_failure(result)
    assert '"d"' not in line and "-----BEGIN" not in line, f"the error echoes key material: {line!r}"
    assert result.stdout == ""
    assert warden.run_json("clients", "list") == [], "a refused client was registered anyway"


def test_a_missing_jwks_file_is_refused(warden):
    result = warden.run(*create_args("bad", "--auth-method", "private_key_jwt", "--jwks", str(warden.root / "nope.json")),
                        check=False)
    assert_one_line_failure(result)
    assert warden.run_json("clients", "list") == []


@pytest.mark.parametrize("case", [
    "private_key_jwt without keys", "private_key_jwt with both", "client_secret_basic with --jwks",
    "default method with --jwks", "client_secret_post with --jwks-uri", "none with --jwks-uri",
])
def test_jwks_options_go_with_private_key_jwt_alone(warden, case):
    jwks = str(write_jwks(warden, public_jwks(new_key("ES256", "k1"))))
    uri = "https://client.example.com/jwks.json"
    args = {
        "private_key_jwt without keys": create_args("c", "--auth-method", "private_key_jwt"),
        "private_key_jwt with both": create_args("c", "--auth-method", "private_key_jwt", "--jwks", jwks, "--jwks-uri", uri),
        "client_secret_basic with --jwks": create_args("c", "--auth-method", "client_secret_basic", "--jwks", jwks),
        "default method with --jwks": create_args("c", "--jwks", jwks),
        "client_secret_post with --jwks-uri": create_args("c", "--auth-method", "client_secret_post", "--jwks-uri", uri),
        "none with --jwks-uri": ["clients", "create", "--name", "c", "--grant-type", "authorization_code",
                                 "--redirect-uri", REDIRECT, "--auth-method", "none", "--jwks-uri", uri],
    }[case]
    assert_one_line_failure(warden.run(*args, "--json", check=False))
    assert warden.run_json("clients", "list") == []


@pytest.mark.parametrize("uri", ["http://127.0.0.1:9/jwks.json", "ftp://client.example.com/jwks.json", "jwks.json"])
def test_a_jwks_uri_must_be_https(warden, uri):
    result = warden.run(*create_args("c", "--auth-method", "private_key_jwt", "--jwks-uri", uri), check=False)
    assert_one_line_failure(result)
    assert warden.run_json("clients", "list") == []


def test_an_http_jwks_uri_is_accepted_with_allow_http_jwks_uri(warden):
    uri = "http://127.0.0.1:9/jwks.json"
    assert_one_line_failure(warden.run(*create_args("c", "--auth-method", "private_key_jwt", "--jwks-uri", uri), check=False))
    warden.write_config({"allow_http_jwks_uri": False})
    assert_one_line_failure(warden.run(*create_args("c", "--auth-method", "private_key_jwt", "--jwks-uri", uri), check=False))
    warden.write_config({"allow_http_jwks_uri": True})
    raw = cli_json(warden.run(*create_args("c", "--auth-method", "private_key_jwt", "--jwks-uri", uri, "--json")))
    assert raw["jwks_uri"] == uri and raw.get("jwks") is None and raw.get("client_secret") is None, raw


def test_update_replaces_the_keys_and_prints_the_client(warden):
    first, second = new_key("ES256", "a"), new_key("EdDSA", "b")
    client = register(warden, jwks=public_jwks(first))
    updated = cli_json(warden.run("clients", "update", "--jwks", str(write_jwks(warden, public_jwks(second))), "--json",
                                  positional=(client.client_id,)))
    assert updated["client_id"] == client.client_id and updated["token_endpoint_auth_method"] == "private_key_jwt"
    assert_same_keys(updated["jwks"], [second])
    assert updated.get("client_secret") is None, updated
    assert_same_keys(warden.run_json("clients", "show", positional=(client.client_id,))["jwks"], [second])

    uri = "https://client.example.com/keys"
    moved = cli_json(warden.run("clients", "update", "--jwks-uri", uri, "--json", positional=(client.client_id,)))
    assert moved["jwks_uri"] == uri and moved.get("jwks") is None, moved
    back = cli_json(warden.run("clients", "update", "--jwks", str(write_jwks(warden, public_jwks(first))), "--json",
                               positional=(client.client_id,)))
    assert_same_keys(back["jwks"], [first])
    assert back.get("jwks_uri") is None, back


@pytest.mark.parametrize("case", ["unknown client", "client_secret_basic client", "private key", "both options", "http uri"])
def test_update_refusals_change_nothing(warden, case):
    key = new_key("ES256", "a")
    client = register(warden, jwks=public_jwks(key))
    secret_client = warden.create_client(name="basic", auth_method="client_secret_basic")
    good = str(write_jwks(warden, public_jwks(new_key("ES256", "b"))))
    target, options = client.client_id, ["--jwks", good]
    if case == "unknown client":
        target = "no-such-client"
    elif case == "client_secret_basic client":
        target = secret_client.client_id
    elif case == "private key":
        options = ["--jwks", str(write_jwks(warden, {"keys": [new_key("ES256", "b").as_dict(private=True)]}))]
    elif case == "both options":
        options = ["--jwks", good, "--jwks-uri", "https://client.example.com/keys"]
    elif case == "http uri":
        options = ["--jwks-uri", "http://client.example.com/keys"]
    before = warden.run_json("clients", "list")
    assert_one_line_failure(warden.run("clients", "update", *options, positional=(target,), check=False))
    assert warden.run_json("clients", "list") == before
    assert_same_keys(warden.run_json("clients", "show", positional=(client.client_id,))["jwks"], [key])


def test_update_reaches_a_running_server(installation, authz, meta):
    old, new = new_key("ES256", "old"), new_key("ES256", "new")
    client = register(installation, jwks=public_jwks(old), name="rotating-inline")
    assert_token(token_with(meta, client.client_id, old))  # the server has the client (and may cache it)
    installation.run("clients", "update", "--jwks", str(write_jwks(installation, public_jwks(new))),
                     positional=(client.client_id,))
    wait_until(lambda: token_with(meta, client.client_id, new).status_code == 200,
               message="the new key did not work within 5 s of `clients update`")
    assert_invalid_client(token_with(meta, client.client_id, old))


def test_allow_http_jwks_uri_is_logged_as_a_warning(authz):
    def warnings_about_it():
        found = []
        for line in authz.stdout().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("level") == "warning" and "jwks" in json.dumps(entry).lower():
                found.append(entry)
        return found or None

    wait_until(warnings_about_it, message=f"no warning about allow_http_jwks_uri in the log: {authz.stdout()[-2000:]!r}")


# -- metadata ------------------------------------------------------------------------------------


def test_metadata_lists_private_key_jwt_and_the_signing_algorithms(authz, meta):
    documents = {"oauth-authorization-server": meta}
    response = requests.get(authz.url("/.well-known/openid-configuration"), timeout=10)
    if response.status_code == 200:
        documents["openid-configuration"] = response.json()
    for document_name, document in documents.items():
        for endpoint in ("token", "introspection", "revocation"):
            methods = document.get(f"{endpoint}_endpoint_auth_methods_supported")
            if endpoint != "token" and methods is None and document_name == "openid-configuration":
                continue  # OIDC Discovery defines only the token endpoint's list
            assert "private_key_jwt" in methods, (document_name, endpoint, methods)
            assert {"client_secret_basic", "client_secret_post"} <= set(methods), (document_name, endpoint, methods)
            algs = document.get(f"{endpoint}_endpoint_auth_signing_alg_values_supported")
            if endpoint != "token" and algs is None and document_name == "openid-configuration":
                continue
            assert algs is not None and sorted(algs) == sorted(ALGORITHMS) and len(algs) == 4, (document_name, endpoint, algs)


# -- the assertion is accepted -------------------------------------------------------------------


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_each_algorithm_authenticates(meta, signer, keys, alg):
    token = assert_token(token_with(meta, signer.client_id, keys[KEY_FOR[alg]], alg=alg))
    assert token["scope"] == SCOPE


@pytest.mark.parametrize("with_client_id", [True, False], ids=["with client_id", "without client_id"])
def test_client_id_in_the_body_is_optional(meta, signer, keys, with_client_id):
    assert_token(token_with(meta, signer.client_id, keys["e1"], with_client_id=with_client_id))


def test_a_client_id_in_the_body_differing_from_the_assertion_is_refused(meta, signer, other, keys):
    for body_client_id in (other[0].client_id, "no-such-client"):
        assertion = client_assertion(keys["e1"], signer.client_id, meta["issuer"])
        response = post_assertion(meta["token_endpoint"], assertion, client_id=body_client_id, data=CC)
        assert response.status_code in (400, 401), f"{response.status_code}: {response.text!r}"
        assert response.json()["error"] == ("invalid_request" if response.status_code == 400 else "invalid_client"), response.text


def test_introspect_and_revoke_accept_an_assertion(meta, signer, keys, failure):
    key = keys["e1"]
    access_token = assert_token(token_with(meta, signer.client_id, key))["access_token"]
    for aud in (meta["introspection_endpoint"], meta["issuer"], meta["token_endpoint"]):
        response = post_assertion(meta["introspection_endpoint"], client_assertion(key, signer.client_id, aud),
                                  data={"token": access_token})
        assert response.status_code == 200, (aud, response.text)
        body = response.json()
        assert body["active"] is True and body["client_id"] == signer.client_id, body
    bad = post_assertion(meta["introspection_endpoint"], client_assertion(new_key("ES256", "e1"), signer.client_id, meta["issuer"]),
                         data={"token": access_token})
    assert_invalid_client(bad, failure)
    bad = post_assertion(meta["revocation_endpoint"], client_assertion(new_key("ES256", "e1"), signer.client_id, meta["issuer"]),
                         data={"token": access_token})
    assert_invalid_client(bad, failure)

    response = post_assertion(meta["revocation_endpoint"],
                              client_assertion(key, signer.client_id, meta["revocation_endpoint"]), data={"token": access_token})
    assert response.status_code == 200, response.text
    response = post_assertion(meta["introspection_endpoint"], client_assertion(key, signer.client_id, meta["issuer"]),
                              data={"token": access_token})
    assert response.status_code == 200 and response.json() == {"active": False}, response.text


@pytest.fixture(scope="module")
def par_client(installation, authz) -> tuple[Client, object]:
    key = new_key("ES256", "par")
    client = installation.create_code_client(
        "par-signer", (REDIRECT,), "profile", public=False, auth_method="private_key_jwt",
        extra=("--jwks", str(write_jwks(installation, public_jwks(key)))))
    return client, key


def par_body(client: Client) -> dict:
    _, challenge = pkce_pair()
    return {"response_type": "code", "client_id": client.client_id, "redirect_uri": REDIRECT, "scope": "profile",
            "state": secrets.token_urlsafe(8), "code_challenge": challenge, "code_challenge_method": "S256"}


@pytest.mark.parametrize("aud", ["par endpoint", "issuer", "token endpoint"])
def test_par_accepts_an_assertion(meta, par_client, aud):
    client, key = par_client
    par_url = meta.get("pushed_authorization_request_endpoint", meta["issuer"] + "/par")
    audience = {"par endpoint": par_url, "issuer": meta["issuer"], "token endpoint": meta["token_endpoint"]}[aud]
    response = post_assertion(par_url, client_assertion(key, client.client_id, audience), data=par_body(client))
    assert response.status_code == 201, f"{response.status_code}: {response.text!r}"
    assert response.json()["request_uri"].startswith("urn:ietf:params:oauth:request_uri:"), response.json()


def test_par_refuses_a_bad_assertion(meta, par_client, failure):
    client, _ = par_client
    par_url = meta.get("pushed_authorization_request_endpoint", meta["issuer"] + "/par")
    response = post_assertion(par_url, client_assertion(new_key("ES256", "par"), client.client_id, meta["issuer"]),
                              data=par_body(client))
    assert_invalid_client(response, failure)


# -- aud -----------------------------------------------------------------------------------------


def endpoint_request(meta: dict, endpoint: str, client_id: str, key, aud, access_token: str | None = None, **claims):
    assertion = client_assertion(key, client_id, aud, alg=default_alg(key), **claims)
    if endpoint == "token":
        return post_assertion(meta["token_endpoint"], assertion, data=CC)
    return post_assertion(meta[f"{endpoint}_endpoint"], assertion, data={"token": access_token or "not-a-token"})


ACCEPTED_AUDIENCES = {
    "issuer at token": ("token", lambda m: m["issuer"]),
    "token endpoint at token": ("token", lambda m: m["token_endpoint"]),
    "array containing the issuer": ("token", lambda m: ["https://elsewhere.example.com", m["issuer"]]),
    "array containing the token endpoint": ("token", lambda m: [m["token_endpoint"], "https://elsewhere.example.com"]),
    "introspection endpoint at introspect": ("introspection", lambda m: m["introspection_endpoint"]),
    "token endpoint at introspect": ("introspection", lambda m: m["token_endpoint"]),
    "issuer at revoke": ("revocation", lambda m: m["issuer"]),
    "revocation endpoint at revoke": ("revocation", lambda m: m["revocation_endpoint"]),
}


@pytest.mark.parametrize("case", list(ACCEPTED_AUDIENCES))
def test_accepted_audiences(meta, signer, keys, case):
    endpoint, audience = ACCEPTED_AUDIENCES[case]
    response = endpoint_request(meta, endpoint, signer.client_id, keys["e1"], audience(meta))
    assert response.status_code == 200, f"{case}: {response.status_code} {response.text!r}"


REFUSED_AUDIENCES = {
    "another server": ("token", lambda m: "https://elsewhere.example.com"),
    "array without the issuer": ("token", lambda m: ["https://elsewhere.example.com", "https://other.example.com"]),
    "empty array": ("token", lambda m: []),
    "introspection endpoint at token": ("token", lambda m: m["introspection_endpoint"]),
    "revocation endpoint at introspect": ("introspection", lambda m: m["revocation_endpoint"]),
    "introspection endpoint at revoke": ("revocation", lambda m: m["introspection_endpoint"]),
    "the client itself": ("token", None),
}


@pytest.mark.parametrize("case", list(REFUSED_AUDIENCES))
def test_refused_audiences(meta, signer, keys, failure, case):
    endpoint, audience = REFUSED_AUDIENCES[case]
    aud = signer.client_id if audience is None else audience(meta)
    assert_invalid_client(endpoint_request(meta, endpoint, signer.client_id, keys["e1"], aud), failure)


# -- iss, sub, exp, iat, nbf, jti --------------------------------------------------------------------


def test_iss_and_sub_must_both_be_the_client(meta, signer, other, keys, failure):
    other_client, other_key = other
    key = keys["e1"]
    cases = {
        "sub is another client": token_with(meta, signer.client_id, key, sub=other_client.client_id),
        "iss is another client": token_with(meta, signer.client_id, key, iss=other_client.client_id),
        "iss another client, signed by its key": token_with(meta, signer.client_id, other_key, iss=other_client.client_id),
        "sub another client, signed by its key": token_with(meta, other_client.client_id, other_key, sub=signer.client_id),
        "iss unknown": token_with(meta, signer.client_id, key, iss="no-such-client"),
    }
    for case, response in cases.items():
        assert response.status_code != 200, f"{case}: accepted"
        assert_invalid_client(response, failure)


@pytest.mark.parametrize("claim", ["iss", "sub", "aud", "exp", "jti"])
def test_a_required_claim_missing_is_refused(meta, signer, keys, failure, claim):
    # Without iss, the client is named by the body's client_id.
    response = token_with(meta, signer.client_id, keys["e1"], with_client_id=True, **{claim: None})
    assert_invalid_client(response, failure)


def test_exp_must_be_in_the_future_and_at_most_ten_minutes_ahead(meta, signer, keys, failure):
    key, now = keys["e1"], int(time.time())
    assert_invalid_client(token_with(meta, signer.client_id, key, iat=now - 300, exp=now - 90), failure)
    assert_invalid_client(token_with(meta, signer.client_id, key, exp=now + 11 * 60), failure)
    assert_invalid_client(token_with(meta, signer.client_id, key, exp=now + 24 * 3600), failure)
    assert_invalid_client(token_with(meta, signer.client_id, key, exp=str(now + 60)), failure)
    assert_token(token_with(meta, signer.client_id, key, exp=now + 9 * 60))


def test_iat_may_be_at_most_60_seconds_ahead(meta, signer, keys, failure):
    key, now = keys["e1"], int(time.time())
    assert_invalid_client(token_with(meta, signer.client_id, key, iat=now + 120, exp=now + 300), failure)
    assert_token(token_with(meta, signer.client_id, key, iat=now + 20, exp=now + 300))
    assert_token(token_with(meta, signer.client_id, key, iat=None))


def test_nbf_is_respected(meta, signer, keys, failure):
    key, now = keys["e1"], int(time.time())
    assert_invalid_client(token_with(meta, signer.client_id, key, nbf=now + 120, exp=now + 300), failure)
    assert_token(token_with(meta, signer.client_id, key, nbf=now - 10))


def test_an_assertion_is_single_use(meta, signer, keys, failure):
    assertion = client_assertion(keys["e1"], signer.client_id, meta["issuer"])
    assert_token(post_assertion(meta["token_endpoint"], assertion, data=CC))
    assert_invalid_client(post_assertion(meta["token_endpoint"], assertion, data=CC), failure)
    assert_invalid_client(post_assertion(meta["token_endpoint"], assertion, client_id=signer.client_id, data=CC), failure)


def test_a_jti_is_single_use_whatever_else_the_assertion_says(meta, signer, keys, failure):
    jti = str(uuid.uuid4())
    assert_token(token_with(meta, signer.client_id, keys["e1"], jti=jti))
    now = int(time.time())
    # Another signature (another key, another alg), another exp and iat, the same jti.
    assert_invalid_client(token_with(meta, signer.client_id, keys["o1"], jti=jti, iat=now - 1, exp=now + 120), failure)
    assert_invalid_client(token_with(meta, signer.client_id, keys["e1"], aud=meta["token_endpoint"], jti=jti), failure)


def test_a_jti_spent_at_the_token_endpoint_is_spent_at_introspection_too(meta, signer, keys, failure):
    assertion = client_assertion(keys["e1"], signer.client_id, meta["issuer"])
    access_token = assert_token(post_assertion(meta["token_endpoint"], assertion, data=CC))["access_token"]
    response = post_assertion(meta["introspection_endpoint"], assertion, data={"token": access_token})
    assert_invalid_client(response, failure)
    response = post_assertion(meta["revocation_endpoint"], assertion, data={"token": access_token})
    assert_invalid_client(response, failure)


def test_a_refused_assertion_does_not_spend_its_jti(meta, signer, keys, failure):
    """Only a verified assertion spends its jti: someone who knows (or guesses) a jti cannot
    lock the client's next assertion out by sending a forged one first."""
    jti = str(uuid.uuid4())
    assert_invalid_client(token_with(meta, signer.client_id, new_key("ES256", "e1"), jti=jti), failure)
    assert_invalid_client(token_with(meta, signer.client_id, keys["e1"], jti=jti, aud="https://elsewhere.example.com"), failure)
    assert_token(token_with(meta, signer.client_id, keys["e1"], jti=jti))


# -- alg, kid and the signature ------------------------------------------------------------------


def test_unsigned_symmetric_and_other_algorithms_are_refused(meta, signer, keys, failure):
    claims = claims_for(signer.client_id, meta["issuer"])
    public_text = json.dumps(public_jwk(keys["e1"])).encode()
    cases = {
        "none": forge({"alg": "none", "typ": "JWT"}, dict(claims, jti=str(uuid.uuid4()))),
        "none with kid": forge({"alg": "none", "kid": "e1"}, dict(claims, jti=str(uuid.uuid4()))),
        "HS256 with a secret": forge({"alg": "HS256", "typ": "JWT"}, dict(claims, jti=str(uuid.uuid4())), secret=b"some secret"),
        "HS256 keyed with the public JWK": forge({"alg": "HS256", "kid": "e1"}, dict(claims, jti=str(uuid.uuid4())), secret=public_text),
        "RS512 by a registered RSA key": forge({"alg": "RS512", "kid": "r1"}, dict(claims, jti=str(uuid.uuid4())),
                                                key=keys["r1"], signing_alg="RS512"),
        "PS384 by a registered RSA key": forge({"alg": "PS384", "kid": "p1"}, dict(claims, jti=str(uuid.uuid4())),
                                                key=keys["p1"], signing_alg="PS384"),
    }
    for case, assertion in cases.items():
        response = post_assertion(meta["token_endpoint"], assertion, client_id=signer.client_id, data=CC)
        assert response.status_code != 200, f"{case}: accepted"
        assert_invalid_client(response, failure)


def test_the_forged_assertion_helper_makes_acceptable_assertions(meta, signer, keys):
    """Control for the alg tests: the same construction with a fitting alg is accepted."""
    for kid, alg in (("e1", "ES256"), ("r1", "RS256"), ("p1", "PS256"), ("o1", "EdDSA")):
        assertion = forge({"alg": alg, "kid": kid, "typ": "JWT"}, claims_for(signer.client_id, meta["issuer"]),
                          key=keys[kid], signing_alg=alg)
        assert_token(post_assertion(meta["token_endpoint"], assertion, data=CC))


@pytest.mark.parametrize("case", [
    "RS256 header on an EC key, ES256 signature",
    "EdDSA header on an EC key, ES256 signature",
    "ES256 header on an RSA key, RS256 signature",
    "PS256 header, RS256 (PKCS#1 v1.5) signature",
    "RS256 header, PS256 signature",
    "ES256 header on an Ed25519 key, EdDSA signature",
])
def test_the_alg_must_fit_the_key_and_the_signature(meta, signer, keys, failure, case):
    header_alg, kid, signing_alg = {
        "RS256 header on an EC key, ES256 signature": ("RS256", "e1", "ES256"),
        "EdDSA header on an EC key, ES256 signature": ("EdDSA", "e1", "ES256"),
        "ES256 header on an RSA key, RS256 signature": ("ES256", "r1", "RS256"),
        "PS256 header, RS256 (PKCS#1 v1.5) signature": ("PS256", "r1", "RS256"),
        "RS256 header, PS256 signature": ("RS256", "p1", "PS256"),
        "ES256 header on an Ed25519 key, EdDSA signature": ("ES256", "o1", "EdDSA"),
    }[case]
    for header in ({"alg": header_alg, "kid": kid, "typ": "JWT"}, {"alg": header_alg, "typ": "JWT"}):
        assertion = forge(header, claims_for(signer.client_id, meta["issuer"]), key=keys[kid], signing_alg=signing_alg)
        assert_invalid_client(post_assertion(meta["token_endpoint"], assertion, data=CC), failure)


def test_a_kid_selects_the_key(meta, signer, keys, failure):
    e2 = keys["e2"]
    assert_token(token_with(meta, signer.client_id, e2))  # kid e2
    # Signed by e2 but naming e1: the kid selects e1, so the signature does not verify.
    assert_invalid_client(token_with(meta, signer.client_id, e2, header={"kid": "e1"}), failure)
    # An RSA key's kid with an EC signature.
    assert_invalid_client(token_with(meta, signer.client_id, e2, header={"kid": "r1"}), failure)


@pytest.mark.parametrize("kid,alg", [("e2", "ES256"), ("e1", "ES256"), ("r1", "RS256"), ("p1", "PS256"), ("o1", "EdDSA")])
def test_without_kid_every_key_of_the_algorithm_is_tried(meta, signer, keys, kid, alg):
    assert_token(token_with(meta, signer.client_id, without_kid(keys[kid]), alg=alg))


def test_an_unknown_kid_or_an_unregistered_key_is_refused(meta, signer, keys, failure):
    assert_invalid_client(token_with(meta, signer.client_id, keys["e1"], header={"kid": "nope"}), failure)
    assert_invalid_client(token_with(meta, signer.client_id, new_key("ES256", "e1")), failure)
    assert_invalid_client(token_with(meta, signer.client_id, new_key("ES256", None)), failure)
    assert_invalid_client(token_with(meta, signer.client_id, new_key("EdDSA", "o1")), failure)
    assert_invalid_client(token_with(meta, signer.client_id, new_key("RS256", None)), failure)


def test_a_tampered_assertion_is_refused(meta, signer, keys, failure):
    assertion = client_assertion(keys["e1"], signer.client_id, meta["issuer"])
    header, payload, signature = assertion.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["exp"] += 100
    tampered = ".".join((header, b64url(json.dumps(claims).encode()), signature))
    assert_invalid_client(post_assertion(meta["token_endpoint"], tampered, data=CC), failure)
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    assert_invalid_client(post_assertion(meta["token_endpoint"], ".".join((header, payload, flipped)), data=CC), failure)


# -- methods ------------------------------------------------------------------------------------


def test_a_client_secret_client_cannot_present_an_assertion(meta, basic, failure):
    key = new_key("ES256", "k1")
    for with_client_id in (False, True):
        assert_invalid_client(token_with(meta, basic.client_id, key, with_client_id=with_client_id), failure)


def test_a_private_key_jwt_client_cannot_use_a_secret_or_nothing(meta, signer):
    url = meta["token_endpoint"]
    responses = {
        "basic": requests.post(url, data=CC, auth=(signer.client_id, "guess"), timeout=15),
        "post": requests.post(url, data=dict(CC, client_id=signer.client_id, client_secret="guess"), timeout=15),
        "none": requests.post(url, data=dict(CC, client_id=signer.client_id), timeout=15),
    }
    for case, response in responses.items():
        assert response.status_code == 401 and response.json()["error"] == "invalid_client", (case, response.text)


def test_an_assertion_beside_another_method_is_invalid_request(meta, signer, basic, keys):
    assertion = client_assertion(keys["e1"], signer.client_id, meta["issuer"])
    with_basic = post_assertion(meta["token_endpoint"], assertion, data=CC, auth=basic.basic)
    assert with_basic.status_code == 400 and with_basic.json()["error"] == "invalid_request", with_basic.text
    assertion = client_assertion(keys["e1"], signer.client_id, meta["issuer"])
    with_own_basic = post_assertion(meta["token_endpoint"], assertion, data=CC, auth=(signer.client_id, "x"))
    assert with_own_basic.status_code == 400 and with_own_basic.json()["error"] == "invalid_request", with_own_basic.text
    assertion = client_assertion(keys["e1"], signer.client_id, meta["issuer"])
    with_secret = post_assertion(meta["token_endpoint"], assertion, client_id=signer.client_id,
                                 data=dict(CC, client_secret="x"))
    assert with_secret.status_code == 400 and with_secret.json()["error"] == "invalid_request", with_secret.text


def test_the_assertion_type_must_be_jwt_bearer(meta, signer, keys):
    for data in (
        {"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"},
        {"client_assertion_type": ""},
        {},
    ):
        body = dict(CC, client_id=signer.client_id, client_assertion=client_assertion(keys["e1"], signer.client_id, meta["issuer"]), **data)
        response = requests.post(meta["token_endpoint"], data=body, timeout=15)
        assert response.status_code in (400, 401), (data, response.status_code, response.text)
        assert response.json()["error"] in ("invalid_request", "invalid_client"), response.text
    body = dict(CC, client_id=signer.client_id, client_assertion_type=ASSERTION_TYPE)
    response = requests.post(meta["token_endpoint"], data=body, timeout=15)
    assert response.status_code in (400, 401) and response.json()["error"] in ("invalid_request", "invalid_client"), response.text


@pytest.mark.parametrize("assertion", [
    "not-a-jwt", "a.b", "a.b.c", "a.b.c.d.e", "...", "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJ4In0",
    b64url(b'{"alg":"ES256"') + "." + b64url(b"{}") + ".AAAA",
])
def test_a_malformed_assertion_is_invalid_client(meta, signer, failure, assertion):
    response = post_assertion(meta["token_endpoint"], assertion, client_id=signer.client_id, data=CC)
    assert_invalid_client(response, failure)


def test_an_unknown_client_is_refused_alike(meta, failure):
    key = new_key("ES256", "k1")
    assert_invalid_client(token_with(meta, "no-such-client", key), failure)
    assert_invalid_client(token_with(meta, "no-such-client", key, with_client_id=True), failure)


def test_every_failure_answers_the_same_body(meta, signer, keys):
    key, now = keys["e1"], int(time.time())
    spent = client_assertion(key, signer.client_id, meta["issuer"])
    assert_token(post_assertion(meta["token_endpoint"], spent, data=CC))
    failures = {
        "wrong key": token_with(meta, signer.client_id, new_key("ES256", "e1")),
        "wrong aud": token_with(meta, signer.client_id, key, aud="https://elsewhere.example.com"),
        "expired": token_with(meta, signer.client_id, key, iat=now - 300, exp=now - 90),
        "too far ahead": token_with(meta, signer.client_id, key, exp=now + 3600),
        "no jti": token_with(meta, signer.client_id, key, jti=None),
        "replayed": post_assertion(meta["token_endpoint"], spent, data=CC),
        "unknown kid": token_with(meta, signer.client_id, key, header={"kid": "nope"}),
        "unknown client": token_with(meta, "no-such-client", key),
        "sub not the client": token_with(meta, signer.client_id, key, sub="someone"),
        "nbf ahead": token_with(meta, signer.client_id, key, nbf=now + 120),
        "alg none": post_assertion(meta["token_endpoint"], forge({"alg": "none"}, claims_for(signer.client_id, meta["issuer"])), data=CC),
    }
    bodies = {case: assert_invalid_client(response) for case, response in failures.items()}
    distinct = {json.dumps(body, sort_keys=True) for body in bodies.values()}
    assert len(distinct) == 1, f"the failures can be told apart: {bodies}"
    challenges = {response.headers.get("WWW-Authenticate") for response in failures.values()}
    assert len(challenges) == 1, f"the WWW-Authenticate challenges differ: {challenges}"


# -- jwks_uri ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def host():
    jwks_host = JwksHost()
    yield jwks_host
    jwks_host.close()


@pytest.fixture(scope="module")
def rotating(installation, authz, host) -> tuple[Client, object]:
    """A client whose jwks_uri (max-age 300) serves k1; the rotation test adds k2 later."""
    key = new_key("ES256", "k1")
    uri = host.serve("/rotating", public_jwks(key), max_age=300)
    return register(installation, jwks_uri=uri, name="rotating-uri"), key


@pytest.fixture(scope="module")
def recovering(installation, meta, host, failure) -> tuple[Client, object, float]:
    """A client whose jwks_uri answers 500 at first: its first request fails (and when)."""
    key = new_key("ES256", "v1")
    client = register(installation, jwks_uri=host.serve("/recovering", public_jwks(key), status=500), name="recovering")
    assert_invalid_client(token_with(meta, client.client_id, key), failure)
    return client, key, time.monotonic()


def test_a_jwks_uri_is_fetched_once_within_its_max_age(meta, rotating, host, recovering):
    # (`recovering` is set up here, early, so that its test at the end of this part needs no sleep.)
    client, key = rotating
    assert_token(token_with(meta, client.client_id, key))
    assert host.count("/rotating") == 1
    assert_token(token_with(meta, client.client_id, key))
    assert_token(token_with(meta, client.client_id, key, aud=meta["token_endpoint"]))
    response = post_assertion(meta["introspection_endpoint"], client_assertion(key, client.client_id, meta["issuer"]),
                              data={"token": "x"})
    assert response.status_code == 200, response.text
    assert host.count("/rotating") == 1, "the JWKS was fetched again within its max-age"


def test_a_jwks_uri_max_age_under_60_seconds_counts_as_60(installation, meta, host):
    key = new_key("ES256", "c1")
    client = register(installation, jwks_uri=host.serve("/clamped", public_jwks(key), max_age=0), name="clamped")
    assert_token(token_with(meta, client.client_id, key))
    time.sleep(1)
    assert_token(token_with(meta, client.client_id, key))
    assert_token(token_with(meta, client.client_id, key))
    assert host.count("/clamped") == 1, f"max-age=0 was not clamped to 60 s: {host.count('/clamped')} fetches"


def _big_jwks(key) -> bytes:
    body = json.dumps({"keys": [public_jwk(key)], "padding": "x" * (70 * 1024)}).encode()
    assert len(body) > 64 * 1024
    return body


FETCH_FAILURES = {
    "server down": None,
    "500": lambda key: {"body": json.dumps(public_jwks(key)).encode(), "status": 500},
    "404": lambda key: {"body": json.dumps(public_jwks(key)).encode(), "status": 404},
    "over 64 KiB": lambda key: {"body": _big_jwks(key)},
    "not JSON": lambda key: {"body": b"<html>not a key set</html>", "content_type": "text/html"},
    "truncated JSON": lambda key: {"body": json.dumps(public_jwks(key)).encode()[:-10]},
    "a bare JWK": lambda key: {"body": json.dumps(public_jwk(key)).encode()},
    "keys not a list": lambda key: {"body": json.dumps({"keys": public_jwk(key)}).encode()},
    "a private key": lambda key: {"body": json.dumps({"keys": [key.as_dict(private=True)]}).encode()},
}


@pytest.mark.parametrize("case", list(FETCH_FAILURES))
def test_a_jwks_uri_fetch_failure_is_invalid_client(installation, meta, host, failure, case):
    key = new_key("ES256", "f1")
    if FETCH_FAILURES[case] is None:
        uri = f"http://127.0.0.1:{free_port()}/jwks.json"
    else:
        path = f"/failure-{secrets.token_hex(4)}"
        uri = host.serve(path, **FETCH_FAILURES[case](key))
    client = register(installation, jwks_uri=uri, name="fetch-failure")
    for _ in range(2):
        assert_invalid_client(token_with(meta, client.client_id, key), failure)
    assert authz_alive(meta)


def authz_alive(meta) -> bool:
    return requests.get(meta["issuer"] + "/healthz", timeout=5).status_code == 200


def test_a_slow_jwks_uri_is_invalid_client_after_the_5_second_timeout(installation, meta, host, failure):
    key = new_key("ES256", "s1")
    client = register(installation, jwks_uri=host.serve("/slow", public_jwks(key), delay=7), name="slow")
    started = time.monotonic()
    response = token_with(meta, client.client_id, key)
    elapsed = time.monotonic() - started
    assert_invalid_client(response, failure)
    assert elapsed < 6.5, f"the fetch was not cut off at 5 s: answered after {elapsed:.1f} s"
    assert host.count("/slow") >= 1, "the jwks_uri was never fetched"


def test_a_rotated_key_is_fetched_on_an_unknown_kid_at_most_once_per_10_seconds(meta, rotating, host, failure):
    client, k1 = rotating
    if host.count("/rotating") == 0:
        assert_token(token_with(meta, client.client_id, k1))
    # Let 10 s pass since the first fetch, whichever fetch the 10 s are counted from.
    remaining = host.first_fetch("/rotating") + 10.5 - time.monotonic()
    if remaining > 0:
        time.sleep(remaining)
    before = host.count("/rotating")
    k2, k3, k9 = new_key("ES256", "k2"), new_key("ES256", "k3"), new_key("ES256", "k9")
    host.serve("/rotating", public_jwks(k1, k2), max_age=300)
    assert_token(token_with(meta, client.client_id, k2))  # unknown kid k2: refetched (max-age 300 not over)
    assert host.count("/rotating") == before + 1
    assert_token(token_with(meta, client.client_id, k1))
    # Unknown kids right after: no more fetches within 10 s.
    assert_invalid_client(token_with(meta, client.client_id, k9), failure)
    assert_invalid_client(token_with(meta, client.client_id, k9), failure)
    host.serve("/rotating", public_jwks(k1, k2, k3), max_age=300)
    assert_invalid_client(token_with(meta, client.client_id, k3), failure)
    assert host.count("/rotating") == before + 1, "an unknown kid was refetched twice within 10 s"
    assert_token(token_with(meta, client.client_id, k2))


def test_a_failed_jwks_uri_fetch_is_tried_again_within_10_seconds(meta, recovering, host):
    """A fetch failure is invalid_client for that request: once the jwks_uri answers again,
    the client authenticates again (after the 10 s refetch floor at most)."""
    client, key, failed_at = recovering
    host.serve("/recovering", public_jwks(key))
    wait_until(lambda: token_with(meta, client.client_id, key).status_code == 200,
               timeout=max(failed_at + 12 - time.monotonic(), 1), interval=0.5,
               message="the client still fails more than 10 s after its jwks_uri recovered")


def test_update_to_a_jwks_uri_reaches_a_running_server(installation, meta, host):
    inline, remote = new_key("ES256", "i1"), new_key("ES256", "u1")
    client = register(installation, jwks=public_jwks(inline), name="to-uri")
    assert_token(token_with(meta, client.client_id, inline))
    installation.run("clients", "update", "--jwks-uri", host.serve("/updated", public_jwks(remote)),
                     positional=(client.client_id,))
    wait_until(lambda: token_with(meta, client.client_id, remote).status_code == 200,
               message="the jwks_uri set by `clients update` was not used within 5 s")
    assert_invalid_client(token_with(meta, client.client_id, inline))


# -- third-party clients -------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_requests_oauth2client_private_key_jwt(authz, meta, signer, keys, alg):
    from requests_oauth2client import OAuth2Client, PrivateKeyJwt

    key = keys[KEY_FOR[alg]]
    oauth2client = OAuth2Client.from_discovery_endpoint(
        issuer=authz.issuer, auth=PrivateKeyJwt(signer.client_id, key.as_dict(private=True), alg=alg), testing=True)
    token = oauth2client.client_credentials()
    assert token.access_token and token.token_type.lower() == "bearer"
    introspection = oauth2client.introspect_token(token.access_token)
    assert introspection["active"] is True and introspection["client_id"] == signer.client_id, introspection
    oauth2client.revoke_access_token(token.access_token)
    assert oauth2client.introspect_token(token.access_token) == {"active": False}


@pytest.mark.parametrize("alg", ["ES256", "RS256", "EdDSA"])
def test_authlib_private_key_jwt(meta, signer, keys, alg):
    from authlib.integrations.requests_client import OAuth2Session
    from authlib.oauth2.rfc7523 import PrivateKeyJWT
    from authlib.oauth2.rfc7523.assertion import private_key_jwt_sign

    class ShortLivedPrivateKeyJWT(PrivateKeyJWT):
        """Authlib's PrivateKeyJWT makes assertions valid for an hour, more than the 10
        minutes Warden accepts; everything else is Authlib's own."""

        def sign(self, auth, token_endpoint):
            return private_key_jwt_sign(auth.client_secret, client_id=auth.client_id, token_endpoint=token_endpoint,
                                        claims=self.claims, header=self.headers, alg=self.alg, expires_in=120)

    session = OAuth2Session(signer.client_id, keys[KEY_FOR[alg]],
                            token_endpoint_auth_method=ShortLivedPrivateKeyJWT(meta["token_endpoint"], alg=alg))
    token = session.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
    assert token["access_token"] and token["token_type"] == "Bearer", token
    # A second request gets a fresh assertion (a new jti) and works too.
    assert session.fetch_token(meta["token_endpoint"], grant_type="client_credentials")["access_token"]


# -- rate limits ---------------------------------------------------------------------------------


def test_failed_assertions_are_rate_limited_yet_a_valid_one_still_works(warden, server):
    """SECURITY.md: failed client authentication is limited per client id from one address
    (on the order of 10 a minute, 429 with Retry-After), and a client presenting correct
    credentials is never refused because someone else failed."""
    key = new_key("ES256", "k1")
    client = register(warden, jwks=public_jwks(key))
    meta = server.metadata()
    limited = None
    for attempt in range(40):
        response = token_with(meta, client.client_id, new_key("ES256", "k1"))
        assert response.status_code in (401, 429), response.text
        if response.status_code == 429:
            limited = response
            break
    assert limited is not None, "40 failed assertions in a row were never rate limited"
    assert 5 <= attempt <= 20, f"rate limited after {attempt} failures"
    assert limited.headers.get("Retry-After", "").isdigit(), dict(limited.headers)
    assert limited.headers.get("Content-Type", "").startswith("application/json") and limited.json()["error"], limited.text
    assert_token(token_with(meta, client.client_id, key))


# -- storage: purge and instances ----------------------------------------------------------------


def used_jtis(warden: Warden) -> int:
    return warden.sql("SELECT COUNT(*) FROM used_jtis")[0][0]


def test_used_jtis_are_purged_after_exp(warden, server):
    key = new_key("ES256", "p1")
    client = register(warden, jwks=public_jwks(key))
    meta = server.metadata()
    assert used_jtis(warden) == 0
    assert_token(token_with(meta, client.client_id, key, exp=int(time.time()) + 2))
    assert used_jtis(warden) == 1, "the spent jti was not stored"
    wait_until(lambda: used_jtis(warden) == 0, timeout=8, message="used_jtis were not purged within ~6 s of exp")


def test_an_assertion_is_single_use_across_instances_on_postgresql(postgres_url, tmp_path):
    installation = Warden(tmp_path / "pg", config=NO_FAILURE_LIMITS, database_url=postgres_url)
    try:
        a = installation.start_server()
        b = installation.start_server(issuer=a.issuer)
        key = new_key("ES256", "pg")
        client = register(installation, jwks=public_jwks(key))
        meta = a.metadata()
        for first, second in ((a, b), (b, a)):
            assertion = client_assertion(key, client.client_id, meta["issuer"], exp=int(time.time()) + 3)
            assert_token(post_assertion(first.url("/token"), assertion, data=CC))
            assert_invalid_client(post_assertion(second.url("/token"), assertion, data=CC))
        assert used_jtis(installation) == 2
        wait_until(lambda: used_jtis(installation) == 0, timeout=9, message="used_jtis were not purged on PostgreSQL")
    finally:
        finish(installation)
