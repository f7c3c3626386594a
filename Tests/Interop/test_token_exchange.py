"""OAuth 2.0 Token Exchange (RFC 8693; shared/design/DEVICES-AND-REGISTRATION.md "Token Exchange").

A service that was sent a user's access token (the subject token) exchanges it at /token for a
token to another service, acting for the same user: `--grant-type
urn:ietf:params:oauth:grant-type:token-exchange` (alias `token_exchange`) with at least one
`--exchange-audience`, confidential clients only. The subject token must have been sent to one of
the exchanging client's own `--audience` values; the target (`resource` or `audience`) must be one
of its exchange audiences; the scope may narrow, never widen; the new token never outlives the
subject, keeps its `sub` and `gid` (revoking the grant ends it at once), and names the exchanging
client as `client_id`. An actor token adds `act`, nesting the subject token's own `act`. A
DPoP-bound subject or actor token is refused (the exchanging service does not hold its key).

The installation: users sign in to `web` (a confidential code client) whose tokens are for the
orders API; the `orders` service exchanges them for the inventory or billing API, and `inventory`
exchanges those again for the warehouse API (a chain of actors). Tokens are verified here with
joserfc and PyJWT from the JWKS; real responses are checked against the OpenAPI document; and
requests-oauth2client and Authlib, client libraries nobody here wrote, make exchanges of their own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterator

import pytest
import requests

from interop import (
    NO_FAILURE_LIMITS,
    Client,
    Server,
    User,
    UserAgent,
    Warden,
    assert_one_line_failure,
    assert_oauth_error,
    finish,
    jwt_claims_unverified,
    jwt_header,
    tokens_for,
    verify_with_joserfc,
    verify_with_pyjwt,
    wait_until,
)
from proof_of_possession import dpop_proof, new_key, sign, thumbprint
from test_openapi import conforms

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
REFRESH_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:refresh_token"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"

ORDERS = "https://orders.example.com"  # the API the users' application calls
INVENTORY = "https://inventory.example.com"  # what orders calls for the user
BILLING = "https://billing.example.com"  # orders' second exchange audience
WAREHOUSE = "https://warehouse.example.com"  # what inventory calls in turn
ELSEWHERE = "https://elsewhere.example.com"
REDIRECT = "http://127.0.0.1:8765/callback"  # never followed: the code is read off the Location
WEB_SCOPE = "openid profile offline_access orders:read orders:write"
USER_SCOPE = "profile offline_access orders:read orders:write"


# -- the installation ------------------------------------------------------------------------------


@dataclass
class Env:
    warden: Warden
    server: Server
    web: Client  # confidential code client; its users' tokens are for ORDERS
    orders: Client  # client credentials + token exchange; own audience ORDERS; exchanges for INVENTORY, BILLING
    inventory: Client  # the same with the alias and client_secret_post; own audience INVENTORY; exchanges for WAREHOUSE
    batch: Client  # client credentials only, audience ORDERS: not registered for the exchange
    stranger: Client  # token exchange, but its own audience is ELSEWHERE
    resource: Client  # introspects
    alice: User
    agent: UserAgent  # alice's browser, signed in
    subject: dict  # alice's token response from `web` (access, refresh and ID token)


def exchange_client(warden: Warden, name: str, own: str, targets: tuple[str, ...], *, grant: str = TOKEN_EXCHANGE,
                    auth_method: str | None = None) -> Client:
    extra: list[str] = []
    for target in targets:
        extra += ["--exchange-audience", target]
    return warden.create_client(name=name, scope=f"{name}:internal", audiences=(own,), auth_method=auth_method,
                                grant_types=("client_credentials", grant), extra=tuple(extra))


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[Env]:
    warden = Warden(tmp_path_factory.mktemp("exchange"), config=dict(NO_FAILURE_LIMITS))
    try:
        server = warden.start_server()
        web = warden.create_code_client("web", (REDIRECT,), WEB_SCOPE, public=False, audiences=(ORDERS,),
                                        extra=("--skip-consent",))
        orders = exchange_client(warden, "orders", ORDERS, (INVENTORY, BILLING))
        inventory = exchange_client(warden, "inventory", INVENTORY, (WAREHOUSE,), grant="token_exchange",
                                    auth_method="client_secret_post")
        batch = warden.create_client(name="batch", scope="orders:read", audiences=(ORDERS,))
        stranger = exchange_client(warden, "stranger", ELSEWHERE, (INVENTORY,))
        resource = warden.create_client(name="resource server", scope="", audiences=(), auth_method="client_secret_post")
        alice = warden.create_user("alice")
        for client in (web, orders, inventory, batch, stranger, resource):
            wait_until(lambda: server.introspect(client, "x").status_code == 200,
                       message="clients created with the CLI did not reach the server")
        agent = UserAgent(server)
        subject = tokens_for(server, web, alice, REDIRECT, scope=USER_SCOPE + " openid", agent=agent)
        yield Env(warden, server, web, orders, inventory, batch, stranger, resource, alice, agent, subject)
    finally:
        finish(warden)


# -- helpers ---------------------------------------------------------------------------------------


def exchange(server: Server, client: Client, subject_token: str | None, *, dpop: str | None = None,
             subject_token_type: str | None = ACCESS_TOKEN_TYPE, **params) -> requests.Response:
    """A token-exchange request with the client's registered authentication; None values are
    left out, list values repeat the parameter."""
    kwargs = client.credentials()
    data = [("grant_type", TOKEN_EXCHANGE)] + list(kwargs.pop("data").items())
    params = {"subject_token": subject_token, "subject_token_type": subject_token_type, **params}
    for name, value in params.items():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if item is not None:
                data.append((name, item))
    headers = {"DPoP": dpop} if dpop is not None else {}
    return requests.post(server.url("/token"), data=data, headers=headers, timeout=30, **kwargs)


def exchanged(response: requests.Response) -> dict:
    """A successful exchange's body (RFC 8693 §2.2.1), checked against the OpenAPI document."""
    assert response.status_code == 200, f"{response.status_code} {response.text!r}"
    conforms(response, path="/token")
    assert response.headers.get("Cache-Control") == "no-store", dict(response.headers)
    body = response.json()
    assert body["issued_token_type"] == ACCESS_TOKEN_TYPE, body
    assert body["token_type"] in ("Bearer", "DPoP"), body
    assert "refresh_token" not in body and "id_token" not in body, body
    assert isinstance(body["expires_in"], int) and body["expires_in"] >= 1, body
    return body


def verified(server: Server, token: str, audience: str) -> dict:
    """The claims of an RFC 9068 access token, verified from the JWKS by joserfc and by PyJWT."""
    assert jwt_header(token).get("typ") == "at+jwt", jwt_header(token)
    _, claims = verify_with_joserfc(token, server.jwks(), issuer=server.issuer, audience=audience)
    assert verify_with_pyjwt(token, server.metadata()["jwks_uri"], issuer=server.issuer, audience=audience) == claims
    return claims


def introspection(env: Env, token: str) -> dict:
    response = conforms(env.server.introspect(env.resource, token))
    assert response.status_code == 200, response.text
    return response.json()


def service_token(env: Env, client: Client) -> str:
    """The service's own client-credentials token: what it presents as the actor token."""
    return env.server.access_token(client)


def fresh_user_tokens(env: Env, scope: str = USER_SCOPE) -> dict:
    return tokens_for(env.server, env.web, env.alice, REDIRECT, scope=scope, agent=env.agent)


# -- registration (CLI) ----------------------------------------------------------------------------


def test_the_cli_registers_an_exchange_client_and_prints_its_audiences(env):
    assert env.orders.raw["grant_types"] == ["client_credentials", TOKEN_EXCHANGE], env.orders.raw
    assert env.orders.raw["exchange_audiences"] == [INVENTORY, BILLING], env.orders.raw
    assert env.orders.raw["audience"] == [ORDERS], env.orders.raw
    # The alias registers the URN.
    assert env.inventory.raw["grant_types"] == ["client_credentials", TOKEN_EXCHANGE], env.inventory.raw
    assert env.inventory.raw["exchange_audiences"] == [WAREHOUSE], env.inventory.raw
    # `exchange_audiences` is printed only when there are some: nothing else changes.
    assert "exchange_audiences" not in env.batch.raw, env.batch.raw
    assert set(env.orders.raw) - set(env.batch.raw) == {"exchange_audiences"}, env.orders.raw
    shown = env.warden.run_json("clients", "show", positional=(env.orders.client_id,))
    assert shown["exchange_audiences"] == [INVENTORY, BILLING] and TOKEN_EXCHANGE in shown["grant_types"], shown
    listed = {client["client_id"]: client for client in env.warden.run_json("clients", "list")}
    assert listed[env.inventory.client_id]["exchange_audiences"] == [WAREHOUSE], listed[env.inventory.client_id]
    assert "exchange_audiences" not in listed[env.batch.client_id]


@pytest.mark.parametrize("options, needle", [
    pytest.param(["--grant-type", TOKEN_EXCHANGE], "exchange-audience", id="grant-without-exchange-audience"),
    pytest.param(["--grant-type", "token_exchange"], "exchange-audience", id="alias-without-exchange-audience"),
    pytest.param(["--exchange-audience", INVENTORY], "exchange-audience", id="exchange-audience-without-the-grant"),
    pytest.param(["--grant-type", "client_credentials", "--grant-type", "refresh_token", "--exchange-audience", INVENTORY],
                 "exchange-audience", id="exchange-audience-with-other-grants"),
    pytest.param(["--grant-type", "token_exchange", "--exchange-audience", INVENTORY, "--auth-method", "none"], None,
                 id="public-client"),
    pytest.param(["--grant-type", "token_exchange", "--exchange-audience", "inventory"], "inventory", id="relative-audience"),
    pytest.param(["--grant-type", "token_exchange", "--exchange-audience", INVENTORY + "/#x"], INVENTORY,
                 id="audience-with-fragment"),
])
def test_the_cli_refuses_a_bad_exchange_registration(env, options, needle):
    before = len(env.warden.run_json("clients", "list"))
    result = env.warden.run("clients", "create", "--name", "bad", "--audience", ORDERS, *options, "--json", check=False)
    assert_one_line_failure(result, *([needle] if needle else []))
    assert result.stdout == "", result.stdout
    assert len(env.warden.run_json("clients", "list")) == before, "a refused registration created a client"


# -- metadata --------------------------------------------------------------------------------------


def test_the_metadata_lists_the_grant(env):
    for path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
        metadata = requests.get(env.server.url(path), timeout=10).json()
        assert TOKEN_EXCHANGE in metadata["grant_types_supported"], metadata["grant_types_supported"]


# -- exchanges -------------------------------------------------------------------------------------


def test_a_users_token_is_exchanged_for_the_first_exchange_audience(env):
    subject = env.subject["access_token"]
    subject_claims = verified(env.server, subject, ORDERS)
    assert subject_claims.get("gid"), "a user's token carries its grant id"
    before = int(time.time())
    body = exchanged(exchange(env.server, env.orders, subject))
    assert body["token_type"] == "Bearer", body
    assert body["scope"] == subject_claims["scope"], body
    assert body["expires_in"] <= subject_claims["exp"] - before + 1, (body, subject_claims["exp"], before)

    claims = verified(env.server, body["access_token"], INVENTORY)
    assert claims["aud"] == INVENTORY, claims
    assert claims["sub"] == env.alice.id == subject_claims["sub"], claims
    assert claims["client_id"] == env.orders.client_id, claims
    assert claims["gid"] == subject_claims["gid"], claims
    assert claims["scope"] == subject_claims["scope"], claims
    assert claims["exp"] <= subject_claims["exp"], (claims, subject_claims)
    assert claims["jti"] != subject_claims["jti"], claims
    assert "act" not in claims and "cnf" not in claims, claims

    info = introspection(env, body["access_token"])
    assert info["active"] is True, info
    assert (info["sub"], info["client_id"], info["aud"], info["scope"]) == (
        env.alice.id, env.orders.client_id, INVENTORY, subject_claims["scope"]), info
    assert info["token_type"] == "Bearer" and "act" not in info, info
    # The subject token is untouched by the exchange.
    assert introspection(env, subject)["active"] is True


@pytest.mark.parametrize("parameter", ["resource", "audience"])
def test_resource_or_audience_picks_the_target(env, parameter):
    body = exchanged(exchange(env.server, env.orders, env.subject["access_token"], **{parameter: BILLING}))
    assert verified(env.server, body["access_token"], BILLING)["aud"] == BILLING


def test_two_targets_give_both_audiences(env):
    body = exchanged(exchange(env.server, env.orders, env.subject["access_token"], resource=[INVENTORY, BILLING]))
    assert verified(env.server, body["access_token"], INVENTORY)["aud"] == [INVENTORY, BILLING]


def test_resource_and_audience_naming_the_same_target(env):
    """One audience, named twice, is one audience (RFC 7519 `aud`; as for client credentials)."""
    body = exchanged(exchange(env.server, env.orders, env.subject["access_token"], resource=INVENTORY, audience=INVENTORY))
    assert jwt_claims_unverified(body["access_token"])["aud"] == INVENTORY


def test_the_scope_may_narrow(env):
    body = exchanged(exchange(env.server, env.orders, env.subject["access_token"], scope="orders:read"))
    assert body["scope"] == "orders:read", body
    assert verified(env.server, body["access_token"], INVENTORY)["scope"] == "orders:read"


def test_an_actor_token_adds_act(env):
    actor = service_token(env, env.orders)
    body = exchanged(exchange(env.server, env.orders, env.subject["access_token"], actor_token=actor,
                              actor_token_type=ACCESS_TOKEN_TYPE))
    claims = verified(env.server, body["access_token"], INVENTORY)
    assert claims["act"] == {"sub": env.orders.client_id}, claims
    assert claims["sub"] == env.alice.id and claims["client_id"] == env.orders.client_id, claims
    info = introspection(env, body["access_token"])
    assert info["active"] is True and info["act"] == {"sub": env.orders.client_id}, info


def test_a_chain_of_exchanges_nests_the_actors(env):
    """web -> orders (actor orders) -> inventory (actor inventory): `act` names the current
    actor, with the one before it nested inside (RFC 8693 §4.1)."""
    subject_claims = jwt_claims_unverified(env.subject["access_token"])
    first = exchanged(exchange(env.server, env.orders, env.subject["access_token"], resource=INVENTORY,
                               actor_token=service_token(env, env.orders), actor_token_type=ACCESS_TOKEN_TYPE))
    second = exchanged(exchange(env.server, env.inventory, first["access_token"],
                                actor_token=service_token(env, env.inventory), actor_token_type=ACCESS_TOKEN_TYPE))
    claims = verified(env.server, second["access_token"], WAREHOUSE)
    nested = {"sub": env.inventory.client_id, "act": {"sub": env.orders.client_id}}
    assert claims["act"] == nested, claims
    assert claims["sub"] == env.alice.id and claims["client_id"] == env.inventory.client_id, claims
    assert claims["gid"] == subject_claims["gid"], claims
    assert claims["exp"] <= jwt_claims_unverified(first["access_token"])["exp"] <= subject_claims["exp"]
    info = introspection(env, second["access_token"])
    assert info["active"] is True and info["act"] == nested and info["aud"] == WAREHOUSE, info


def test_an_exchange_without_an_actor_keeps_the_subjects_act(env):
    """Exchanging a delegated token again without a new actor must not hide who acted."""
    first = exchanged(exchange(env.server, env.orders, env.subject["access_token"],
                               actor_token=service_token(env, env.orders), actor_token_type=ACCESS_TOKEN_TYPE))
    second = exchanged(exchange(env.server, env.inventory, first["access_token"]))
    assert verified(env.server, second["access_token"], WAREHOUSE)["act"] == {"sub": env.orders.client_id}


def test_a_client_credentials_token_is_exchanged(env):
    """A service's own token (no grant, no `gid`) sent to orders: its `sub` is the batch client."""
    subject = service_token(env, env.batch)
    assert "gid" not in jwt_claims_unverified(subject)
    body = exchanged(exchange(env.server, env.orders, subject))
    assert body["scope"] == "orders:read", body
    claims = verified(env.server, body["access_token"], INVENTORY)
    assert claims["sub"] == env.batch.client_id and claims["client_id"] == env.orders.client_id, claims
    assert "gid" not in claims and "act" not in claims, claims
    assert introspection(env, body["access_token"])["active"] is True


def test_a_dpop_proof_binds_the_exchanged_token(env):
    key = new_key("ES256")
    proof = dpop_proof(key, "POST", env.server.metadata()["token_endpoint"])
    body = exchanged(exchange(env.server, env.orders, env.subject["access_token"], dpop=proof))
    assert body["token_type"] == "DPoP", body
    assert verified(env.server, body["access_token"], INVENTORY)["cnf"] == {"jkt": thumbprint(key)}
    info = introspection(env, body["access_token"])
    assert info["token_type"] == "DPoP" and info["cnf"] == {"jkt": thumbprint(key)}, info


def test_revoking_the_subjects_grant_ends_the_exchanged_tokens_at_once(env):
    tokens = fresh_user_tokens(env)
    first = exchanged(exchange(env.server, env.orders, tokens["access_token"], actor_token=service_token(env, env.orders),
                               actor_token_type=ACCESS_TOKEN_TYPE))["access_token"]
    second = exchanged(exchange(env.server, env.inventory, first))["access_token"]
    assert all(introspection(env, token)["active"] for token in (tokens["access_token"], first, second))
    revoked = env.server.revoke(env.web, tokens["refresh_token"])
    assert revoked.status_code == 200, revoked.text
    for token in (tokens["access_token"], first, second):
        assert introspection(env, token) == {"active": False}
    assert_oauth_error(exchange(env.server, env.orders, tokens["access_token"]), "invalid_request")
    assert_oauth_error(exchange(env.server, env.inventory, first), "invalid_request")


# -- refusals --------------------------------------------------------------------------------------


def _forged(env: Env) -> str:
    """Alice's token's header and claims, signed by a key the server never saw."""
    token = env.subject["access_token"]
    return sign(jwt_header(token), jwt_claims_unverified(token), new_key("ES256", kid=jwt_header(token)["kid"]))


def _tampered(env: Env) -> str:
    head, payload, signature = env.subject["access_token"].split(".")
    return ".".join((head, payload, ("A" if signature[0] != "A" else "B") + signature[1:]))


#: name -> (the request's parameters over a good one's, given the Env; the error).
REFUSALS = {
    "no-subject-token": (lambda env: {"subject_token": None}, "invalid_request"),
    "no-subject-token-type": (lambda env: {"subject_token_type": None}, "invalid_request"),
    "refresh-token-type": (lambda env: {"subject_token_type": REFRESH_TOKEN_TYPE}, "invalid_request"),
    "id-token-type": (lambda env: {"subject_token_type": ID_TOKEN_TYPE}, "invalid_request"),
    "jwt-type": (lambda env: {"subject_token_type": JWT_TYPE}, "invalid_request"),
    "short-type-name": (lambda env: {"subject_token_type": "access_token"}, "invalid_request"),
    "garbage-subject": (lambda env: {"subject_token": "not-a-token"}, "invalid_request"),
    "tampered-subject": (lambda env: {"subject_token": _tampered(env)}, "invalid_request"),
    "forged-subject": (lambda env: {"subject_token": _forged(env)}, "invalid_request"),
    "refresh-token-as-subject": (lambda env: {"subject_token": env.subject["refresh_token"]}, "invalid_request"),
    "id-token-as-subject": (lambda env: {"subject_token": env.subject["id_token"]}, "invalid_request"),
    "actor-type-without-actor": (lambda env: {"actor_token_type": ACCESS_TOKEN_TYPE}, "invalid_request"),
    "actor-without-type": (lambda env: {"actor_token": service_token(env, env.orders)}, "invalid_request"),
    "garbage-actor": (lambda env: {"actor_token": "not-a-token", "actor_token_type": ACCESS_TOKEN_TYPE}, "invalid_request"),
    "actor-of-another-type": (lambda env: {"actor_token": service_token(env, env.orders),
                                           "actor_token_type": REFRESH_TOKEN_TYPE}, "invalid_request"),
    "forged-actor": (lambda env: {"actor_token": _forged(env), "actor_token_type": ACCESS_TOKEN_TYPE}, "invalid_request"),
    "unregistered-resource": (lambda env: {"resource": ELSEWHERE}, "invalid_target"),
    "unregistered-audience": (lambda env: {"audience": ELSEWHERE}, "invalid_target"),
    "own-audience-as-target": (lambda env: {"resource": ORDERS}, "invalid_target"),
    "one-target-unregistered": (lambda env: {"resource": INVENTORY, "audience": ELSEWHERE}, "invalid_target"),
    "relative-resource": (lambda env: {"resource": "inventory"}, "invalid_target"),
    "wider-scope": (lambda env: {"scope": "orders:read orders:admin"}, "invalid_scope"),
    "the-clients-own-scope": (lambda env: {"scope": "orders:internal"}, "invalid_scope"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_a_bad_exchange_is_refused(env, case):
    overrides, error = REFUSALS[case]
    params = {"subject_token": env.subject["access_token"], **overrides(env)}
    response = exchange(env.server, env.orders, **params)
    assert_oauth_error(response, error)
    conforms(response, path="/token")
    assert response.headers.get("Cache-Control") == "no-store", dict(response.headers)


def test_a_token_not_sent_to_the_exchanging_clients_audience_is_refused(env):
    """stranger may exchange for INVENTORY, but alice's token was sent to ORDERS, not to it."""
    assert_oauth_error(exchange(env.server, env.stranger, env.subject["access_token"]), "invalid_request")
    # The exchanged INVENTORY token cannot be exchanged again by orders either: it was not sent to orders.
    first = exchanged(exchange(env.server, env.orders, env.subject["access_token"]))
    assert_oauth_error(exchange(env.server, env.orders, first["access_token"]), "invalid_request")


def test_a_client_not_registered_for_the_grant_is_unauthorized_client(env):
    response = exchange(env.server, env.batch, env.subject["access_token"], resource=INVENTORY)
    assert_oauth_error(response, "unauthorized_client")
    assert_oauth_error(exchange(env.server, env.web, env.subject["access_token"]), "unauthorized_client")


def test_a_wrong_secret_is_invalid_client(env):
    wrong = Client(env.orders.client_id, "wrong", env.orders.raw)
    assert_oauth_error(exchange(env.server, wrong, env.subject["access_token"]), "invalid_client", status=401)


def test_a_revoked_subject_or_actor_token_is_refused(env):
    subject, actor = service_token(env, env.batch), service_token(env, env.orders)
    assert env.server.revoke(env.batch, subject).status_code == 200
    assert env.server.revoke(env.orders, actor).status_code == 200
    assert_oauth_error(exchange(env.server, env.orders, subject), "invalid_request")
    assert_oauth_error(exchange(env.server, env.orders, env.subject["access_token"], actor_token=actor,
                                actor_token_type=ACCESS_TOKEN_TYPE), "invalid_request")


def test_a_dpop_bound_subject_or_actor_token_is_refused(env):
    """A DPoP-bound token is useless without its key, which the exchanging service does not hold
    (PROOF-OF-POSSESSION.md): it cannot be exchanged, nor serve as the actor."""
    token_endpoint = env.server.metadata()["token_endpoint"]
    bound = []
    for client in (env.batch, env.orders):
        response = requests.post(
            token_endpoint, data={"grant_type": "client_credentials"}, auth=client.basic, timeout=10,
            headers={"DPoP": dpop_proof(new_key("ES256"), "POST", token_endpoint)})
        assert response.status_code == 200 and response.json()["token_type"] == "DPoP", response.text
        bound.append(response.json()["access_token"])
    subject, actor = bound
    assert_oauth_error(exchange(env.server, env.orders, subject), "invalid_request")
    assert_oauth_error(exchange(env.server, env.orders, env.subject["access_token"], actor_token=actor,
                                actor_token_type=ACCESS_TOKEN_TYPE), "invalid_request")


def test_an_exchange_never_outlives_its_subject_and_expired_tokens_are_refused(short_lived_warden, short_lived_server):
    """Access tokens live 2 s here: the exchanged token expires with the subject, and an
    expired subject or actor token is invalid_request."""
    warden, server = short_lived_warden, short_lived_server
    batch = warden.create_client(name="batch", scope="orders:read", audiences=(ORDERS,))
    orders = exchange_client(warden, "orders", ORDERS, (INVENTORY,))
    subject, actor = server.access_token(batch), server.access_token(orders)
    subject_exp = jwt_claims_unverified(subject)["exp"]
    response = exchange(server, orders, subject, actor_token=actor, actor_token_type=ACCESS_TOKEN_TYPE)
    body = exchanged(response)
    assert body["expires_in"] <= 2, body
    new_token = body["access_token"]
    assert jwt_claims_unverified(new_token)["exp"] <= subject_exp
    wait_until(lambda: not server.is_active(orders, subject), timeout=6, message="the subject token did not expire")
    assert server.is_active(orders, new_token) is False, "the exchanged token outlived its subject"
    assert_oauth_error(exchange(server, orders, subject), "invalid_request")
    fresh = server.access_token(batch)
    assert_oauth_error(exchange(server, orders, fresh, actor_token=actor, actor_token_type=ACCESS_TOKEN_TYPE),
                       "invalid_request")


# -- client libraries ------------------------------------------------------------------------------


def test_requests_oauth2client_exchanges_a_token(env):
    from requests_oauth2client import BearerToken, ClientSecretBasic, OAuth2Client

    client = OAuth2Client.from_discovery_endpoint(
        issuer=env.server.issuer, auth=ClientSecretBasic(*env.orders.basic), testing=True)
    actor = client.client_credentials()
    token = client.token_exchange(subject_token=BearerToken(env.subject["access_token"]), actor_token=actor,
                                  resource=BILLING, scope="orders:read")
    assert isinstance(token, BearerToken) and token.token_type == "Bearer", token
    assert token.refresh_token is None and token.kwargs.get("issued_token_type") == ACCESS_TOKEN_TYPE, token
    claims = verified(env.server, token.access_token, BILLING)
    assert claims["sub"] == env.alice.id and claims["act"] == {"sub": env.orders.client_id}, claims
    assert claims["scope"] == "orders:read", claims


def test_authlib_exchanges_a_token(env):
    from authlib.integrations.requests_client import OAuth2Session

    metadata = env.server.metadata()
    session = OAuth2Session(env.inventory.client_id, env.inventory.client_secret,
                            token_endpoint_auth_method="client_secret_post")
    first = exchanged(exchange(env.server, env.orders, env.subject["access_token"]))
    token = session.fetch_token(metadata["token_endpoint"], grant_type=TOKEN_EXCHANGE,
                                subject_token=first["access_token"], subject_token_type=ACCESS_TOKEN_TYPE,
                                audience=WAREHOUSE)
    assert token["issued_token_type"] == ACCESS_TOKEN_TYPE and "refresh_token" not in token, token
    claims = verified(env.server, token["access_token"], WAREHOUSE)
    assert claims["sub"] == env.alice.id and claims["client_id"] == env.inventory.client_id, claims
