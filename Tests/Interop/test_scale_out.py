"""Scale-out on PostgreSQL: two `warden serve` processes (A and B, different ports, the same
issuer) on one PostgreSQL database, driven from outside like a load balancer spreading
requests over them, plus the CLI changing things beside them.

What must hold: anything one instance or the CLI did is seen by the other at once (clients,
revocations, passwords, grants, browser sessions and their CSRF state, login failure counts),
new signing keys within 2 seconds (the maintenance reload), single-use codes and refresh tokens
stay single-use when the copies race through both instances, and an installation moves from
SQLite to PostgreSQL with `warden export` / `warden import`.

The cluster is $WARDEN_TEST_POSTGRES_URL, else one started for the session (conftest.py);
every test has a fresh database of its own.
"""

from __future__ import annotations

import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urljoin, urlsplit

import pytest
import requests

from interop import (
    headless_chromium,
    LOGIN_ERROR,
    PRELOGIN_COOKIE,
    SESSION_COOKIE,
    Client,
    Page,
    RedirectCatcher,
    Server,
    User,
    UserAgent,
    Warden,
    assert_html_page,
    assert_oauth_error,
    assert_redirect_to,
    authorization_params,
    finish,
    jwt_claims_unverified,
    jwt_header,
    obtain_code,
    pkce_pair,
    stderr_lines,
    tokens_for,
    verify_with_joserfc,
    verify_with_pyjwt,
    wait_until,
)
from postgres import database_snapshot, tables

API = "https://api.example.com"
CC_SCOPE = "invoices:read invoices:write"
REDIRECT = "http://127.0.0.1:8765/callback"
SCOPE = "profile email offline_access"
#: The interface: each instance checks the signing-key counter every 0.25 s (README,
#: Scale-out); the rest is margin for a loaded CI machine.
KEY_PROPAGATION_SECONDS = 1.0
#: Copies of one code or refresh token raced through both instances.
RACERS = 20


# -- fixtures ----------------------------------------------------------------------------------


@dataclass
class Pair:
    """One installation on PostgreSQL with two servers, A and B, sharing A's issuer."""

    warden: Warden
    a: Server
    b: Server

    @property
    def both(self) -> tuple[Server, Server]:
        return (self.a, self.b)

    def name(self, server: Server) -> str:
        return "A" if server is self.a else "B"

    def jwks_uri(self, server: Server) -> str:
        return server.url("/.well-known/jwks.json")


@pytest.fixture
def make_pair(postgres_url, tmp_path):
    """Makes the pair (optionally with a config); its servers are stopped and checked at the end."""
    installations: list[Warden] = []

    def make(config: dict | None = None) -> Pair:
        installation = Warden(tmp_path / f"warden{len(installations)}", config=config, database_url=postgres_url)
        installations.append(installation)
        a = installation.start_server()
        b = installation.start_server(issuer=a.issuer)
        # Really on PostgreSQL: the schema is there, and no SQLite file was made.
        assert tables(postgres_url), "the servers started, yet the PostgreSQL database has no tables"
        assert not installation.database.exists(), f"a SQLite file appeared: {installation.database}"
        return Pair(installation, a, b)

    yield make
    for installation in installations:
        finish(installation)


@pytest.fixture
def pair(make_pair) -> Pair:
    return make_pair()


@pytest.fixture
def cc(pair) -> Client:
    """A backend client (client credentials, client_secret_basic)."""
    return pair.warden.create_client(name="backend", scope=CC_SCOPE, audiences=(API,))


@pytest.fixture
def rs(pair) -> Client:
    """A resource server: a confidential client that introspects."""
    return pair.warden.create_client(name="resource-server", scope="", audiences=(), auth_method="client_secret_post")


@pytest.fixture
def spa(pair) -> Client:
    """A public code-flow client that skips consent."""
    return pair.warden.create_code_client("spa", (REDIRECT,), SCOPE, extra=("--skip-consent",))


@pytest.fixture
def alice(pair) -> User:
    return pair.warden.create_user("alice")


# -- helpers -------------------------------------------------------------------------------------


def assert_active_at(pair: Pair, rs: Client, token: str, active: bool, servers: tuple[Server, ...] | None = None):
    for server in servers or pair.both:
        assert server.is_active(rs, token) is active, (
            f"token introspects {'inactive' if active else 'active'} at {pair.name(server)}, expected active={active}")


def login_attempt(server: Server, client: Client, username: str, password: str) -> requests.Response:
    """A fresh browser at `server`'s login page, posting the form to the same server."""
    agent = UserAgent(server)
    response = agent.authorize(authorization_params(client, REDIRECT, challenge=pkce_pair()[1]))
    assert assert_html_page(response, 200).is_login
    return agent.login(response, username, password)


def assert_login_refused(response: requests.Response, where: str):
    assert response.status_code == 200, f"{where}: expected the login page again, got {response.status_code}"
    assert Page.parse(response.text).alerts == [LOGIN_ERROR], f"{where}: {Page.parse(response.text).alerts}"


def assert_login_accepted(response: requests.Response, where: str):
    assert response.status_code == 303, f"{where}: login refused ({response.status_code}): {response.text[:200]!r}"
    assert urlsplit(response.headers["Location"]).path == "/authorize", response.headers["Location"]


def race(calls: list) -> list:
    """Runs the calls in threads released together by a barrier; returns their results in order
    (an exception counts as a result)."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index: int):
        barrier.wait(timeout=30)
        try:
            results[index] = calls[index]()
        except Exception as error:  # noqa: BLE001 -- reported by the caller
            results[index] = error

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert not any(thread.is_alive() for thread in threads), "a racing request did not finish within 90 s"
    return results


def assert_single_winner(results: list, pair: Pair, what: str) -> dict:
    """Exactly one 200; every other answer is 400 invalid_grant. Returns the winner's body."""
    errors = [result for result in results if isinstance(result, Exception)]
    assert not errors, f"{what}: requests failed: {errors[:3]}"
    statuses = [result.status_code for result in results]
    winners = [result for result in results if result.status_code == 200]
    assert len(winners) == 1, f"{what}: {len(winners)} of {len(results)} succeeded (statuses {statuses})"
    for result in results:
        if result.status_code != 200:
            assert_oauth_error(result, "invalid_grant", status=400)
    return winners[0].json()


def published_kid(stdout: str) -> str:
    match = re.search(r"published key (\S+) ", stdout)
    assert match, f"`keys rotate` did not name the new key: {stdout!r}"
    return match.group(1)


# -- tokens, refresh, clients, revocation ---------------------------------------------------------


def test_two_instances_start_at_once_on_an_empty_database(postgres_url, tmp_path):
    """Both migrate the same empty database at the same moment (the advisory lock serialises them)."""
    installation = Warden(tmp_path / "at-once", database_url=postgres_url)
    try:
        with ThreadPoolExecutor(2) as pool:
            a, b = pool.map(lambda _: installation.start_server(), range(2))
        client = installation.create_client(name="backend", scope=CC_SCOPE, audiences=(API,))
        for server in (a, b):
            assert server.healthy()
            assert server.token(client).status_code == 200
        status = installation.run("migrate", "--status")
        assert status.returncode == 0 and status.stdout.strip()
    finally:
        finish(installation)


def test_token_minted_at_a_verifies_and_introspects_active_at_b(pair, cc, rs, spa, alice):
    a, b = pair.both
    user_tokens = tokens_for(a, spa, alice, REDIRECT, scope="profile")
    for token, audience, sub in ((a.access_token(cc), API, cc.client_id), (user_tokens["access_token"], a.issuer, alice.id)):
        kid = jwt_header(token)["kid"]
        assert kid in b.jwks_kids(), f"B does not publish A's signing key {kid}"
        claims = verify_with_pyjwt(token, pair.jwks_uri(b), issuer=a.issuer, audience=audience)
        _, jose_claims = verify_with_joserfc(token, b.jwks(), issuer=a.issuer, audience=audience)
        assert claims == jose_claims and claims["sub"] == sub
        introspection = b.introspect(rs, token)
        assert introspection.status_code == 200, introspection.text
        body = introspection.json()
        assert body["active"] is True, f"B does not know A's token: {body}"
        assert body["jti"] == claims["jti"] and body["sub"] == sub and body["iss"] == a.issuer


def test_refresh_token_rotated_at_a_then_replayed_at_b_revokes_the_grant(pair, rs, spa, alice):
    a, b = pair.both
    first = tokens_for(a, spa, alice, REDIRECT, scope="profile")
    rotated = a.refresh(spa, first["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert_active_at(pair, rs, second["access_token"], True)  # both instances know the live grant
    # The old refresh token, replayed at the other instance: refused, and the grant dies.
    assert_oauth_error(b.refresh(spa, first["refresh_token"]), "invalid_grant")
    assert_oauth_error(a.refresh(spa, second["refresh_token"]), "invalid_grant")
    assert_oauth_error(b.refresh(spa, second["refresh_token"]), "invalid_grant")
    for token in (first["access_token"], second["access_token"]):
        assert_active_at(pair, rs, token, False)


def test_client_created_by_the_cli_is_usable_at_once_at_both_instances(pair, cc, rs):
    for server in pair.both:  # both have loaded their clients already
        assert server.token(cc).status_code == 200
    client = pair.warden.create_client(name="newcomer", scope=CC_SCOPE, audiences=(API,))
    # No waiting: on PostgreSQL a client change shows at once everywhere.
    tokens = {}
    for server in pair.both:
        response = server.token(client)
        assert response.status_code == 200, f"new client refused at {pair.name(server)}: {response.text}"
        tokens[pair.name(server)] = response.json()["access_token"]
    assert_active_at(pair, rs, tokens["A"], True)
    assert_active_at(pair, rs, tokens["B"], True)


def test_client_deleted_by_the_cli_is_refused_at_once_at_both_instances_and_its_tokens_die(pair, rs):
    client = pair.warden.create_client(name="doomed", scope=CC_SCOPE, audiences=(API,))
    tokens = [server.access_token(client) for server in pair.both]
    for token in tokens:  # introspected once while live: both may cache the answer
        assert_active_at(pair, rs, token, True)
    pair.warden.run("clients", "delete", positional=(client.client_id,))
    for server in pair.both:
        assert_oauth_error(server.token(client), "invalid_client", status=401)
    for token in tokens:
        assert_active_at(pair, rs, token, False)


def test_access_token_revoked_at_a_is_inactive_at_b_immediately(pair, cc, rs):
    a, b = pair.both
    token = b.access_token(cc)
    assert_active_at(pair, rs, token, True)  # B has seen it live
    response = a.revoke(cc, token)
    assert response.status_code == 200, response.text
    assert b.is_active(rs, token) is False, "B still reports a token revoked at A as active"
    assert a.is_active(rs, token) is False


# -- keys and users changed by the CLI --------------------------------------------------------------


def test_keys_rotate_now_reaches_both_instances_within_a_second(pair, cc, rs):
    old_kid = pair.warden.signing_kid()
    before = {pair.name(server): server.access_token(cc) for server in pair.both}
    for token in before.values():
        assert jwt_header(token)["kid"] == old_kid
    result = pair.warden.run("keys", "rotate", "--now")
    rotated_at = time.monotonic()
    new_kid = published_kid(result.stdout)
    assert new_kid != old_kid
    # Poll both until each publishes the new kid and signs with it; note when.
    reached: dict[str, float] = {}
    latest: dict[str, str] = {}
    while len(reached) < 2:
        for server in pair.both:
            name = pair.name(server)
            if name in reached:
                continue
            published = new_kid in server.jwks_kids()
            token = server.access_token(cc)
            latest[name] = jwt_header(token)["kid"]
            if latest[name] == new_kid:
                # The other instance may not have loaded the key yet: it must load it now, not fail.
                other = pair.b if server is pair.a else pair.a
                assert other.is_active(rs, token) is True, f"{name}'s first token with the new key is inactive at the other"
            if published and latest[name] == new_kid:
                reached[name] = time.monotonic() - rotated_at
        elapsed = time.monotonic() - rotated_at
        assert len(reached) == 2 or elapsed <= KEY_PROPAGATION_SECONDS, (
            f"{elapsed:.2f}s after `keys rotate --now`: reached {reached}, latest kids signed {latest}, new {new_kid}")
        time.sleep(0.05)
    print(f"key propagation: {reached}")
    # Tokens signed by either with the new key verify at the other; so do the older ones.
    after = {pair.name(server): server.access_token(cc) for server in pair.both}
    for name, token in after.items():
        assert jwt_header(token)["kid"] == new_kid, (name, jwt_header(token))
    for signer, verifier in ((pair.a, pair.b), (pair.b, pair.a)):
        for token in (after[pair.name(signer)], before[pair.name(signer)]):
            claims = verify_with_pyjwt(token, pair.jwks_uri(verifier), issuer=pair.a.issuer, audience=API)
            _, jose_claims = verify_with_joserfc(token, verifier.jwks(), issuer=pair.a.issuer, audience=API)
            assert claims == jose_claims
            assert verifier.is_active(rs, token) is True


def test_password_changed_by_the_cli_takes_effect_at_both_instances_at_once(pair, spa, alice):
    for server in pair.both:  # the old password works everywhere first
        assert_login_accepted(login_attempt(server, spa, alice.username, alice.password), pair.name(server))
    new_password = "changed-" + alice.password
    result = pair.warden.run("users", "set-password", alice.username, "--password-stdin", input=new_password + "\n")
    assert result.returncode == 0
    for server in pair.both:
        where = pair.name(server)
        assert_login_refused(login_attempt(server, spa, alice.username, alice.password), f"old password at {where}")
        assert_login_accepted(login_attempt(server, spa, alice.username, new_password), f"new password at {where}")


# -- the browser's session across instances -------------------------------------------------------


def test_login_session_and_csrf_state_follow_the_browser_across_instances(pair, rs, alice):
    """One cookie jar (cookies are per host, not port: A and B share them); /authorize at A,
    the login form posted to B, the consent page from B posted to A, the code redeemed at B."""
    a, b = pair.both
    client = pair.warden.create_code_client("roaming", (REDIRECT,), SCOPE)  # asks for consent
    browser = requests.Session()
    verifier, challenge = pkce_pair()
    params = authorization_params(client, REDIRECT, scope="profile email", challenge=challenge)

    login = browser.get(a.url("/authorize?" + urlencode(params)), allow_redirects=False, timeout=30)
    login_form = assert_html_page(login, 200).form("/login")
    assert browser.cookies.get(PRELOGIN_COOKIE), "A set no pre-login cookie"
    assert not browser.cookies.get(SESSION_COOKIE), "A stored a session before sign-in"
    # Control: B checks the CSRF state (signed with a key every instance derives), it does not just accept any form.
    forged = requests.post(b.url("/login"), data=dict(login_form.hidden(), username=alice.username, password=alice.password),
                           allow_redirects=False, timeout=30)
    assert forged.status_code == 403, f"B accepted a login form without the session: {forged.status_code}"

    signed_in = browser.post(b.url("/login"), data=dict(login_form.hidden(), username=alice.username, password=alice.password),
                             allow_redirects=False, timeout=30)
    assert_login_accepted(signed_in, "login page of A posted to B")
    consent = browser.get(urljoin(b.url("/login"), signed_in.headers["Location"]), allow_redirects=False, timeout=30)
    consent_page = assert_html_page(consent, 200)
    assert consent_page.is_consent, f"B did not see the session signed in: {consent_page.h1!r} {consent_page.alerts}"

    allowed = browser.post(a.url("/consent"), data=dict(consent_page.form("/consent").hidden(), decision="allow"),
                           allow_redirects=False, timeout=30)
    result = assert_redirect_to(allowed, REDIRECT, status=303)
    assert result.get("state") == params["state"] and result.get("iss") == a.issuer, result
    assert "code" in result, result

    redeemed = b.code_token(client, result["code"], redirect_uri=REDIRECT, code_verifier=verifier)
    assert redeemed.status_code == 200, redeemed.text
    token = redeemed.json()["access_token"]
    claims = verify_with_pyjwt(token, pair.jwks_uri(a), issuer=a.issuer, audience=a.issuer)
    assert claims["sub"] == alice.id and claims["client_id"] == client.client_id and claims["scope"] == "profile email"
    assert_active_at(pair, rs, token, True)
    # The consent was remembered for both: a new authorization at B goes straight back to the app.
    again = browser.get(b.url("/authorize?" + urlencode(authorization_params(client, REDIRECT, scope="profile", challenge=challenge))),
                        allow_redirects=False, timeout=30)
    assert "code" in assert_redirect_to(again, REDIRECT, status=302)


def test_login_failures_are_counted_across_instances(make_pair):
    pair = make_pair({"login_failures_per_account": 4})
    spa = pair.warden.create_code_client("spa", (REDIRECT,), SCOPE, extra=("--skip-consent",))
    ivy, jack = pair.warden.create_user("ivy"), pair.warden.create_user("jack")
    for attempt in range(4):
        server = pair.both[attempt % 2]
        assert_login_refused(login_attempt(server, spa, ivy.username, "wrong"), f"failure {attempt + 1} at {pair.name(server)}")
    for server in pair.both:
        response = login_attempt(server, spa, ivy.username, ivy.password)
        where = pair.name(server)
        assert response.status_code == 429, (
            f"after 4 failures spread over A and B, {where} answered {response.status_code} to the right password")
        retry_after = response.headers.get("Retry-After", "")
        assert retry_after.isdigit() and 1 <= int(retry_after) <= 60, f"{where}: Retry-After {retry_after!r}"
        assert SESSION_COOKIE not in response.headers.get("Set-Cookie", ""), f"{where}: a refused login logged in"
    # Per account, not per instance or address: another user still signs in at both.
    for server in pair.both:
        assert_login_accepted(login_attempt(server, spa, jack.username, jack.password), f"jack at {pair.name(server)}")


# -- races through both instances ---------------------------------------------------------------------


def test_one_code_redeemed_20_times_at_once_across_instances_has_one_winner(pair, rs, spa, alice):
    agent = UserAgent(pair.a)
    code, verifier = obtain_code(agent, spa, alice, REDIRECT)
    calls = [
        (lambda server=pair.both[index % 2]: server.code_token(spa, code, redirect_uri=REDIRECT, code_verifier=verifier))
        for index in range(RACERS)
    ]
    body = assert_single_winner(race(calls), pair, "code redemption")
    # The other 19 were reuses of a redeemed code: what it issued is revoked (README, /token).
    assert_active_at(pair, rs, body["access_token"], False)


def test_one_refresh_token_used_20_times_at_once_across_instances_rotates_once(pair, rs, spa, alice):
    tokens = tokens_for(pair.a, spa, alice, REDIRECT, scope="profile")
    calls = [
        (lambda server=pair.both[index % 2]: server.refresh(spa, tokens["refresh_token"]))
        for index in range(RACERS)
    ]
    body = assert_single_winner(race(calls), pair, "refresh rotation")
    assert body["refresh_token"] != tokens["refresh_token"]
    # The others replayed a rotated token: the whole grant is revoked, the winner's successor too.
    for server in pair.both:
        assert_oauth_error(server.refresh(spa, body["refresh_token"]), "invalid_grant")
    assert_active_at(pair, rs, body["access_token"], False)


# -- a real browser alternating between instances ---------------------------------------------------


@pytest.fixture(scope="module")
def chromium():
    browser = headless_chromium()
    yield browser
    browser.quit()


@pytest.fixture
def catcher():
    listener = RedirectCatcher()
    yield listener
    listener.close()


def test_browser_flow_in_chromium_alternating_between_instances(pair, rs, alice, chromium, catcher):
    """Chromium starts at A's /authorize, posts the login form to B (its action rewritten),
    gets the consent page from B and posts it to A; Authlib redeems the code at B."""
    from authlib.common.security import generate_token
    from authlib.integrations.requests_client import OAuth2Session
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    a, b = pair.both
    client = pair.warden.create_code_client("Roaming App", (catcher.redirect_uri,), SCOPE)
    session = OAuth2Session(client.client_id, token_endpoint_auth_method="none", redirect_uri=catcher.redirect_uri,
                            scope=SCOPE, code_challenge_method="S256")
    verifier = generate_token(48)
    url, state = session.create_authorization_url(a.url("/authorize"), code_verifier=verifier)
    browser = chromium
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
    wait = WebDriverWait(browser, 15, ignored_exceptions=(WebDriverException,))

    browser.get(url)
    assert browser.current_url.startswith(a.base_url + "/"), browser.current_url
    assert browser.find_elements(By.CSS_SELECTOR, "form[action='/login']"), "A did not show the login page"
    browser.find_element(By.ID, "username").send_keys(alice.username)
    browser.find_element(By.ID, "password").send_keys(alice.password)
    browser.execute_script("document.querySelector(\"form[action='/login']\").action = arguments[0]", b.url("/login"))
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()

    # B signs in and redirects to its own /authorize, which shows the consent page.
    wait.until(lambda d: d.current_url.startswith(b.base_url + "/authorize")
               and d.find_elements(By.CSS_SELECTOR, "form[action='/consent']"))
    browser.execute_script("document.querySelector(\"form[action='/consent']\").action = arguments[0]", a.url("/consent"))
    browser.find_element(By.CSS_SELECTOR, "button[name=decision][value=allow]").click()

    wait.until(lambda d: d.current_url.startswith(catcher.redirect_uri))
    query = catcher.wait()["query"]
    assert query.get("state") == state and query.get("iss") == a.issuer and "error" not in query, query
    token = session.fetch_token(b.url("/token"), authorization_response=browser.current_url, code_verifier=verifier)
    assert token["scope"] == SCOPE and token.get("refresh_token")
    access = token["access_token"]
    claims = verify_with_pyjwt(access, pair.jwks_uri(a), issuer=a.issuer, audience=a.issuer)
    _, jose_claims = verify_with_joserfc(access, b.jwks(), issuer=a.issuer, audience=a.issuer)
    assert claims == jose_claims and claims["sub"] == alice.id and claims["client_id"] == client.client_id
    assert_active_at(pair, rs, access, True)
    renewed = session.refresh_token(a.url("/token"), refresh_token=token["refresh_token"])
    assert renewed["refresh_token"] != token["refresh_token"]


# -- moving from SQLite to PostgreSQL -----------------------------------------------------------------


@pytest.fixture
def moving(postgres_url, tmp_path):
    """A SQLite installation, to be moved to the test's PostgreSQL database."""
    installation = Warden(tmp_path / "moving")
    yield installation
    finish(installation)


def export(installation: Warden, path: Path) -> list[dict]:
    result = installation.run("export", positional=(str(path),))
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    assert lines, "the export is empty"
    records = [json.loads(line) for line in lines]  # JSON lines: one object per line
    assert all(isinstance(record, dict) for record in records)
    return records


def test_move_from_sqlite_to_postgres_with_export_and_import(moving, postgres_url, tmp_path):
    installation = moving
    server = installation.start_server()
    issuer = server.issuer
    cc = installation.create_client(name="backend", scope=CC_SCOPE, audiences=(API,))
    rs = installation.create_client(name="resource-server", scope="", audiences=(), auth_method="client_secret_post")
    spa = installation.create_code_client("spa", (REDIRECT,), SCOPE, extra=("--skip-consent",))
    user = installation.create_user("mover")
    wait_until(lambda: server.token(cc).status_code == 200, message="the client did not reach the SQLite server")
    old_key_token = server.access_token(cc)
    new_kid = installation.rotate(now=True)
    wait_until(lambda: jwt_header(server.access_token(cc))["kid"] == new_kid, message="the rotated key does not sign")
    new_key_token = server.access_token(cc)
    user_tokens = tokens_for(server, spa, user, REDIRECT, scope="profile")
    assert server.stop() == 0

    dump = tmp_path / "warden.jsonl"
    export(installation, dump)
    text = dump.read_text()
    for secret, what in ((cc.client_secret, "a client secret"), (rs.client_secret, "a client secret"),
                         (user.password, "a password"), (user_tokens["refresh_token"], "a refresh token"),
                         (installation.kek_file.read_text().strip(), "the key-encryption key")):
        assert secret not in text, f"the export holds {what} in clear"

    installation.database_url = postgres_url
    imported = installation.run("import", positional=(str(dump),))
    assert imported.returncode == 0 and not imported.stderr.strip(), imported.stderr
    # Round trip: PostgreSQL exports exactly what SQLite did, and so does a new SQLite file
    # that imports it back.
    from_postgres = tmp_path / "from-postgres.jsonl"
    export(installation, from_postgres)
    assert from_postgres.read_bytes() == dump.read_bytes()
    back = str(tmp_path / "back" / "warden.sqlite")
    for command, file in (("import", from_postgres), ("export", tmp_path / "from-sqlite-again.jsonl")):
        result = installation.run(command, "--database", back, database=False, positional=(str(file),))
        assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    assert (tmp_path / "from-sqlite-again.jsonl").read_bytes() == dump.read_bytes()
    moved = installation.start_server(issuer=issuer)

    # The client authenticates with its old secret; tokens are signed with the moved key.
    token = moved.access_token(cc)
    assert jwt_header(token)["kid"] == new_kid
    # Tokens minted before the move verify against the new JWKS and introspect active.
    jwks = moved.jwks()
    for before, audience in ((old_key_token, API), (new_key_token, API), (user_tokens["access_token"], issuer)):
        claims = verify_with_pyjwt(before, moved.url("/.well-known/jwks.json"), issuer=issuer, audience=audience)
        _, jose_claims = verify_with_joserfc(before, jwks, issuer=issuer, audience=audience)
        assert claims == jose_claims == jwt_claims_unverified(before)
        assert moved.is_active(rs, before) is True, f"a token from before the move is inactive: {claims}"
    # The user signs in with their password.
    assert tokens_for(moved, spa, user, REDIRECT, scope="profile")["access_token"]
    # The refresh token from before the move works exactly once.
    first = moved.refresh(spa, user_tokens["refresh_token"])
    assert first.status_code == 200, first.text
    assert_oauth_error(moved.refresh(spa, user_tokens["refresh_token"]), "invalid_grant")


def test_import_into_a_non_empty_database_is_refused_and_changes_nothing(moving, postgres_url, postgres, tmp_path):
    installation = moving
    installation.create_client(name="backend", scope=CC_SCOPE, audiences=(API,))
    installation.create_user("mover")
    dump = tmp_path / "warden.jsonl"
    export(installation, dump)

    def refused(url: str, why: str):
        installation.database_url = url
        snapshot = database_snapshot(url)
        result = installation.run("import", positional=(str(dump),), check=False)
        lines = stderr_lines(result.stderr)
        assert result.returncode != 0, f"import into {why} succeeded: {result.stdout!r}"
        assert len(lines) == 1 and "Traceback" not in result.stderr, f"not one line on stderr: {lines!r}"
        assert database_snapshot(url) == snapshot, f"a refused import into {why} changed the database"

    # Imported once into the fresh database: a second import is refused.
    installation.database_url = postgres_url
    first = installation.run("import", positional=(str(dump),))
    assert first.returncode == 0
    refused(postgres_url, "a database already imported into")

    # A database the CLI put one client in.
    other = postgres.create_database()
    try:
        elsewhere = Warden(tmp_path / "elsewhere", database_url=other)
        elsewhere.create_client(name="resident", scope=CC_SCOPE, audiences=(API,))
        refused(other, "a database holding a client")
    finally:
        postgres.drop_database(other)

