"""The Device Authorization Grant (RFC 8628; shared/design/DEVICES-AND-REGISTRATION.md, "Device
Authorization Grant"), against the real binary: a device without a browser asks
`POST /device_authorization` for a device code and a user code, its person enters the code at
`/device` on a phone or computer, signs in and allows (or denies) on a consent page that warns
against codes someone else sent, and the device polls `/token` with the device code until it
gets the tokens of an ordinary user grant.

- Registration and metadata; the endpoint's response and its errors (unauthorized_client,
  invalid_scope, invalid_target, invalid_client).
- Polling: authorization_pending, slow_down (+5 s each time), access_denied, expired_token,
  invalid_grant once redeemed, for another client's or an unknown code; the order of the checks.
- Storage-sensitive rules on SQLite and on PostgreSQL (two instances of one issuer there): one
  winner among ten concurrent polls, a decision is made once, expiry.
- The pages: security headers everywhere, CSRF, the code's spelling, the wrong-code page, the
  pre-filled field that looks nothing up, decision replay, decided codes, consent always asked,
  and the per-address budget for typed codes (429 with Retry-After).
- The grant is ordinary: introspection, refresh rotation, revocation, reuse detection,
  `sessions revoke`; DPoP binds its tokens.
- A person signs in with headless Chromium (screenshots of the four pages at 1280 px and 390 px
  go to Tests/Interop/artifacts/device/) while requests-oauth2client 1.8.0's
  `DeviceAuthorizationPollingJob` polls in a background thread, slowing down when told; PyJWT and
  joserfc verify the tokens from the JWKS.
- `device_code_lifetime` outside 60–3600 stops startup with one line.

Authlib (1.9) implements RFC 8628 only for servers (authlib.oauth2.rfc8628); it has no device
flow client helper, so no Authlib client appears here.

Device codes live 60 seconds here (`device_code_lifetime: 60`); expiry is reached by moving a
row's `expires_at` into the past, not by waiting."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import urlencode, urlsplit

import pytest
import requests

from interop import (
    ALLOWED_ALGORITHMS,
    LOGIN_ERROR,
    NO_FAILURE_LIMITS,
    PRELOGIN_COOKIE,
    SESSION_COOKIE,
    Client,
    Page,
    Server,
    User,
    UserAgent,
    Warden,
    assert_html_page,
    assert_html_security_headers,
    assert_oauth_error,
    assert_one_line_failure,
    finish,
    headless_chromium,
    jwt_claims_unverified,
    jwt_header,
    verify_with_joserfc,
    verify_with_pyjwt,
    wait_until,
)
from proof_of_possession import assertion_form, dpop_proof, new_key, public_jwks, thumbprint

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
API = "https://api.example.com"
ELSEWHERE = "https://elsewhere.example.com"
TV_NAME = "Living Room TV"
TV_SCOPE = "openid profile offline_access"
#: Device codes live this long in these installations (the smallest value allowed).
LIFETIME = 60
INTERVAL = 5
USER_CODE = re.compile(r"[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}")
#: A well-formed code that names nothing (about one chance in 25 billion that it does).
UNKNOWN_CODE = "BBBB-BBBB"
CODE_ERROR = "That code is not valid, or it has expired or been used."
CONFIG = {"device_code_lifetime": LIFETIME, "log_format": "json", **NO_FAILURE_LIMITS}
ARTIFACTS = Path(__file__).resolve().parent / "artifacts" / "device"


# -- installations ----------------------------------------------------------------------------------------


@dataclass
class Env:
    warden: Warden
    #: One server on SQLite; two instances of one issuer on PostgreSQL.
    servers: tuple[Server, ...]
    clients: dict[str, Client]
    users: dict[str, User]
    #: The private key of the private_key_jwt client (its public half is registered).
    key: object = None

    @property
    def server(self) -> Server:
        return self.servers[0]

    @property
    def issuer(self) -> str:
        return self.servers[0].issuer


def provision(warden: Warden, *, instances: int = 1) -> Env:
    """Clients and users first, then the servers, so every one is there from the first request."""
    create = warden.create_client
    key = new_key("ES256", kid="device-client-key")
    jwks_file = warden.root / "client-jwks.json"
    jwks_file.write_text(json.dumps(public_jwks(key)))
    clients = {
        # Public, with refresh tokens and OpenID: the TV of the browser test.
        "tv": create(name=TV_NAME, scope=TV_SCOPE, audiences=(API,), auth_method="none",
                     grant_types=("device_code", "refresh_token")),
        # Confidential (client_secret_basic), registered with the full URN; no refresh grant.
        "kiosk": create(name="Lobby Kiosk", scope="profile", audiences=(API,),
                        grant_types=(DEVICE_GRANT,)),
        "client_secret_post": create(name="Post Kiosk", scope="profile", audiences=(API,), auth_method="client_secret_post",
                                     grant_types=("device_code",)),
        "private_key_jwt": create(name="Key Kiosk", scope="profile", audiences=(API,), auth_method="private_key_jwt",
                                  grant_types=("device_code",), extra=("--jwks", str(jwks_file))),
        "other": create(name="Other TV", scope=TV_SCOPE, audiences=(API,), auth_method="none",
                        grant_types=("device_code",)),
        "trusted": create(name="Trusted TV", scope="profile", audiences=(API,), auth_method="none",
                          grant_types=("device_code",), extra=("--skip-consent",)),
        # Not registered for the device grant.
        "web": warden.create_code_client("Web App", scope="profile"),
        # A resource server that introspects.
        "api": create(name="api", scope="", audiences=(), auth_method="client_secret_post"),
    }
    users = {name: warden.create_user(name) for name in ("alice", "bob", "carol", "dave")}
    first = warden.start_server()
    servers = (first, *(warden.start_server(issuer=first.issuer) for _ in range(instances - 1)))
    return Env(warden, servers, clients, users, key)


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[Env]:
    """The main installation, on SQLite."""
    warden = Warden(tmp_path_factory.mktemp("device"), config=CONFIG)
    try:
        yield provision(warden)
    finally:
        finish(warden)


@pytest.fixture(scope="module")
def postgres_env(postgres, tmp_path_factory) -> Iterator[Env]:
    """Two instances of one issuer on a PostgreSQL database of their own."""
    from postgres import tables  # the module; the fixture of the same name is the cluster

    url = postgres.create_database("device")
    warden = Warden(tmp_path_factory.mktemp("device-pg"), config=CONFIG, database_url=url)
    try:
        installation = provision(warden, instances=2)
        assert "public.device_authorizations" in tables(url), tables(url)
        assert not warden.database.exists(), f"a SQLite file appeared: {warden.database}"
        yield installation
    finally:
        finish(warden)
        postgres.drop_database(url)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def backend(request) -> Env:
    """The installation on each storage backend: the main one (SQLite), and PostgreSQL's."""
    return request.getfixturevalue("env" if request.param == "sqlite" else "postgres_env")


@pytest.fixture(scope="module")
def driver():
    """Headless Chromium, with its console log kept."""
    browser = headless_chromium(browser_log=True)
    yield browser
    browser.quit()


# -- helpers: the device's side ----------------------------------------------------------------------------


def authorize_device(server: Server, client: Client, *, auth=None, credentials: dict | None = None,
                     **params) -> requests.Response:
    """POST /device_authorization with the client's registered authentication (or Basic `auth`, or
    the form members `credentials`); list values repeat a parameter, None values are left out."""
    kwargs = client.credentials() if credentials is None else {"data": credentials}
    data = list(kwargs.pop("data").items())
    if auth is not None:
        kwargs["auth"] = auth
    for name, value in params.items():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if item is not None:
                data.append((name, item))
    # Always a form, even an empty one (a confidential client may send nothing but its Basic header).
    return requests.post(server.url("/device_authorization"), data=urlencode(data), timeout=30,
                         headers={"Content-Type": "application/x-www-form-urlencoded"}, **kwargs)


def started(env: Env, client: Client, **params) -> dict:
    """A device authorization that succeeded (RFC 8628 §3.2), its response checked; the body."""
    response = authorize_device(env.server, client, **params)
    assert response.status_code == 200, f"{response.status_code} {response.text!r}"
    assert response.headers.get("Content-Type", "").split(";")[0] == "application/json", dict(response.headers)
    assert "no-store" in response.headers.get("Cache-Control", ""), dict(response.headers)
    body = response.json()
    assert set(body) == {"device_code", "user_code", "verification_uri", "verification_uri_complete",
                         "expires_in", "interval"}, body
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", body["device_code"]), body  # 256 bits, base64url
    assert USER_CODE.fullmatch(body["user_code"]), body
    assert body["verification_uri"] == env.issuer + "/device", body
    assert body["verification_uri_complete"] == body["verification_uri"] + "?user_code=" + body["user_code"], body
    assert body["expires_in"] == LIFETIME and body["interval"] == INTERVAL, body
    return body


def poll(server: Server, client: Client, device_code: str | None, *, dpop: str | None = None, auth=None,
         credentials: dict | None = None) -> requests.Response:
    """One device poll at /token (RFC 8628 §3.4) with the client's registered authentication (or
    Basic `auth`, or the form members `credentials`)."""
    kwargs = client.credentials() if credentials is None else {"data": credentials}
    if auth is not None:
        kwargs["auth"] = auth
    data = [("grant_type", DEVICE_GRANT), *kwargs.pop("data").items()]
    if device_code is not None:
        data.append(("device_code", device_code))
    headers = {"DPoP": dpop} if dpop is not None else {}
    return requests.post(server.url("/token"), data=data, headers=headers, timeout=30, **kwargs)


def tokens(response: requests.Response) -> dict:
    assert response.status_code == 200, f"expected the tokens, got {response.status_code}: {response.text!r}"
    assert "no-store" in response.headers.get("Cache-Control", ""), dict(response.headers)
    return response.json()


# -- helpers: the person's side (a browser without JavaScript: interop.UserAgent) ----------------------------


def entry_form(agent: UserAgent) -> dict:
    """GET /device: the code entry page's hidden fields (the CSRF token)."""
    page = assert_html_page(agent.get("/device"))
    return page.form("/device").hidden()


def submit_code(agent: UserAgent, typed: str) -> requests.Response:
    """The code entry page, then POST /device with `typed`."""
    return agent.post("/device", dict(entry_form(agent), user_code=typed))


def sign_in(agent: UserAgent, sign_in_page: requests.Response, user: User, password: str | None = None) -> requests.Response:
    form = assert_html_page(sign_in_page).form("/device/login")
    return agent.post("/device/login", dict(form.hidden(), username=user.username,
                                            password=password if password is not None else user.password))


def consent_location(user_code: str) -> str:
    return "/device/consent?user_code=" + user_code


def to_consent(agent: UserAgent, user_code: str, user: User) -> Page:
    """From the code entry page through sign-in (when nobody is) to the consent page."""
    response = submit_code(agent, user_code)
    if response.status_code == 200:
        assert assert_html_page(response).h1 == "Sign in", response.text[:300]
        response = sign_in(agent, response, user)
    assert response.status_code == 303, f"{response.status_code} {response.text[:300]!r}"
    assert response.headers["Location"] == consent_location(user_code), response.headers["Location"]
    page = assert_html_page(agent.get(response.headers["Location"]))
    assert page.h1.startswith("Allow "), page.h1
    return page


def decide(agent: UserAgent, consent: Page, decision: str) -> requests.Response:
    return agent.post("/device/consent", dict(consent.form("/device/consent").hidden(), decision=decision))


def approve(env: Env, user_code: str, user: User, *, decision: str = "allow") -> UserAgent:
    """The whole person's side in a new browser: code, sign-in, consent and `decision`; returns
    the browser, signed in."""
    agent = UserAgent(env.server)
    done = decide(agent, to_consent(agent, user_code, user), decision)
    heading = "You're all set" if decision == "allow" else "Request denied"
    assert assert_html_page(done).h1 == heading, done.text[:500]
    return agent


def device_tokens(env: Env, client: Client, user: User, **params) -> dict:
    """A device flow from start to the one poll that gets the tokens."""
    device = started(env, client, **params)
    approve(env, device["user_code"], user)
    return tokens(poll(env.server, client, device["device_code"]))


def assert_code_error_page(response: requests.Response) -> Page:
    """The code entry page again, 400, saying the code is no good (without saying why)."""
    page = assert_html_page(response, 400)
    page.form("/device")
    assert any(alert.startswith(CODE_ERROR) for alert in page.alerts), page.alerts
    return page


# -- helpers: storage and logs ------------------------------------------------------------------------------


def digest(device_code: str) -> bytes:
    """How the device code is stored: its SHA-256."""
    return hashlib.sha256(device_code.encode()).digest()


def read(env: Env, query: str, params: tuple = ()) -> list[tuple]:
    """A read-only query, written with SQLite's `?` placeholders on both backends."""
    return env.warden.sql(query.replace("?", "%s") if env.warden.is_postgres else query, params)


def write(env: Env, query: str, params: tuple = ()) -> int:
    """Writes the database behind the servers' backs (set-up only); the changed row count."""
    if env.warden.is_postgres:
        import postgres

        with postgres.connect(env.warden.database_url) as connection:
            return connection.execute(query.replace("?", "%s"), params).rowcount
    import sqlite3

    connection = sqlite3.connect(str(env.warden.database), timeout=10)
    try:
        with connection:
            return connection.execute(query, params).rowcount
    finally:
        connection.close()


def device_row(env: Env, device_code: str) -> dict:
    columns = ("created_at", "expires_at", "poll_interval", "last_polled_at", "grant_id", "redeemed_at", "denied")
    (row,) = read(env, f"SELECT {', '.join(columns)} FROM device_authorizations WHERE device_code_digest = ?",
                  (digest(device_code),))
    return dict(zip(columns, row))


def expire(env: Env, device_code: str) -> None:
    """Moves the device code's expiry one second into the past."""
    assert write(env, "UPDATE device_authorizations SET expires_at = ? WHERE device_code_digest = ?",
                 (int(time.time()) - 1, digest(device_code))) == 1


def after_a_purge(env: Env) -> None:
    """Returns once a server has run a whole maintenance tick (which purges expired rows) since
    the call: the tick that logs a CLI security event purges right after, so two events logged one
    after the other mean the first one's tick has finished."""
    for _ in range(2):
        env.warden.create_user(f"tick-{time.monotonic_ns()}")
        env.warden.wait_for_cli_events_logged()


def events(env: Env, name: str) -> list[dict]:
    """The JSON log lines (stdout of every server) of security event `name`."""
    found = []
    for server in env.servers:
        for line in server.stdout().splitlines():
            if line.startswith("{"):
                entry = json.loads(line)
                if entry.get("event") == name:
                    found.append(entry)
    return found


# -- helpers: tokens ---------------------------------------------------------------------------------------


def verify_access_token(env: Env, token: str, *, audience: str = API) -> dict:
    """Both resource-server libraries verify it from the JWKS; the claims."""
    assert jwt_header(token)["typ"] == "at+jwt", jwt_header(token)
    metadata = env.server.metadata()
    _, claims = verify_with_joserfc(token, requests.get(metadata["jwks_uri"], timeout=10).json(),
                                    issuer=env.issuer, audience=audience)
    assert verify_with_pyjwt(token, metadata["jwks_uri"], issuer=env.issuer, audience=audience) == claims
    return claims


def verify_id_token(env: Env, token: str, client: Client) -> dict:
    """PyJWT as a relying party: signature from the JWKS, iss, aud = the client, exp, iat."""
    import jwt as pyjwt

    jwks_uri = env.server.metadata()["jwks_uri"]
    key = pyjwt.PyJWKClient(jwks_uri, cache_jwk_set=False, timeout=10).get_signing_key_from_jwt(token)
    return pyjwt.decode(token, key.key, algorithms=ALLOWED_ALGORITHMS, audience=client.client_id, issuer=env.issuer,
                        leeway=5, options={"require": ["iss", "aud", "sub", "exp", "iat", "auth_time"]})


# -- registration, metadata and the device authorization endpoint --------------------------------------------


@pytest.mark.parametrize("document", ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"])
def test_the_metadata_names_the_endpoint_and_the_grant(env, document):
    metadata = requests.get(env.server.url(document), timeout=10).json()
    assert metadata.get("device_authorization_endpoint") == env.issuer + "/device_authorization", metadata
    assert DEVICE_GRANT in metadata["grant_types_supported"], metadata["grant_types_supported"]


def test_registration_takes_the_alias_and_the_urn(env):
    assert env.clients["tv"].raw["grant_types"] == [DEVICE_GRANT, "refresh_token"], env.clients["tv"].raw
    assert env.clients["kiosk"].raw["grant_types"] == [DEVICE_GRANT], env.clients["kiosk"].raw
    assert env.clients["tv"].raw["redirect_uris"] == [], "a device client needs no redirect URI"


def test_a_public_and_a_confidential_client_start_a_device_authorization(env):
    public = started(env, env.clients["tv"])
    confidential = started(env, env.clients["kiosk"])  # client_secret_basic
    assert public["device_code"] != confidential["device_code"] and public["user_code"] != confidential["user_code"]
    row = device_row(env, public["device_code"])
    assert row["expires_at"] - row["created_at"] == LIFETIME, row
    assert row["poll_interval"] == INTERVAL and row["grant_id"] is None and row["redeemed_at"] is None, row


@pytest.mark.parametrize("method", ["client_secret_post", "private_key_jwt"])
def test_a_client_authenticates_as_at_the_token_endpoint(env, method):
    client = env.clients[method]

    def credentials(endpoint: str) -> dict:
        if method == "client_secret_post":
            return {"client_id": client.client_id, "client_secret": client.client_secret}
        return assertion_form(env.key, client.client_id, env.issuer + endpoint)  # aud: the endpoint's URL

    device = started(env, client, credentials=credentials("/device_authorization"))
    approve(env, device["user_code"], env.users["bob"])
    body = tokens(poll(env.server, client, device["device_code"], credentials=credentials("/token")))
    assert jwt_claims_unverified(body["access_token"])["client_id"] == client.client_id


def test_a_client_without_the_device_grant_is_unauthorized_client(env):
    assert_oauth_error(authorize_device(env.server, env.clients["web"]), "unauthorized_client")
    # Nor may it poll.
    assert_oauth_error(poll(env.server, env.clients["web"], "x" * 43), "unauthorized_client")


def test_a_scope_beyond_the_clients_is_invalid_scope(env):
    assert_oauth_error(authorize_device(env.server, env.clients["tv"], scope="openid admin"), "invalid_scope")


def test_a_resource_not_among_the_clients_audiences_is_invalid_target(env):
    assert_oauth_error(authorize_device(env.server, env.clients["tv"], resource=ELSEWHERE), "invalid_target")
    assert_oauth_error(authorize_device(env.server, env.clients["tv"], resource=[API, ELSEWHERE]), "invalid_target")


@pytest.mark.parametrize("case", ["wrong secret", "unknown client_id", "wrong secret when polling"])
def test_bad_client_credentials_are_invalid_client(env, case):
    kiosk = env.clients["kiosk"]
    if case == "wrong secret":
        response = authorize_device(env.server, kiosk, auth=(kiosk.client_id, "not-the-secret"))
    elif case == "unknown client_id":
        response = authorize_device(env.server, kiosk, credentials={"client_id": "no-such-client"})
    else:
        device = started(env, kiosk)
        response = poll(env.server, kiosk, device["device_code"], auth=(kiosk.client_id, "not-the-secret"))
    assert_oauth_error(response, "invalid_client", status=401)


# -- polling --------------------------------------------------------------------------------------------------


def test_a_poll_before_the_decision_is_authorization_pending_and_recorded(env):
    device = started(env, env.clients["tv"])
    # The person has entered the code and signed in, and sees the consent page: still undecided.
    to_consent(UserAgent(env.server), device["user_code"], env.users["alice"])
    polled_at = int(time.time())
    assert_oauth_error(poll(env.server, env.clients["tv"], device["device_code"]), "authorization_pending")
    row = device_row(env, device["device_code"])
    assert polled_at <= row["last_polled_at"] <= polled_at + 1 and row["poll_interval"] == INTERVAL, row


def test_slow_down_adds_five_seconds_to_the_interval_each_time(env):
    tv = env.clients["tv"]
    six, ten = started(env, tv), started(env, tv)
    for device in (six, ten):
        assert_oauth_error(poll(env.server, tv, device["device_code"]), "authorization_pending")
        assert_oauth_error(poll(env.server, tv, device["device_code"]), "slow_down")
        assert device_row(env, device["device_code"])["poll_interval"] == INTERVAL + 5
    marked = time.monotonic()

    def poll_at(device: dict, delay: float) -> requests.Response:
        time.sleep(max(0.0, marked + delay - time.monotonic()))
        return poll(env.server, tv, device["device_code"])

    with ThreadPoolExecutor(2) as pool:
        early, late = pool.submit(poll_at, six, 6.0), pool.submit(poll_at, ten, 10.5)
        # 6 s after a slow_down is still too fast (10 s now), and slows it down once more...
        assert_oauth_error(early.result(), "slow_down")
        # ... 10 s after it is fine.
        assert_oauth_error(late.result(), "authorization_pending")
    assert device_row(env, six["device_code"])["poll_interval"] == INTERVAL + 10
    assert device_row(env, ten["device_code"])["poll_interval"] == INTERVAL + 5
    # The pending poll's time was recorded: polling again at once is too fast.
    assert_oauth_error(poll(env.server, tv, ten["device_code"]), "slow_down")


def test_denied_is_access_denied_and_logged(env):
    tv, carol = env.clients["tv"], env.users["carol"]
    device = started(env, tv)
    before = len(events(env, "device_denied"))
    approve(env, device["user_code"], carol, decision="deny")
    assert_oauth_error(poll(env.server, tv, device["device_code"]), "access_denied")
    # Denied is told before "too fast".
    assert_oauth_error(poll(env.server, tv, device["device_code"]), "access_denied")
    logged = wait_until(lambda: events(env, "device_denied")[before:] or None, message="no device_denied log line")
    assert [event.get("sub") for event in logged] == [carol.id], logged


def test_a_redeemed_device_code_is_invalid_grant(env):
    tv = env.clients["tv"]
    device = started(env, tv)
    approve(env, device["user_code"], env.users["alice"])
    tokens(poll(env.server, tv, device["device_code"]))
    assert_oauth_error(poll(env.server, tv, device["device_code"]), "invalid_grant")
    time.sleep(1)
    assert_oauth_error(poll(env.server, tv, device["device_code"]), "invalid_grant")


def test_another_clients_device_code_is_invalid_grant(env):
    tv, other = env.clients["tv"], env.clients["other"]
    device = started(env, tv)
    assert_oauth_error(poll(env.server, other, device["device_code"]), "invalid_grant")
    approve(env, device["user_code"], env.users["alice"])
    assert_oauth_error(poll(env.server, other, device["device_code"]), "invalid_grant")
    # Nothing was recorded for the owner (its first poll is not "too fast"), nothing redeemed.
    assert device_row(env, device["device_code"])["last_polled_at"] is None
    tokens(poll(env.server, tv, device["device_code"]))


def test_an_unknown_device_code_is_invalid_grant_and_a_missing_one_invalid_request(env):
    tv = env.clients["tv"]
    assert_oauth_error(poll(env.server, tv, "A" * 43), "invalid_grant")
    assert_oauth_error(poll(env.server, tv, None), "invalid_request")


def test_the_order_of_the_checks(env):
    """Other client before expired before denied before too fast."""
    tv = env.clients["tv"]
    device = started(env, tv)
    approve(env, device["user_code"], env.users["bob"], decision="deny")
    assert_oauth_error(poll(env.server, tv, device["device_code"]), "access_denied")
    expire(env, device["device_code"])
    assert_oauth_error(poll(env.server, tv, device["device_code"]), "expired_token")
    assert_oauth_error(poll(env.server, env.clients["other"], device["device_code"]), "invalid_grant")


# -- storage-sensitive rules, on SQLite and on PostgreSQL -------------------------------------------------------


def test_exactly_one_of_ten_concurrent_polls_gets_the_tokens(backend):
    kiosk = backend.clients["kiosk"]
    device = started(backend, kiosk)
    approve(backend, device["user_code"], backend.users["alice"])
    barrier = threading.Barrier(10)

    def racing(index: int) -> requests.Response:
        barrier.wait()
        return poll(backend.servers[index % len(backend.servers)], kiosk, device["device_code"])

    with ThreadPoolExecutor(10) as pool:
        responses = list(pool.map(racing, range(10)))
    winners = [response for response in responses if response.status_code == 200]
    assert len(winners) == 1, [f"{response.status_code} {response.text[:100]}" for response in responses]
    for response in responses:
        if response is not winners[0]:
            assert_oauth_error(response, {"invalid_grant", "slow_down"})
    body = tokens(winners[0])
    assert "refresh_token" not in body and "id_token" not in body, "kiosk has no refresh grant and asked no openid"
    claims = verify_access_token(backend, body["access_token"])
    assert claims["sub"] == backend.users["alice"].id and claims["client_id"] == kiosk.client_id
    assert claims["scope"] == "profile" and claims["aud"] == API
    row = device_row(backend, device["device_code"])
    assert row["grant_id"] == claims["gid"] and row["redeemed_at"] is not None, row
    for server in backend.servers:
        assert_oauth_error(poll(server, kiosk, device["device_code"]), "invalid_grant")


def test_a_decision_is_made_once(backend):
    """Four signed-in people see the consent page for one code and answer at once, two allow
    and two deny: one decision stands, the others get the code entry page's error."""
    kiosk, alice, bob = backend.clients["kiosk"], backend.users["alice"], backend.users["bob"]
    device = started(backend, kiosk)
    agents = [UserAgent(backend.servers[index % len(backend.servers)]) for index in range(4)]
    pages = [to_consent(agent, device["user_code"], (alice, bob)[index % 2]) for index, agent in enumerate(agents)]
    decisions = ["allow", "deny", "allow", "deny"]
    decided_before = len(events(backend, "device_approved")) + len(events(backend, "device_denied"))
    barrier = threading.Barrier(4)

    def deciding(index: int) -> requests.Response:
        barrier.wait()
        return decide(agents[index], pages[index], decisions[index])

    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(deciding, range(4)))
    done = [index for index, response in enumerate(responses) if response.status_code == 200]
    assert len(done) == 1, [f"{response.status_code} {Page.parse(response.text).h1}" for response in responses]
    for index, response in enumerate(responses):
        if index != done[0]:
            assert_code_error_page(response)
    winner = decisions[done[0]]
    outcome = poll(backend.server, kiosk, device["device_code"])
    if winner == "allow":
        assert tokens(outcome)["access_token"]
    else:
        assert_oauth_error(outcome, "access_denied")
    row = device_row(backend, device["device_code"])
    assert (row["grant_id"] is not None) == (winner == "allow") and bool(row["denied"]) == (winner == "deny"), row
    wait_until(lambda: len(events(backend, "device_approved")) + len(events(backend, "device_denied")) > decided_before,
               message="the decision was not logged")
    time.sleep(0.5)
    assert len(events(backend, "device_approved")) + len(events(backend, "device_denied")) == decided_before + 1


def test_an_expired_device_code_is_expired_token_and_cannot_be_approved(backend):
    tv = backend.clients["tv"]
    device = started(backend, tv)
    row = device_row(backend, device["device_code"])
    assert row["expires_at"] - row["created_at"] == LIFETIME, row
    agent = UserAgent(backend.server)
    consent = to_consent(agent, device["user_code"], backend.users["alice"])
    expire(backend, device["device_code"])
    assert_code_error_page(decide(agent, consent, "allow"))
    assert_code_error_page(submit_code(UserAgent(backend.servers[-1]), device["user_code"]))
    for server in backend.servers:
        assert_oauth_error(poll(server, tv, device["device_code"]), "expired_token")
    assert device_row(backend, device["device_code"])["grant_id"] is None


# -- the pages ----------------------------------------------------------------------------------------------------


def test_every_page_carries_the_security_headers(env):
    tv, alice = env.clients["tv"], env.users["alice"]
    device = started(env, tv)
    agent = UserAgent(env.server)
    responses = {
        "code entry": agent.get("/device"),
        "pre-filled code entry": agent.get("/device?user_code=" + device["user_code"]),
        "wrong code": submit_code(agent, UNKNOWN_CODE),
        "no CSRF token": agent.post("/device", {"user_code": device["user_code"]}),
        "consent, not signed in": agent.get(consent_location(device["user_code"])),
    }
    sign_in_page = submit_code(agent, device["user_code"])
    responses["sign-in"] = sign_in_page
    responses["failed sign-in"] = sign_in(agent, sign_in_page, alice, password="not her password")
    responses["signed in (303)"] = sign_in(agent, sign_in_page, alice)
    responses["consent"] = agent.get(responses["signed in (303)"].headers["Location"])
    consent = Page.parse(responses["consent"].text)
    responses["done"] = decide(agent, consent, "allow")
    responses["replayed decision"] = decide(agent, consent, "allow")
    statuses = {"wrong code": 400, "no CSRF token": 403, "signed in (303)": 303, "replayed decision": 403}
    for name, response in responses.items():
        status = statuses.get(name, 200)
        assert response.status_code == status, f"{name}: {response.status_code} {response.text[:300]!r}"
        assert_html_security_headers(response)
        if status != 303:
            page = assert_html_page(response, status)
            assert page.scripts == 0 and page.inline_styles == 0, name
            assert page.title, name


def test_the_code_entry_page_has_one_field_and_a_pre_login_csrf_cookie(env):
    agent = UserAgent(env.server)
    response = agent.get("/device")
    page = assert_html_page(response)
    assert page.h1 == "Connect a device", page.h1
    form = page.form("/device")
    assert set(form.inputs) == {"csrf_token", "user_code"}, form.inputs
    assert form.inputs["user_code"].get("id") == "user_code" and "user_code" in page.label_for
    assert form.inputs["user_code"].get("value", "") == ""
    assert form.hidden()["csrf_token"]
    set_cookie = response.headers.get("Set-Cookie", "")
    assert set_cookie.startswith(PRELOGIN_COOKIE + "="), set_cookie
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie, set_cookie
    assert agent.session_cookie is None
    # Once set, the cookie is kept, and the page carries the same token.
    again = agent.get("/device")
    assert PRELOGIN_COOKIE not in again.headers.get("Set-Cookie", "")
    assert Page.parse(again.text).form("/device").hidden() == form.hidden()


def test_the_pre_filled_code_is_not_looked_up(env):
    tv = env.clients["tv"]
    decided = started(env, tv)
    approve(env, decided["user_code"], env.users["bob"], decision="deny")
    for code in (UNKNOWN_CODE, decided["user_code"], "not a code"):
        page = assert_html_page(UserAgent(env.server).get("/device?user_code=" + code))
        assert page.form("/device").inputs["user_code"]["value"] == code
        assert not page.alerts, f"{code!r} was looked up: {page.alerts}"
    # Whatever is in the query is escaped text, and cut to the field's length.
    hostile = '"><script>alert(1)</script>'
    response = UserAgent(env.server).get("/device", params={"user_code": hostile})
    page = assert_html_page(response)
    assert page.scripts == 0 and "<script>" not in response.text
    assert page.form("/device").inputs["user_code"]["value"] == hostile[:16]


def test_a_missing_or_foreign_csrf_token_is_403(env):
    tv, alice = env.clients["tv"], env.users["alice"]
    device = started(env, tv)
    agent, stranger = UserAgent(env.server), UserAgent(env.server)
    sign_in_page = submit_code(agent, device["user_code"])
    assert_html_page(agent.post("/device", {"user_code": device["user_code"]}), 403)
    assert_html_page(agent.post("/device", dict(entry_form(stranger), user_code=device["user_code"])), 403)
    form = assert_html_page(sign_in_page).form("/device/login")
    login = dict(form.hidden(), username=alice.username, password=alice.password)
    assert_html_page(agent.post("/device/login", {**login, "csrf_token": ""}), 403)
    assert_html_page(agent.post("/device/login", {name: value for name, value in login.items() if name != "csrf_token"}), 403)
    assert agent.session_cookie is None, "signed in without a CSRF token"
    consent = to_consent(agent, device["user_code"], alice)
    fields = consent.form("/device/consent").hidden()
    assert fields["csrf_token"] != form.hidden()["csrf_token"], "the session's token is not the pre-login one"
    assert_html_page(agent.post("/device/consent", {"user_code": device["user_code"], "decision": "allow"}), 403)
    assert_html_page(agent.post("/device/consent", dict(fields, csrf_token=form.hidden()["csrf_token"], decision="allow")), 403)
    assert_oauth_error(poll(env.server, tv, device["device_code"]), "authorization_pending")
    # The token was not spent by the refusals: the real form still works.
    assert assert_html_page(decide(agent, consent, "allow")).h1 == "You're all set"


def test_the_code_is_case_insensitive_and_ignores_dashes_and_spaces(env):
    device = started(env, env.clients["tv"])
    code = device["user_code"]
    letters = code.replace("-", "")
    for typed in (code.lower(), letters, letters.lower(), f"{letters[:4]} {letters[4:]}".lower(),
                  " " + "-".join(letters) + " ", f"{letters[:2]}-{letters[2:5]} {letters[5:]}".lower()):
        response = submit_code(UserAgent(env.server), typed)
        page = assert_html_page(response)
        assert page.h1 == "Sign in", f"{typed!r}: {page.h1} {page.alerts}"
        assert page.form("/device/login").hidden()["user_code"] == code, typed


@pytest.mark.parametrize("typed", [UNKNOWN_CODE, "AEIO-U123", "BCDF-GHJ", "BCDF-GHJKL", ""])
def test_a_wrong_code_shows_the_code_entry_page_with_an_error(env, typed):
    page = assert_code_error_page(submit_code(UserAgent(env.server), typed))
    assert page.h1 == "Connect a device"


def test_the_sign_in_page_names_the_client_and_a_wrong_password_shows_the_error(env):
    device = started(env, env.clients["tv"])
    agent = UserAgent(env.server)
    response = submit_code(agent, device["user_code"])
    page = assert_html_page(response)
    assert page.h1 == "Sign in" and TV_NAME in page.text and TV_NAME in page.title, (page.h1, page.title)
    assert {"username", "password"} <= page.label_for
    failed = sign_in(agent, response, env.users["alice"], password="not her password")
    failed_page = assert_html_page(failed)
    assert failed_page.alerts == [LOGIN_ERROR], failed_page.alerts
    assert failed_page.form("/device/login").inputs["username"]["value"] == "alice"
    assert agent.session_cookie is None
    signed_in = sign_in(agent, failed, env.users["alice"])
    assert signed_in.status_code == 303 and signed_in.headers["Location"] == consent_location(device["user_code"])
    assert agent.session_cookie and PRELOGIN_COOKIE not in agent.http.cookies


def test_someone_signed_in_goes_straight_to_consent_and_nobody_signed_in_to_the_code_entry(env):
    tv, alice = env.clients["tv"], env.users["alice"]
    agent = approve(env, started(env, tv)["user_code"], alice)  # now signed in
    device = started(env, tv)
    response = submit_code(agent, device["user_code"].lower())
    assert response.status_code == 303 and response.headers["Location"] == consent_location(device["user_code"])
    assert_html_security_headers(response)
    page = assert_html_page(UserAgent(env.server).get(consent_location(device["user_code"])))
    assert page.h1 == "Connect a device" and not page.alerts
    assert page.form("/device").inputs["user_code"]["value"] == device["user_code"]


def test_the_consent_page_names_the_client_and_scopes_and_warns(env):
    device = started(env, env.clients["tv"])
    agent = UserAgent(env.server)
    page = to_consent(agent, device["user_code"], env.users["alice"])
    assert page.h1 == f"Allow {TV_NAME} on your device?", page.h1
    assert [item.split()[-1] for item in page.list_items] == TV_SCOPE.split(), page.list_items
    response = agent.get(consent_location(device["user_code"]))
    warning = re.search(r'<p class="warning"[^>]*>(.*?)</p>', response.text, re.S)
    assert warning, "no warning on the consent page"
    text = " ".join(re.sub(r"<[^>]+>", "", warning.group(1)).split())
    assert text.startswith("Only allow this if you started it on a device you are holding"), text
    assert device["user_code"] in text and text.endswith("If someone sent you this code, choose Deny."), text
    form = page.form("/device/consent")
    assert form.hidden()["user_code"] == device["user_code"]
    assert sorted(button.get("value") for button in form.buttons) == ["allow", "deny"], form.buttons


def test_consent_is_always_asked(env):
    """Even of a skip-consent client, and again after the person allowed the same client."""
    alice = env.users["alice"]
    agent = approve(env, started(env, env.clients["trusted"])["user_code"], alice)
    for client in (env.clients["trusted"], env.clients["trusted"], env.clients["tv"]):
        device = started(env, client)
        page = to_consent(agent, device["user_code"], alice)
        assert page.h1 == f"Allow {client.raw['client_name']} on your device?"
        assert_oauth_error(poll(env.server, client, device["device_code"]), "authorization_pending")


def test_a_decision_cannot_be_replayed(env):
    tv = env.clients["tv"]
    device = started(env, tv)
    agent = UserAgent(env.server)
    consent = to_consent(agent, device["user_code"], env.users["dave"])
    before = len(events(env, "device_approved"))
    assert assert_html_page(decide(agent, consent, "allow")).title.startswith("Device connected")
    for decision in ("allow", "deny"):
        assert_html_page(decide(agent, consent, decision), 403)
    assert tokens(poll(env.server, tv, device["device_code"]))["access_token"]
    logged = wait_until(lambda: events(env, "device_approved")[before:] or None, message="no device_approved log line")
    assert [event.get("sub") for event in logged] == [env.users["dave"].id], logged


def test_a_decided_code_is_refused_on_every_page(env):
    tv, alice, bob = env.clients["tv"], env.users["alice"], env.users["bob"]
    device = started(env, tv)
    late = UserAgent(env.server)
    late_consent = to_consent(late, device["user_code"], bob)  # opened before the decision
    approve(env, device["user_code"], alice)
    assert_code_error_page(submit_code(UserAgent(env.server), device["user_code"]))
    assert_code_error_page(late.get(consent_location(device["user_code"])))
    assert_code_error_page(decide(late, late_consent, "deny"))
    assert tokens(poll(env.server, tv, device["device_code"]))["access_token"]


def test_typed_codes_spend_the_per_address_sign_in_budget(tmp_path):
    """`login_failures_per_address: 5`: wrong codes (on any page) and failed sign-ins share the
    budget; codes that name a pending request are forgiven; the pre-filled GET counts nothing."""
    warden = Warden(tmp_path / "limited", config={"login_failures_per_address": 5, "log_format": "json",
                                                        "device_code_lifetime": LIFETIME})
    try:
        tv = warden.create_client(name=TV_NAME, scope="profile", audiences=(API,), auth_method="none",
                                  grant_types=("device_code",))
        alice = warden.create_user("alice")
        server = warden.start_server()
        env = Env(warden, (server,), {"tv": tv}, {"alice": alice})
        device = started(env, tv)
        code = device["user_code"]
        for _ in range(10):  # nothing is looked up, nothing counted
            assert not assert_html_page(UserAgent(server).get("/device?user_code=" + UNKNOWN_CODE)).alerts
        person = UserAgent(server)
        for _ in range(3):  # found: forgiven
            assert assert_html_page(submit_code(person, code)).h1 == "Sign in"
        sign_in_page = submit_code(person, code)
        assert assert_html_page(sign_in(person, sign_in_page, alice, password="wrong")).alerts == [LOGIN_ERROR]  # 1
        assert sign_in(person, sign_in_page, alice).status_code == 303  # signed in: forgiven
        assert_code_error_page(person.get(consent_location(UNKNOWN_CODE)))  # 2
        consent = assert_html_page(person.get(consent_location(code))).form("/device/consent").hidden()
        assert_code_error_page(person.post("/device/consent", dict(consent, user_code=UNKNOWN_CODE, decision="allow")))  # 3
        guesser = UserAgent(server)
        for _ in range(2):
            assert_code_error_page(submit_code(guesser, UNKNOWN_CODE))  # 4, 5
        for refused in (submit_code(guesser, UNKNOWN_CODE), submit_code(guesser, code),
                        person.get(consent_location(code))):
            assert_html_page(refused, 429)
            retry_after = refused.headers.get("Retry-After", "")
            assert retry_after.isdigit() and 1 <= int(retry_after) <= 60, refused.headers
        assert_oauth_error(poll(server, tv, device["device_code"]), "authorization_pending")
        wait_until(lambda: events(env, "device_code_rate_limited") or None, message="no device_code_rate_limited line")
    finally:
        finish(warden)


# -- the grant is an ordinary user grant ----------------------------------------------------------------------------


def test_the_tokens_introspect_active_and_the_refresh_token_rotates(env):
    tv, api, alice = env.clients["tv"], env.clients["api"], env.users["alice"]
    body = device_tokens(env, tv, alice)
    assert body["token_type"] == "Bearer" and body["scope"] == TV_SCOPE and body["refresh_token"], body
    introspection = env.server.introspect(api, body["access_token"]).json()
    assert introspection["active"] is True, introspection
    assert introspection["sub"] == alice.id and introspection["client_id"] == tv.client_id, introspection
    assert introspection["scope"] == TV_SCOPE, introspection
    renewed = tokens(env.server.refresh(tv, body["refresh_token"]))
    assert renewed["refresh_token"] != body["refresh_token"], "the refresh token was not rotated"
    first, second = jwt_claims_unverified(body["access_token"]), verify_access_token(env, renewed["access_token"])
    assert second["gid"] == first["gid"] and second["sub"] == alice.id
    assert env.server.is_active(api, renewed["access_token"])


def test_revoking_the_refresh_token_deactivates_the_access_token(env):
    tv, api = env.clients["tv"], env.clients["api"]
    body = device_tokens(env, tv, env.users["bob"])
    assert env.server.revoke(tv, body["refresh_token"]).status_code == 200
    assert env.server.is_active(api, body["access_token"]) is False
    assert_oauth_error(env.server.refresh(tv, body["refresh_token"]), "invalid_grant")


def test_reusing_a_rotated_refresh_token_revokes_the_grant(env):
    tv, api = env.clients["tv"], env.clients["api"]
    body = device_tokens(env, tv, env.users["alice"])
    renewed = tokens(env.server.refresh(tv, body["refresh_token"]))
    assert_oauth_error(env.server.refresh(tv, body["refresh_token"]), "invalid_grant")
    assert_oauth_error(env.server.refresh(tv, renewed["refresh_token"]), "invalid_grant")
    assert env.server.is_active(api, body["access_token"]) is False
    assert env.server.is_active(api, renewed["access_token"]) is False


def test_an_approval_revoked_before_the_poll_is_invalid_grant(env):
    """The person approved an OpenID request, then their session was ended (`warden sessions
    revoke`): without offline_access the grant ends with it, and the device gets nothing."""
    tv, carol = env.clients["tv"], env.users["carol"]
    device = started(env, tv, scope="openid profile")
    approve(env, device["user_code"], carol)
    sessions = env.warden.run_json("sessions", "list", "--username", carol.username)
    assert sessions, "no session for the person who approved"
    for session in sessions:
        env.warden.run("sessions", "revoke", positional=(session["sid"],))
    assert_oauth_error(poll(env.server, tv, device["device_code"]), "invalid_grant")


def test_ending_the_session_ends_a_redeemed_grant_without_offline_access(env):
    tv, api, dave = env.clients["tv"], env.clients["api"], env.users["dave"]
    body = device_tokens(env, tv, dave, scope="openid profile")
    assert body["refresh_token"], "the client has the refresh grant"
    sid = verify_id_token(env, body["id_token"], tv)["sid"]
    assert sid in {session["sid"] for session in env.warden.run_json("sessions", "list", "--username", dave.username)}
    assert env.server.is_active(api, body["access_token"])
    env.warden.run("sessions", "revoke", positional=(sid,))
    assert env.server.is_active(api, body["access_token"]) is False
    assert_oauth_error(env.server.refresh(tv, body["refresh_token"]), "invalid_grant")


def test_a_dpop_proof_binds_the_access_token_and_a_public_clients_refresh_token(env):
    tv = env.clients["tv"]
    key = new_key()
    device = started(env, tv, scope="profile offline_access")
    approve(env, device["user_code"], env.users["bob"])
    token_url = env.issuer + "/token"
    body = tokens(poll(env.server, tv, device["device_code"], dpop=dpop_proof(key, "POST", token_url)))
    assert body["token_type"] == "DPoP" and "id_token" not in body, body
    assert jwt_claims_unverified(body["access_token"])["cnf"] == {"jkt": thumbprint(key)}
    assert_oauth_error(env.server.refresh(tv, body["refresh_token"]), "invalid_grant")  # no proof
    response = requests.post(token_url, data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"],
                                              "client_id": tv.client_id},
                             headers={"DPoP": dpop_proof(key, "POST", token_url)}, timeout=30)
    renewed = tokens(response)
    assert renewed["token_type"] == "DPoP" and jwt_claims_unverified(renewed["access_token"])["cnf"] == {"jkt": thumbprint(key)}


# -- a person in Chromium, a device polling with requests-oauth2client -------------------------------------------------


def chromium_heading(browser) -> str:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By

    try:
        return browser.find_element(By.TAG_NAME, "h1").text
    except (NoSuchElementException, StaleElementReferenceException):
        return ""


def assert_sound_in_chromium(browser) -> None:
    """No script, the same-origin stylesheet applied, nothing refused by the CSP."""
    assert browser.execute_script("return document.scripts.length") == 0
    origin = browser.execute_script("return location.origin")
    sheets = browser.execute_script("return Array.from(document.styleSheets).map(s => s.href)")
    assert sheets and all(href and href.startswith(origin + "/") for href in sheets), sheets
    problems = [entry["message"] for entry in browser.get_log("browser")
                if "Content Security Policy" in entry["message"] or "Refused" in entry["message"]]
    assert not problems, problems


def screenshots(browser, name: str) -> list[Path]:
    """The page in a 1280×800 viewport and in a 390×844 phone's, saved for a person to look at
    (the viewport is set exactly, which the window size does not do)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    saved = []
    try:
        for width, height, suffix in ((1280, 800, "desktop"), (390, 844, "390px")):
            browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})
            assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth"), (
                f"the {name} page scrolls sideways at {width} px")
            path = ARTIFACTS / f"{name}-{suffix}.png"
            assert browser.save_screenshot(str(path)), f"could not save {path}"
            saved.append(path)
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    return saved


def test_a_person_signs_in_with_chromium_while_requests_oauth2client_polls(env, driver):
    from requests_oauth2client import DeviceAuthorizationPollingJob, OAuth2Client
    from requests_oauth2client.exceptions import EndpointError
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    tv, alice = env.clients["tv"], env.users["alice"]
    metadata = env.server.metadata()
    # 1.8.0's from_discovery_document does not read device_authorization_endpoint: given here.
    oauth = OAuth2Client.from_discovery_endpoint(
        issuer=env.issuer, client_id=tv.client_id, testing=True,
        device_authorization_endpoint=metadata["device_authorization_endpoint"])
    authorization = oauth.authorize_device(scope=TV_SCOPE, resource=API)
    assert USER_CODE.fullmatch(authorization.user_code) and authorization.interval == INTERVAL
    assert authorization.verification_uri_complete == f"{env.issuer}/device?user_code={authorization.user_code}"

    class RecordingJob(DeviceAuthorizationPollingJob):
        """The library's polling job, noting when each poll went out and what came back."""

        def token_request(self):
            sent = time.monotonic()
            try:
                token = super().token_request()
            except EndpointError as error:
                self.polls.append((sent, error.error))
                raise
            self.polls.append((sent, "tokens"))
            return token

    job = RecordingJob(oauth, authorization)
    job.polls = []
    started_at = time.monotonic()

    def device_polls():
        token = None
        while token is None and time.monotonic() < started_at + 45:
            token = job()  # sleeps `interval` (5 s, then 5 more after each slow_down), then polls
        return token

    pending = threading.Event()

    def impatient_poll():
        """Another poll 2.5 s in, before the person decides: the library's first poll, 5 s in,
        comes too soon after it and is told to slow down."""
        time.sleep(max(0.0, started_at + 2.5 - time.monotonic()))
        response = poll(env.server, tv, authorization.device_code)
        pending.set()
        return response

    with ThreadPoolExecutor(2) as pool:
        device, interloper = pool.submit(device_polls), pool.submit(impatient_poll)

        driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
        driver.get_log("browser")
        driver.get(authorization.verification_uri_complete)
        assert chromium_heading(driver) == "Connect a device"
        field = driver.find_element(By.ID, "user_code")
        assert field.get_attribute("value") == authorization.user_code, "the code was not pre-filled"
        assert_sound_in_chromium(driver)
        screenshots(driver, "code-entry")
        driver.find_element(By.CSS_SELECTOR, "form[action='/device'] button[type=submit]").click()

        WebDriverWait(driver, 15).until(lambda b: b.find_elements(By.CSS_SELECTOR, "form[action='/device/login']"))
        assert chromium_heading(driver) == "Sign in" and TV_NAME in driver.find_element(By.TAG_NAME, "body").text
        assert_sound_in_chromium(driver)
        screenshots(driver, "sign-in")
        driver.find_element(By.ID, "username").send_keys(alice.username)
        driver.find_element(By.ID, "password").send_keys(alice.password)
        driver.find_element(By.CSS_SELECTOR, "form[action='/device/login'] button[type=submit]").click()

        WebDriverWait(driver, 15).until(lambda b: b.find_elements(By.CSS_SELECTOR, "form[action='/device/consent']"))
        assert chromium_heading(driver) == f"Allow {TV_NAME} on your device?"
        warning = driver.find_element(By.CSS_SELECTOR, ".warning")
        assert warning.is_displayed() and authorization.user_code in warning.text, warning.text
        assert "If someone sent you this code, choose Deny." in warning.text, warning.text
        assert driver.get_cookie(SESSION_COOKIE)["httpOnly"] is True
        assert_sound_in_chromium(driver)
        screenshots(driver, "consent")
        assert pending.wait(15), "the impatient poll did not happen"
        assert_oauth_error(interloper.result(), "authorization_pending")
        driver.find_element(By.CSS_SELECTOR, "button[name=decision][value=allow]").click()

        WebDriverWait(driver, 15).until(lambda b: chromium_heading(b) == "You're all set")
        assert driver.title.startswith("Device connected"), driver.title
        assert urlsplit(driver.current_url).path == "/device/consent"
        assert_sound_in_chromium(driver)
        screenshots(driver, "done")
        token = device.result(timeout=60)

    assert token is not None, f"the device got no tokens: {job.polls}"
    outcomes = [outcome for _, outcome in job.polls]
    assert outcomes[0] == "slow_down" and outcomes[-1] == "tokens", outcomes
    assert set(outcomes[1:-1]) <= {"authorization_pending"}, outcomes
    first_gap = job.polls[1][0] - job.polls[0][0]
    assert first_gap >= INTERVAL + 5, f"after slow_down the library polled again after {first_gap:.1f} s"
    assert job.interval == INTERVAL + 5

    claims = verify_access_token(env, token.access_token)
    assert claims["sub"] == alice.id and claims["client_id"] == tv.client_id and claims["aud"] == API
    assert claims["scope"] == TV_SCOPE and claims["gid"]
    assert token.refresh_token and token.token_type.lower() == "bearer"
    id_claims = verify_id_token(env, str(token.id_token), tv)
    assert id_claims["aud"] == tv.client_id and id_claims["sub"] == alice.id, id_claims
    assert id_claims["sid"] and type(id_claims["auth_time"]) is int and "nonce" not in id_claims, id_claims


# -- configuration ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lifetime", [LIFETIME - 1, 3601])
def test_a_device_code_lifetime_out_of_range_stops_startup_with_one_line(tmp_path, lifetime):
    installation = Warden(tmp_path / "w", config={"device_code_lifetime": lifetime})
    result = installation.run("serve", "--port", "0", check=False, timeout=30)
    assert_one_line_failure(result, "device_code_lifetime")


# -- last, so that a failure here stops no other test under -x ---------------------------------------------------


@pytest.mark.parametrize("storage", ["sqlite", "postgres"])
def test_an_expired_request_is_answered_expired_token_across_the_purge(request, storage):
    """Expired requests are kept for an hour, so that the device hears `expired_token`: pending,
    denied, and approved but never redeemed alike. (The approved one's grant ends an hour after
    the request, so the purge of expired grants does not take the request along before then;
    moving the request's expiry moves the grant's with it here, as time would.) Parametrized by
    hand, not with `backend`, which pytest would move up among the other storage tests."""
    backend = request.getfixturevalue("env" if storage == "sqlite" else "postgres_env")
    tv, alice = backend.clients["tv"], backend.users["alice"]
    devices = {"pending": started(backend, tv), "denied": started(backend, tv), "approved": started(backend, tv)}
    approve(backend, devices["denied"]["user_code"], alice, decision="deny")
    approve(backend, devices["approved"]["user_code"], alice)
    approved = device_row(backend, devices["approved"]["device_code"])
    kept = 3600
    assert read(backend, "SELECT expires_at FROM grants WHERE id = ?", (approved["grant_id"],)) == [(approved["expires_at"] + kept,)]
    for device in devices.values():
        expire(backend, device["device_code"])
    expired_at = device_row(backend, devices["approved"]["device_code"])["expires_at"]
    assert write(backend, "UPDATE grants SET expires_at = ? WHERE id = ?", (expired_at + kept, approved["grant_id"])) == 1
    for device in devices.values():
        assert_oauth_error(poll(backend.server, tv, device["device_code"]), "expired_token")
    after_a_purge(backend)
    answers = {name: poll(backend.server, tv, device["device_code"]).json().get("error") for name, device in devices.items()}
    assert answers == dict.fromkeys(devices, "expired_token"), (
        f"after the server's purge: {answers}; did the approved request's row go with its grant "
        f"(device_authorizations.grant_id ON DELETE CASCADE)?")
