"""OPERATIONS.md, metrics: `metrics_address` (flag `--metrics-address`, env
`WARDEN_METRICS_ADDRESS`, default off) opens a second listener whose `GET /metrics` serves
the Prometheus text format 0.0.4; the public port never serves it. Every scrape is parsed
with prometheus_client's parser and checked (documented types, one TYPE line per family,
cumulative histogram buckets ending in `_count`).

The tests share one installation whose server has metrics on, and small failure limits
(2 per client, 2 per account) so that the 429s are reached in a few requests. Each test reads
the series before and after what it does and asserts the exact change of every series of the
names it checks (so the order of the tests does not matter). Hummingbird counts a request
once its response is written, so "after" is polled for a few seconds until it settles.
"""

from __future__ import annotations

import math
import os
import re
import secrets
import socket
import time
import uuid
from collections import Counter
from dataclasses import dataclass

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from interop import (
    PROPAGATION_SECONDS,
    Client,
    Server,
    UserAgent,
    Warden,
    assert_oauth_error,
    assert_one_line_failure,
    authorization_params,
    finish,
    free_port,
    obtain_code,
    pkce_pair,
    read_raw_response,
    wait_until,
)

REDIRECT = "http://127.0.0.1:8765/callback"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Failed client authentications per client, and failed logins per account, before a 429.
LIMIT = 2
ALGORITHMS = {"ES256", "RS256", "EdDSA"}
KEY_STATES = {"pending", "signing", "verifying", "retired"}
#: The documented families and their types (prometheus_client names a counter's family
#: without its `_total`).
TYPES = {
    "warden_http_requests": "counter",
    "warden_http_request_duration_seconds": "histogram",
    "warden_http_request_errors": "counter",
    "warden_tokens_issued": "counter",
    "warden_token_errors": "counter",
    "warden_client_authentication_failures": "counter",
    "warden_refresh_token_reuse_detected": "counter",
    "warden_code_reuse_detected": "counter",
    "warden_logins": "counter",
    "warden_rate_limited": "counter",
    "warden_introspections": "counter",
    "warden_database_commit_duration_seconds": "histogram",
    "warden_database_commit_batch_size": "histogram",
    "warden_signing_keys": "gauge",
    "warden_build_info": "gauge",
}
REQUESTS = "warden_http_requests_total"
DURATION_COUNT = "warden_http_request_duration_seconds_count"
ISSUED = "warden_tokens_issued_total"
TOKEN_ERRORS = "warden_token_errors_total"
AUTH_FAILURES = "warden_client_authentication_failures_total"
LOGINS = "warden_logins_total"
RATE_LIMITED = "warden_rate_limited_total"
INTROSPECTIONS = "warden_introspections_total"
SIGNING_KEYS = "warden_signing_keys"


def L(**labels: str) -> tuple:
    """A label set, as `changes` keys it."""
    return tuple(sorted(labels.items()))


# -- scraping ---------------------------------------------------------------------------------


class Scrape:
    """One parsed /metrics page: sample name -> {label set -> value}."""

    def __init__(self, text: str):
        self.text = text
        type_lines = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]
        duplicates = [name for name, count in Counter(type_lines).items() if count > 1]
        assert not duplicates, f"families declared more than once: {duplicates}"
        self.types: dict[str, str] = {}
        self.samples: dict[str, dict[tuple, float]] = {}
        for family in text_string_to_metric_families(text):
            self.types[family.name] = family.type
            for sample in family.samples:
                series = self.samples.setdefault(sample.name, {})
                key = L(**sample.labels)
                assert key not in series, f"{sample.name}{dict(key)} appears twice"
                series[key] = sample.value
        self.check()

    def series(self, name: str) -> dict[tuple, float]:
        return self.samples.get(name, {})

    def value(self, name: str, **labels: str) -> float:
        """A series' value; one not exported (yet) is 0, as Prometheus reads an absent counter."""
        return self.series(name).get(L(**labels), 0.0)

    def has(self, name: str, **labels: str) -> bool:
        return L(**labels) in self.series(name)

    def total(self, name: str) -> float:
        return sum(self.series(name).values())

    def label_values(self) -> set[str]:
        return {value for series in self.samples.values() for key in series for _, value in key}

    def check(self) -> None:
        """Documented types; histograms well formed."""
        for family, kind in TYPES.items():
            if family in self.types:
                assert self.types[family] == kind, f"{family} is a {self.types[family]}, not a {kind}"
        for family, kind in self.types.items():
            if kind != "histogram":
                continue
            buckets: dict[tuple, list[tuple[float, float]]] = {}
            for key, value in self.series(family + "_bucket").items():
                labels = dict(key)
                le = labels.pop("le")
                buckets.setdefault(L(**labels), []).append((float(le), value))
            assert buckets, f"histogram {family} without buckets"
            for key, points in buckets.items():
                points.sort()
                counts = [count for _, count in points]
                assert counts == sorted(counts), f"{family}{dict(key)}: buckets not cumulative: {points}"
                assert points[-1][0] == math.inf, f"{family}{dict(key)}: no +Inf bucket"
                assert self.series(family + "_count").get(key) == points[-1][1], f"{family}{dict(key)}: +Inf bucket != _count"
                assert self.series(family + "_sum").get(key, -1) >= 0, f"{family}{dict(key)}: no _sum or a negative one"


def changes(before: Scrape, after: Scrape, name: str) -> dict[tuple, float]:
    """Every series of `name` whose value changed, with its change."""
    keys = set(before.series(name)) | set(after.series(name))
    deltas = {key: after.series(name).get(key, 0.0) - before.series(name).get(key, 0.0) for key in keys}
    return {key: delta for key, delta in deltas.items() if delta != 0}


@dataclass
class Metrics:
    address: str

    @property
    def url(self) -> str:
        return f"http://{self.address}/metrics"

    def scrape(self) -> Scrape:
        response = requests.get(self.url, timeout=10)
        assert response.status_code == 200, response.text[:300]
        assert response.headers.get("Content-Type") == CONTENT_TYPE, dict(response.headers)
        return Scrape(response.text)

    def at_rest(self) -> Scrape:
        """A scrape before the next action (a request is counted before its response is sent,
        so every request answered so far is in it)."""
        return self.scrape()

    def expect(self, before: Scrape, expected: dict[str, dict[tuple, float]], timeout: float = 5.0) -> Scrape:
        """Waits until every series named in `expected` changed since `before` by exactly the
        given amounts (and no other series of those names changed); checks it stays so."""
        deadline = time.monotonic() + timeout
        while True:
            now = self.scrape()
            actual = {name: changes(before, now, name) for name in expected}
            if actual == expected:
                break
            if time.monotonic() >= deadline:
                assert actual == expected, f"changes since the first scrape: {actual}\nexpected: {expected}"
            time.sleep(0.03)
        time.sleep(0.1)
        now = self.scrape()
        actual = {name: changes(before, now, name) for name in expected}
        assert actual == expected, f"changes went on past the expected ones: {actual}\nexpected: {expected}"
        return now


def listening_ports(pid: int) -> set[int]:
    """The TCP ports process `pid` listens on (from /proc: its sockets' inodes)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        match = re.fullmatch(r"socket:\[(\d+)\]", target)
        if match:
            inodes.add(match.group(1))
    ports = set()
    for table in ("tcp", "tcp6"):
        path = f"/proc/{pid}/net/{table}"
        if not os.path.exists(path):
            continue
        with open(path) as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def metrics_lines(server: Server) -> list[str]:
    return [line for line in server.stdout().splitlines() if "Metrics listening" in line]


# -- the shared installation ------------------------------------------------------------------


@dataclass
class Metered:
    warden: Warden
    server: Server
    metrics: Metrics
    spa: Client
    cc: Client
    introspector: Client

    def new_client(self, auth_method: str = "client_secret_basic") -> Client:
        return self.warden.create_client(
            name="m-" + secrets.token_hex(3), scope="read", audiences=("https://api.example.com",), auth_method=auth_method
        )

    def new_user(self):
        return self.warden.create_user("u-" + secrets.token_hex(4))

    def login_page(self) -> tuple[UserAgent, requests.Response]:
        agent = UserAgent(self.server)
        response = agent.authorize(authorization_params(self.spa, REDIRECT, scope="openid", challenge=pkce_pair()[1]))
        assert response.status_code == 200, response.text[:300]
        return agent, response

    def code_tokens(self, agent: UserAgent, user, scope: str) -> dict:
        code, verifier = obtain_code(agent, self.spa, user, REDIRECT, scope=scope)
        response = self.server.code_token(self.spa, code, redirect_uri=REDIRECT, code_verifier=verifier)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="module")
def metered(tmp_path_factory):
    installation = Warden(tmp_path_factory.mktemp("metrics"), config={
        "client_authentication_failures_per_client": LIMIT,
        "client_authentication_failures_per_address": 1_000_000,
        "login_failures_per_account": LIMIT,
        "login_failures_per_address": 1_000_000,
    })
    address = f"127.0.0.1:{free_port()}"
    server = installation.start_server(extra=("--metrics-address", address))
    spa = installation.create_code_client(
        "spa", (REDIRECT,), "openid profile email offline_access", extra=("--skip-consent",)
    )
    cc = installation.create_client(name="cc", scope="read", audiences=("https://api.example.com",))
    introspector = installation.create_client(name="rs", scope="", audiences=(), auth_method="client_secret_post")
    wait_until(lambda: server.token(cc).status_code == 200, message="new client not usable")
    yield Metered(installation, server, Metrics(address), spa, cc, introspector)
    finish(installation)


# -- the endpoint -----------------------------------------------------------------------------


def test_metrics_listener_serves_prometheus_text_0_0_4(metered):
    assert metrics_lines(metered.server) and metrics_lines(metered.server)[-1].endswith(
        f"Metrics listening on {metered.metrics.url}"
    ), metered.server.stdout()
    response = requests.get(metered.metrics.url, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == CONTENT_TYPE
    scrape = Scrape(response.text)
    for family in ("warden_http_requests", "warden_http_request_duration_seconds",
                   "warden_refresh_token_reuse_detected", "warden_code_reuse_detected",
                   "warden_database_commit_duration_seconds", "warden_database_commit_batch_size",
                   "warden_signing_keys", "warden_build_info"):
        assert family in scrape.types, f"{family} missing from:\n{response.text}"
    assert listening_ports(metered.server.process.pid) == {metered.server.port, int(metered.metrics.address.split(":")[1])}


def test_scraping_is_not_itself_counted(metered):
    before = metered.metrics.at_rest()
    for _ in range(3):
        metered.metrics.scrape()
    after = metered.metrics.scrape()
    assert changes(before, after, REQUESTS) == {}
    assert changes(before, after, DURATION_COUNT) == {}
    assert "/metrics" not in {dict(key)["route"] for key in after.series(REQUESTS)}


@pytest.mark.parametrize("method, path", [("GET", "/metrics"), ("GET", "/metrics/"), ("HEAD", "/metrics")])
def test_the_public_port_never_serves_metrics(metered, method, path):
    before = metered.metrics.at_rest()
    response = requests.request(method, metered.server.url(path), timeout=10)
    assert response.status_code == 404, response.text[:300]
    assert "warden_" not in response.text
    metered.metrics.expect(before, {REQUESTS: {L(route="NotFound", method=method, status="404"): 1}})


def test_build_info_is_one_series_at_1(metered):
    scrape = metered.metrics.scrape()
    series = scrape.series("warden_build_info")
    assert len(series) == 1, series
    (key, value), = series.items()
    labels = dict(key)
    assert set(labels) == {"version"} and value == 1, series
    assert re.fullmatch(r"\d+\.\d+\.\d+([-+][0-9A-Za-z.+-]+)?", labels["version"]), labels


# -- HTTP ---------------------------------------------------------------------------------------


def test_requests_are_counted_and_timed_by_route_method_and_status(metered):
    before = metered.metrics.at_rest()
    for _ in range(3):
        assert requests.get(metered.server.url("/healthz"), timeout=10).status_code == 200
    assert requests.get(metered.server.url("/.well-known/jwks.json"), timeout=10).status_code == 200
    assert requests.get(metered.server.url("/token"), timeout=10).status_code == 405
    after = metered.metrics.expect(before, {
        REQUESTS: {
            L(route="/healthz", method="GET", status="200"): 3,
            L(route="/.well-known/jwks.json", method="GET", status="200"): 1,
            L(route="/token", method="GET", status="405"): 1,
        },
        DURATION_COUNT: {
            L(route="/healthz", method="GET"): 3,
            L(route="/.well-known/jwks.json", method="GET"): 1,
            L(route="/token", method="GET"): 1,
        },
    })
    inf = L(route="/healthz", method="GET", le="+Inf")
    assert after.value("warden_http_request_duration_seconds_bucket", **dict(inf)) - before.value(
        "warden_http_request_duration_seconds_bucket", **dict(inf)) == 3
    assert changes(before, after, "warden_http_request_duration_seconds_sum").get(L(route="/healthz", method="GET"), 0) > 0


def test_unmatched_paths_are_one_route_label_never_the_raw_path(metered):
    random = uuid.uuid4().hex
    before = metered.metrics.at_rest()
    for path in (f"/token/{random}", f"/random-path-{random}", f"/.well-known/{random}"):
        assert requests.get(metered.server.url(path), timeout=10).status_code == 404
    assert requests.post(metered.server.url(f"/random-path-{random}"), data={"a": "b"}, timeout=10).status_code == 404
    after = metered.metrics.expect(before, {
        REQUESTS: {L(route="NotFound", method="GET", status="404"): 3, L(route="NotFound", method="POST", status="404"): 1},
    })
    values = after.label_values()
    assert not [value for value in values if random in value or "random-path" in value], values
    routes = {dict(key)["route"] for key in after.series(REQUESTS)}
    assert all(route == "NotFound" or re.fullmatch(r"(/[A-Za-z0-9._:{}*-]+)+|/", route) for route in routes), routes


def test_every_request_is_timed_even_an_unmatched_one(metered):
    """The duration histogram counts what warden_http_requests_total counts, 404s included."""
    before = metered.metrics.at_rest()
    for _ in range(2):
        assert requests.get(metered.server.url(f"/nothing-here-{uuid.uuid4().hex}"), timeout=10).status_code == 404
    metered.metrics.expect(before, {
        REQUESTS: {L(route="NotFound", method="GET", status="404"): 2},
        DURATION_COUNT: {L(route="NotFound", method="GET"): 2},
    })


# -- tokens -------------------------------------------------------------------------------------


def test_client_credentials_issue_one_access_token(metered):
    before = metered.metrics.at_rest()
    metered.server.access_token(metered.cc)
    metered.metrics.expect(before, {
        ISSUED: {L(grant_type="client_credentials", token_type="access_token"): 1},
        TOKEN_ERRORS: {},
        REQUESTS: {L(route="/token", method="POST", status="200"): 1},
    })


def test_openid_code_flow_counts_the_login_and_issues_access_refresh_and_id_tokens(metered):
    user = metered.new_user()
    agent = UserAgent(metered.server)
    before = metered.metrics.at_rest()
    body = metered.code_tokens(agent, user, "openid profile offline_access")
    assert {"access_token", "refresh_token", "id_token"} <= set(body), body
    metered.metrics.expect(before, {
        ISSUED: {
            L(grant_type="authorization_code", token_type="access_token"): 1,
            L(grant_type="authorization_code", token_type="refresh_token"): 1,
            L(grant_type="authorization_code", token_type="id_token"): 1,
        },
        LOGINS: {L(result="success"): 1},
        REQUESTS: {
            L(route="/authorize", method="GET", status="200"): 1,  # the login page
            L(route="/login", method="POST", status="303"): 1,
            L(route="/authorize", method="GET", status="302"): 1,  # back with the code
            L(route="/token", method="POST", status="200"): 1,
        },
    })
    # Without openid, no ID token; signed in already, no login.
    before = metered.metrics.at_rest()
    body = metered.code_tokens(agent, user, "profile offline_access")
    assert "id_token" not in body, body
    metered.metrics.expect(before, {
        ISSUED: {
            L(grant_type="authorization_code", token_type="access_token"): 1,
            L(grant_type="authorization_code", token_type="refresh_token"): 1,
        },
        LOGINS: {},
    })


def test_refresh_issues_tokens_and_its_reuse_is_detected(metered):
    first = metered.code_tokens(UserAgent(metered.server), metered.new_user(), "profile offline_access")
    before = metered.metrics.at_rest()
    response = metered.server.refresh(metered.spa, first["refresh_token"])
    assert response.status_code == 200, response.text
    middle = metered.metrics.expect(before, {
        ISSUED: {
            L(grant_type="refresh_token", token_type="access_token"): 1,
            L(grant_type="refresh_token", token_type="refresh_token"): 1,
        },
        "warden_refresh_token_reuse_detected_total": {},
    })
    # The rotated-out refresh token again: reuse, the grant is revoked.
    assert_oauth_error(metered.server.refresh(metered.spa, first["refresh_token"]), "invalid_grant")
    metered.metrics.expect(middle, {
        "warden_refresh_token_reuse_detected_total": {L(): 1},
        "warden_code_reuse_detected_total": {},
        TOKEN_ERRORS: {L(endpoint="/token", error="invalid_grant"): 1},
        ISSUED: {},
    })


def test_code_reuse_is_detected(metered):
    agent = UserAgent(metered.server)
    code, verifier = obtain_code(agent, metered.spa, metered.new_user(), REDIRECT, scope="profile")
    assert metered.server.code_token(metered.spa, code, redirect_uri=REDIRECT, code_verifier=verifier).status_code == 200
    before = metered.metrics.at_rest()
    response = metered.server.code_token(metered.spa, code, redirect_uri=REDIRECT, code_verifier=verifier)
    assert_oauth_error(response, "invalid_grant")
    metered.metrics.expect(before, {
        "warden_code_reuse_detected_total": {L(): 1},
        "warden_refresh_token_reuse_detected_total": {},
        TOKEN_ERRORS: {L(endpoint="/token", error="invalid_grant"): 1},
        ISSUED: {},
    })


@pytest.mark.parametrize("case", ["unsupported_grant_type", "invalid_scope", "invalid_grant"])
def test_token_errors_are_counted_by_oauth_error_code(metered, case):
    if case == "invalid_grant":  # a refresh token nobody issued, from the public client
        kwargs = {"data": {"grant_type": "refresh_token", "client_id": metered.spa.client_id,
                           "refresh_token": secrets.token_urlsafe(32)}}
    else:
        kwargs = {"auth": metered.cc.basic, "data": {
            "unsupported_grant_type": {"grant_type": "urn:example:nothing"},
            "invalid_scope": {"grant_type": "client_credentials", "scope": "admin"},
        }[case]}
    before = metered.metrics.at_rest()
    response = requests.post(metered.server.url("/token"), timeout=10, **kwargs)
    assert_oauth_error(response, case)
    metered.metrics.expect(before, {TOKEN_ERRORS: {L(endpoint="/token", error=case): 1}, ISSUED: {}, AUTH_FAILURES: {}})


def test_userinfo_errors_are_counted_under_their_endpoint(metered):
    before = metered.metrics.at_rest()
    response = requests.get(metered.server.url("/userinfo"), headers={"Authorization": "Bearer " + secrets.token_urlsafe(24)},
                            timeout=10)
    assert response.status_code == 401
    metered.metrics.expect(before, {TOKEN_ERRORS: {L(endpoint="/userinfo", error="invalid_token"): 1}})


# -- client authentication ------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post", "none", "unknown"])
def test_failed_client_authentication_is_counted_by_method(metered, method):
    if method == "client_secret_basic":
        client = metered.new_client("client_secret_basic")
        kwargs = {"auth": (client.client_id, "wrong-" + secrets.token_urlsafe(8)), "data": {}}
    elif method == "client_secret_post":
        client = metered.new_client("client_secret_post")
        kwargs = {"data": {"client_id": client.client_id, "client_secret": "wrong-" + secrets.token_urlsafe(8)}}
    elif method == "none":  # a client id alone, of no public client
        kwargs = {"data": {"client_id": "nobody-" + secrets.token_hex(6)}}
    else:  # an Authorization header that cannot be read
        kwargs = {"headers": {"Authorization": "Basic !!!not-base64"}, "data": {}}
    before = metered.metrics.at_rest()
    data = dict(kwargs.pop("data"), grant_type="client_credentials")
    response = requests.post(metered.server.url("/token"), data=data, timeout=10, **kwargs)
    assert_oauth_error(response, "invalid_client", status=401)
    metered.metrics.expect(before, {
        AUTH_FAILURES: {L(method=method): 1},
        TOKEN_ERRORS: {L(endpoint="/token", error="invalid_client"): 1},
        RATE_LIMITED: {},
        ISSUED: {},
    })


def test_failed_client_authentication_at_introspection_is_counted_under_introspect(metered):
    client = metered.new_client("client_secret_post")
    before = metered.metrics.at_rest()
    response = requests.post(
        metered.server.url("/introspect"),
        data={"client_id": client.client_id, "client_secret": "wrong", "token": "x"}, timeout=10,
    )
    assert_oauth_error(response, "invalid_client", status=401)
    metered.metrics.expect(before, {
        AUTH_FAILURES: {L(method="client_secret_post"): 1},
        TOKEN_ERRORS: {L(endpoint="/introspect", error="invalid_client"): 1},
        INTROSPECTIONS: {},
    })


def test_client_authentication_rate_limit_is_counted(metered):
    client = metered.new_client("client_secret_basic")

    def attempt(secret: str) -> requests.Response:
        return requests.post(metered.server.url("/token"), data={"grant_type": "client_credentials"},
                             auth=(client.client_id, secret), timeout=10)

    before = metered.metrics.at_rest()
    for _ in range(LIMIT):
        assert_oauth_error(attempt("wrong"), "invalid_client", status=401)
    assert_oauth_error(attempt("wrong"), "slow_down", status=429)
    # The right secret is never refused for failures of a wrong one (SECURITY.md).
    assert attempt(client.client_secret).status_code == 200
    metered.metrics.expect(before, {
        AUTH_FAILURES: {L(method="client_secret_basic"): LIMIT},
        RATE_LIMITED: {L(limit="client_authentication"): 1},
        TOKEN_ERRORS: {L(endpoint="/token", error="invalid_client"): LIMIT, L(endpoint="/token", error="slow_down"): 1},
        ISSUED: {L(grant_type="client_credentials", token_type="access_token"): 1},
        REQUESTS: {
            L(route="/token", method="POST", status="401"): LIMIT,
            L(route="/token", method="POST", status="429"): 1,
            L(route="/token", method="POST", status="200"): 1,
        },
    })


# -- logins ---------------------------------------------------------------------------------------


def test_logins_are_counted_by_result_and_the_account_limit_as_rate_limited(metered):
    user = metered.new_user()
    before = metered.metrics.at_rest()
    for _ in range(LIMIT):
        agent, page = metered.login_page()
        assert agent.login(page, user.username, "not-" + user.password).status_code == 200
    agent, page = metered.login_page()
    assert agent.login(page, user.username, user.password).status_code == 429  # the account is locked for now
    metered.metrics.expect(before, {
        LOGINS: {L(result="failure"): LIMIT, L(result="rate_limited"): 1},
        RATE_LIMITED: {L(limit="login"): 1},
        REQUESTS: {
            L(route="/authorize", method="GET", status="200"): LIMIT + 1,
            L(route="/login", method="POST", status="200"): LIMIT,
            L(route="/login", method="POST", status="429"): 1,
        },
    })
    # Another account signs in.
    other = metered.new_user()
    before = metered.metrics.at_rest()
    agent, page = metered.login_page()
    assert agent.login(page, other.username, other.password).status_code == 303
    metered.metrics.expect(before, {LOGINS: {L(result="success"): 1}, RATE_LIMITED: {}})


# -- introspection -------------------------------------------------------------------------------


def test_introspection_counts_activity_and_cache_miss_then_hit(metered):
    token = metered.server.access_token(metered.cc)
    before = metered.metrics.at_rest()
    assert metered.server.is_active(metered.introspector, token)
    middle = metered.metrics.expect(before, {INTROSPECTIONS: {L(active="true", cache="miss"): 1}})
    assert metered.server.is_active(metered.introspector, token)
    after = metered.metrics.expect(middle, {INTROSPECTIONS: {L(active="true", cache="hit"): 1}})
    assert not metered.server.is_active(metered.introspector, "not-a-token-" + secrets.token_urlsafe(12))
    metered.metrics.expect(after, {INTROSPECTIONS: {L(active="false", cache="miss"): 1}})


# -- storage and keys -----------------------------------------------------------------------------


def test_database_commit_histograms_count_at_least_the_writes_made(metered):
    tokens = metered.code_tokens(UserAgent(metered.server), metered.new_user(), "profile offline_access")
    # An idle server commits a couple of times a second by itself: 20 refreshes in well under
    # that second, and a short wait for the last commit to be counted, keep these apart.
    writes = 20
    before = metered.metrics.at_rest()
    refresh_token = tokens["refresh_token"]
    for _ in range(writes):  # one after the other: each is committed before it is answered
        response = metered.server.refresh(metered.spa, refresh_token)
        assert response.status_code == 200, response.text
        refresh_token = response.json()["refresh_token"]

    def grew(after: Scrape, name: str) -> float:
        return after.value(name) - before.value(name)

    def counted(after: Scrape) -> bool:
        return all(grew(after, name) >= writes for name in (
            "warden_database_commit_duration_seconds_count", "warden_database_commit_batch_size_count",
            "warden_database_commit_batch_size_sum"))

    after = metered.metrics.scrape()
    deadline = time.monotonic() + 0.5
    while not counted(after) and time.monotonic() < deadline:
        time.sleep(0.05)
        after = metered.metrics.scrape()
    for name in ("warden_database_commit_duration_seconds_count", "warden_database_commit_batch_size_count",
                 "warden_database_commit_batch_size_sum"):
        assert grew(after, name) >= writes, f"{name} grew by {grew(after, name)} over {writes} committed refreshes"
    assert grew(after, "warden_database_commit_duration_seconds_sum") > 0
    # A batch holds at least one write.
    assert after.value("warden_database_commit_batch_size_sum") >= after.value("warden_database_commit_batch_size_count") > 0


def key_counts(installation: Warden) -> dict[tuple, float]:
    counts = Counter((key["algorithm"], key["state"]) for key in installation.keys())
    return {L(algorithm=algorithm, state=state): float(counts[(algorithm, state)])
            for algorithm in ALGORITHMS for state in KEY_STATES}


def test_signing_keys_gauge_matches_the_key_list_and_follows_a_rotation(metered):
    before = metered.metrics.scrape()
    assert before.series(SIGNING_KEYS) == key_counts(metered.warden), "the gauge (zeros included) is not `keys list`"
    kid = metered.warden.rotate()
    new = [key for key in metered.warden.keys() if key["kid"] == kid][0]
    assert new["state"] == "pending", new
    after = metered.metrics.expect(before, {SIGNING_KEYS: {L(algorithm=new["algorithm"], state="pending"): 1}},
                                   timeout=PROPAGATION_SECONDS)
    assert after.series(SIGNING_KEYS) == key_counts(metered.warden)


# -- configuration --------------------------------------------------------------------------------


def test_metrics_are_off_by_default(warden):
    server = warden.start_server()
    assert metrics_lines(server) == [], server.stdout()
    # Only the public listener: no metrics port of any number.
    assert listening_ports(server.process.pid) == {server.port}
    assert requests.get(server.url("/metrics"), timeout=10).status_code == 404


def test_metrics_address_from_config_environment_and_flag_in_that_order(warden):
    config_port, env_port, flag_port = free_port(), free_port(), free_port()
    warden.write_config({"metrics_address": f"127.0.0.1:{config_port}"})
    environment = {"WARDEN_METRICS_ADDRESS": f"127.0.0.1:{env_port}"}
    for env, extra, port in [
        (None, (), config_port),
        (environment, (), env_port),
        (environment, ("--metrics-address", f"127.0.0.1:{flag_port}"), flag_port),
    ]:
        server = warden.start_server(env=env, extra=extra)
        lines = metrics_lines(server)
        assert len(lines) == 1 and lines[0].endswith(f"Metrics listening on http://127.0.0.1:{port}/metrics"), lines
        assert listening_ports(server.process.pid) == {server.port, port}
        # Fresh: the reuse counters are there at 0, the key gauge has every state, zeros included.
        scrape = Metrics(f"127.0.0.1:{port}").scrape()
        for name in ("warden_refresh_token_reuse_detected_total", "warden_code_reuse_detected_total"):
            assert scrape.series(name) == {L(): 0.0}, (name, scrape.series(name))
        assert scrape.series(SIGNING_KEYS) == key_counts(warden)
        assert len(scrape.series("warden_build_info")) == 1
        assert server.stop() == 0


def bad_serve(warden: Warden, port: int, *extra: str, env: dict | None = None):
    return warden.run("serve", "--host", "127.0.0.1", "--port", str(port), *extra, env=env, check=False, timeout=15)


@pytest.mark.parametrize("value", ["nonsense", "1.2.3.4:99999", "127.0.0.1", "http://127.0.0.1:9464", "PUBLIC"])
def test_a_bad_metrics_address_ends_startup_with_one_line(warden, value):
    port = free_port()
    value = f"127.0.0.1:{port}" if value == "PUBLIC" else value
    result = bad_serve(warden, port, "--metrics-address", value)
    line = assert_one_line_failure(result, value)
    assert "metrics" in line.lower(), line
    assert "Warden listening" not in result.stdout, "no half-started server"


def test_a_bad_metrics_address_in_the_config_file_or_environment_ends_startup_with_one_line(warden):
    port = free_port()
    warden.write_config({"metrics_address": "nonsense"})
    assert_one_line_failure(bad_serve(warden, port), "metrics_address", "nonsense")
    warden.write_config({"metrics_address": f"127.0.0.1:{port}"})
    assert_one_line_failure(bad_serve(warden, port), "metrics_address", f"127.0.0.1:{port}")
    warden.config_file = None
    line = assert_one_line_failure(bad_serve(warden, port, env={"WARDEN_METRICS_ADDRESS": "1.2.3.4:99999"}), "1.2.3.4:99999")
    assert "metrics" in line.lower(), line


def test_a_metrics_address_in_use_ends_startup_with_one_line_naming_it(warden):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = f"127.0.0.1:{blocker.getsockname()[1]}"
        result = bad_serve(warden, free_port(), "--metrics-address", taken)
    assert_one_line_failure(result, taken)
    assert "Warden listening" not in result.stdout, "no half-started server"
