#!/usr/bin/env python3
"""Warden's load benchmark: the real binary on a fresh SQLite file, driven by wrk on loopback.

    python3 Tests/Benchmarks/bench.py             # release build, full run, report in Tests/Benchmarks/results/
    python3 Tests/Benchmarks/bench.py --smoke     # a few seconds against the debug build: checks it still works
    python3 Tests/Benchmarks/bench.py --scale-out # one, then two instances on a throwaway PostgreSQL: results/scale-out.md
    python3 Tests/Benchmarks/bench.py --compare OLD_BINARY  # the durable-write hot paths, OLD vs this, interleaved: results/compare.md
    python3 Tests/Benchmarks/bench.py --observability # token issuance, metrics/tracing off vs on, interleaved: results/observability.md

For each scenario and concurrency it records requests/s, latency p50/p99/p99.9,
non-2xx answers and the server's CPU time per request (from /proc/PID/stat before
and after), plus idle and peak RSS and the time from process start to the first
200 from /healthz. wrk and the server share this machine's cores; ratios against
/healthz from the same run are the figures to compare across machines.

--scale-out runs token issuance and refresh rotation against one `warden serve` on a
PostgreSQL database, then against two on the same database (one wrk each, half the
connections), and adds PostgreSQL's CPU per request, wrk's, and the machine's idle share.
"""
from __future__ import annotations

import argparse
import base64
import datetime
import hashlib
import html
import http.server
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
REDIRECT_URI = "http://127.0.0.1:8765/callback"
CLUSTER = REPO / "Tests" / "Support" / "postgres-cluster.sh"


@dataclass
class Result:
    scenario: str
    concurrency: int
    requests: int
    seconds: float
    non2xx: int
    socket_errors: int
    p50_us: int
    p99_us: int
    p999_us: int
    cpu_us_per_request: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


@dataclass
class Server:
    process: subprocess.Popen
    base: str
    startup_seconds: float
    root: Path
    kek: Path
    database: Path | str
    binary: Path
    log: Path
    extra: dict = field(default_factory=dict)

    def cpu_ticks(self) -> int:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime (fields 14 and 15 of stat)

    def rss_kib(self, key: str) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        return 0

    def cli(self, *args: str, stdin: str | None = None) -> str:
        command = [str(self.binary), *args, "--database", str(self.database), "--key-encryption-key-file", str(self.kek)]
        return subprocess.run(command, cwd=self.root, input=stdin, capture_output=True, text=True, check=True).stdout

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_release() -> Path:
    subprocess.run(["swift", "build", "-c", "release", "--product", "warden"], cwd=REPO, check=True)
    return REPO / ".build" / "release" / "warden"


def start_server(binary: Path, root: Path, durability: str = "full", database: str | None = None,
                 kek: Path | None = None, issuer: str | None = None, config: tuple[str, ...] = (),
                 env: dict[str, str] | None = None) -> Server:
    """`config`: more warden.yaml lines, such as "signing_algorithm: EdDSA"; `env`: more environment."""
    root.mkdir(parents=True, exist_ok=True)
    if kek is None:
        kek = root / "kek"
        kek.write_text(base64.b64encode(secrets.token_bytes(32)).decode() + "\n")
    database = database or root / "warden.sqlite"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    lines = ["log_level: info", "key_rotation_lead_time: 600", f"database_durability: {durability}", *config]
    (root / "warden.yaml").write_text("".join(line + "\n" for line in lines))
    log = root / "server.log"
    started = time.monotonic()
    process = subprocess.Popen(
        [str(binary), "serve", "--config", str(root / "warden.yaml"), "--database", str(database),
         "--key-encryption-key-file", str(kek), "--port", str(port), "--issuer", issuer or base],
        cwd=root, stdout=log.open("wb"), stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    deadline = started + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(base + "/healthz", timeout=1).status_code == 200:
                return Server(process, base, time.monotonic() - started, root, kek, database, binary, log)
        except requests.ConnectionError:
            pass
        if process.poll() is not None:
            raise SystemExit(f"warden serve exited: {log.read_text()[-2000:]}")
        time.sleep(0.005)
    raise SystemExit("warden serve did not answer /healthz within 60 s")


def run_wrk(server: Server, script: str, path: str, concurrency: int, seconds: float, env: dict[str, str]) -> dict:
    threads = max(1, min(2, concurrency))
    command = ["wrk", "-t", str(threads), "-c", str(concurrency), "-d", f"{max(1, round(seconds))}s", "--timeout", "10s",
               "-s", str(HERE / script), server.base + path]
    environment = {**os.environ, "WRK_REPORT": str(HERE / "wrk_report.lua"), **env}
    output = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=seconds + 60).stdout
    match = re.search(r"WRK_JSON (\{.*\})", output)
    if not match:
        raise SystemExit(f"wrk printed no report for {path}:\n{output}")
    return json.loads(match.group(1))


def measure(server: Server, name: str, script: str, path: str, concurrency: int, seconds: float,
            env: dict[str, str] | None = None) -> Result:
    before = server.cpu_ticks()
    report = run_wrk(server, script, path, concurrency, seconds, env or {})
    ticks = server.cpu_ticks() - before
    count = max(report["requests"], 1)
    return Result(name, concurrency, report["requests"], report["duration_us"] / 1e6, report["non2xx"],
                  report["socket_errors"], report["p50"], report["p99"], report["p999"], ticks * 1e6 / CLOCK_TICKS / count)


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


BENCH_USER, BENCH_PASSWORD = "bench", "bench-password"
PLAIN_SCOPE = "profile offline_access"
OPENID_CLIENT_SCOPE = "openid profile email offline_access"
NONCE = "bench-nonce"


def bench_user(server: Server) -> str:
    """The user every BrowserFlow on `server` signs in as, created on first use."""
    if "bench_user" not in server.extra:
        server.cli("users", "create", "--username", BENCH_USER, "--password-stdin", stdin=BENCH_PASSWORD + "\n")
        server.extra["bench_user"] = BENCH_USER
    return BENCH_USER


def give_bench_user_a_profile(server: Server) -> None:
    """The profile and email claims UserInfo returns. Not in bench_user: a --compare
    baseline from before OpenID Connect has no profile options."""
    server.cli("users", "update", bench_user(server), "--name", "Bench Marker", "--given-name", "Bench",
               "--family-name", "Marker", "--email", "bench@example.com", "--email-verified")


def csrf_token(page: str, action: str) -> str:
    """The CSRF token of the page's form that posts to `action` (/login or /consent)."""
    match = re.search(r'action="' + action + r'".*?name="csrf_token" value="([^"]+)"', page, re.DOTALL)
    if not match:
        raise SystemExit(f"expected the {action} form, got:\n{page[:2000]}")
    return html.unescape(match.group(1))


def jwt_algorithm(token: str) -> str:
    """The `alg` in a compact JWS's header."""
    header = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["alg"]


def expect_algorithm(what: str, token: str, expected: str) -> None:
    if (algorithm := jwt_algorithm(token)) != expected:
        raise SystemExit(f"{what} is signed {algorithm}, not {expected}")


class BrowserFlow:
    """Codes and tokens the way a browser and an app get them: a public PKCE client, one
    sign-in whose consent page is answered once (then remembered), and /authorize with a
    code exchange per grant. The client registers `client_scope` (and any `client_args`,
    more `clients create` options); /authorize asks `request_scope` (the client's unless
    given), with `nonce` when given."""

    def __init__(self, server: Server, client_scope: str = PLAIN_SCOPE, request_scope: str | None = None,
                 nonce: str | None = None, client_args: tuple[str, ...] = ()):
        self.server = server
        self.client = json.loads(server.cli(
            "clients", "create", "--name", "bench-spa", "--grant-type", "authorization_code", "--grant-type", "refresh_token",
            "--redirect-uri", REDIRECT_URI, "--auth-method", "none", "--scope", client_scope, *client_args, "--json"))
        self.session = requests.Session()
        self.verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(self.verifier.encode()).digest()).rstrip(b"=").decode()
        parameters = {
            "response_type": "code", "client_id": self.client["client_id"], "redirect_uri": REDIRECT_URI,
            "scope": request_scope or client_scope, "state": "bench", "code_challenge": challenge, "code_challenge_method": "S256"}
        self.query = urllib.parse.urlencode(parameters | ({"nonce": nonce} if nonce else {}))
        self.sign_in()
        self.allow()

    def authorize(self) -> requests.Response:
        return self.session.get(self.server.base + "/authorize?" + self.query, allow_redirects=False)

    def sign_in(self) -> None:
        """The login page, then its form: the session cookie (and /login's 303 back to /authorize)."""
        csrf = csrf_token(self.authorize().text, "/login")
        self.session.post(self.server.base + "/login", data={
            "csrf_token": csrf, "authorization_request": self.query, "username": bench_user(self.server),
            "password": BENCH_PASSWORD}, allow_redirects=False).raise_for_status()

    def allow(self) -> None:
        """The consent page, once: allowing it remembers the consent for the next requests."""
        csrf = csrf_token(self.authorize().text, "/consent")
        self.session.post(self.server.base + "/consent", data={
            "csrf_token": csrf, "authorization_request": self.query, "decision": "allow"}, allow_redirects=False).raise_for_status()

    def code_flow_env(self) -> dict[str, str]:
        """What scenario_code_flow.lua needs: the signed-in session and the PKCE verifier."""
        return {"WRK_AUTHORIZE_PATH": "/authorize?" + self.query, "WRK_COOKIE": f"warden_session={self.session.cookies['warden_session']}",
                "WRK_CLIENT_ID": self.client["client_id"], "WRK_REDIRECT_URI": urllib.parse.quote(REDIRECT_URI, safe=""),
                "WRK_VERIFIER": self.verifier}

    def refresh_env(self, concurrency: int) -> dict[str, str]:
        """One fresh refresh token per connection (WRK_TOKENS_n per wrk thread), plus one for wrk's script check."""
        threads = max(1, min(2, concurrency))
        seeds = [self.refresh_token() for _ in range(concurrency + 1)]
        env = {"WRK_CLIENT_ID": self.client["client_id"]}
        for thread in range(threads):
            # Thread 1 gets the extra token, last, for wrk's verification call.
            env[f"WRK_TOKENS_{thread + 1}"] = ",".join(seeds[:-1][thread::threads] + ([seeds[-1]] if thread == 0 else []))
        return env

    def bearer_env(self) -> dict[str, str]:
        """What scenario_bearer_get.lua needs: a fresh access token of this flow's grant."""
        return {"WRK_AUTHORIZATION": "Bearer " + self.tokens()["access_token"]}

    def refresh_token(self) -> str:
        return self.tokens()["refresh_token"]

    def tokens(self) -> dict:
        """/token's response for a fresh code: /authorize with the remembered consent redirects with one at once."""
        response = self.authorize()
        if "Location" not in response.headers:
            raise SystemExit(f"/authorize answered {response.status_code} without a redirect:\n{response.text[:2000]}")
        code = urllib.parse.parse_qs(urllib.parse.urlparse(response.headers["Location"]).query)["code"][0]
        response = requests.post(self.server.base + "/token", data={
            "grant_type": "authorization_code", "client_id": self.client["client_id"], "code": code,
            "redirect_uri": REDIRECT_URI, "code_verifier": self.verifier})
        response.raise_for_status()
        return response.json()


def openid_flow(server: Server, id_token_algorithm: str = "RS256", request_scope: str = "openid profile") -> BrowserFlow:
    """An OpenID Connect client's flow, asking `request_scope` with a nonce: /token also
    answers an ID token, signed `id_token_algorithm` (RS256 is the registration default)."""
    registration = () if id_token_algorithm == "RS256" else ("--id-token-signed-response-alg", id_token_algorithm)
    flow = BrowserFlow(server, OPENID_CLIENT_SCOPE, request_scope, nonce=NONCE, client_args=registration)
    expect_algorithm("the ID token", flow.tokens()["id_token"], id_token_algorithm)
    return flow


def userinfo_flow(server: Server) -> BrowserFlow:
    """Access tokens with openid profile email, for a user who has those claims."""
    give_bench_user_a_profile(server)
    return openid_flow(server, request_scope="openid profile email")


def backend_envs(server: Server) -> tuple[dict[str, str], dict[str, str]]:
    """A client-credentials client: the /token and /introspect request environments."""
    backend = json.loads(server.cli("clients", "create", "--name", "bench", "--grant-type", "client_credentials",
                                    "--scope", "read write", "--audience", "https://api.example.com", "--json"))
    authorization = basic(backend["client_id"], backend["client_secret"])
    token_env = {"WRK_BODY": "grant_type=client_credentials&scope=read", "WRK_AUTHORIZATION": authorization}
    return token_env, {"WRK_BODY": "token=" + client_credentials_token(server, authorization), "WRK_AUTHORIZATION": authorization}


def client_credentials_token(server: Server, authorization: str) -> str:
    response = requests.post(server.base + "/token", data={"grant_type": "client_credentials"},
                             headers={"Authorization": authorization})
    response.raise_for_status()
    return response.json()["access_token"]


CODE_FLOWS = "authorization-code flows (/authorize + /token)"
OPENID_FLOWS = "OpenID Connect code flows (/authorize + /token), ID token {}"
REFRESH = "POST /token (refresh rotation chains)"


def run(binary: Path, concurrencies: list[int], seconds: float, dataset: tuple[int, int]) -> tuple[list[Result], dict]:
    root = Path(tempfile.mkdtemp(prefix="warden-bench-"))
    results: list[Result] = []
    try:
        server = start_server(binary, root / "main")
        facts = {"startup_ms": server.startup_seconds * 1000, "idle_rss_kib": server.rss_kib("VmRSS")}
        try:
            token_env, introspect_env = backend_envs(server)
            flow = BrowserFlow(server)
            userinfo = userinfo_flow(server)
            openid_flows = {algorithm: openid_flow(server, algorithm) for algorithm in ("RS256", "ES256")}
            for concurrency in concurrencies:
                results.append(measure(server, "GET /healthz", "scenario_get.lua", "/healthz", concurrency, seconds))
                results.append(measure(server, "POST /token (client credentials, ES256)", "scenario_post.lua", "/token",
                                       concurrency, seconds, token_env))
                results.append(measure(server, "POST /introspect", "scenario_post.lua", "/introspect", concurrency, seconds,
                                       introspect_env))
                results.append(measure(server, "GET /userinfo", "scenario_bearer_get.lua", "/userinfo", concurrency, seconds,
                                       userinfo.bearer_env()))
                results.append(measure(server, "GET JWKS", "scenario_get.lua", "/.well-known/jwks.json", concurrency, seconds))
                results.append(measure(server, "GET metadata", "scenario_get.lua", "/.well-known/oauth-authorization-server",
                                       concurrency, seconds))
                results.append(measure(server, REFRESH + ", durability full", "scenario_refresh.lua", "/token",
                                       concurrency, seconds, flow.refresh_env(concurrency)))
                results.append(measure(server, CODE_FLOWS + ", durability full", "scenario_code_flow.lua", "/authorize",
                                       concurrency, seconds, flow.code_flow_env()))
                for algorithm, openid in openid_flows.items():
                    results.append(measure(server, OPENID_FLOWS.format(algorithm) + ", durability full", "scenario_code_flow.lua",
                                           "/authorize", concurrency, seconds, openid.code_flow_env()))
                results.append(measure_redemption(server, flow, concurrency, seconds, root))
            facts["peak_rss_kib"] = server.rss_kib("VmHWM")
            facts["rss_after_kib"] = server.rss_kib("VmRSS")
        finally:
            server.stop()

        results += measure_eddsa_issuance(binary, root / "eddsa", concurrencies, seconds)

        # The same durable-write flows with synchronous=NORMAL, for comparison.
        server = start_server(binary, root / "normal", durability="normal")
        try:
            flow = BrowserFlow(server)
            for concurrency in concurrencies:
                results.append(measure(server, REFRESH + ", durability normal", "scenario_refresh.lua", "/token",
                                       concurrency, seconds, flow.refresh_env(concurrency)))
                results.append(measure(server, CODE_FLOWS + ", durability normal", "scenario_code_flow.lua", "/authorize",
                                       concurrency, seconds, flow.code_flow_env()))
        finally:
            server.stop()

        # Cost must not grow with table size: the hot flows again on a large database.
        tokens, clients = dataset
        facts["dataset"] = dataset
        server = start_server(binary, root / "large")
        try:
            started = time.monotonic()
            seed_large_dataset(server.database, tokens, clients)
            facts["dataset_seconds"] = time.monotonic() - started
            token_env, introspect_env = backend_envs(server)
            flow = BrowserFlow(server)
            userinfo = userinfo_flow(server)
            label = f" [{tokens:,} refresh tokens, {clients:,} clients]"
            for concurrency in concurrencies:
                results.append(measure(server, "GET /healthz" + label, "scenario_get.lua", "/healthz", concurrency, seconds))
                results.append(measure(server, "POST /token (client credentials, ES256)" + label, "scenario_post.lua", "/token",
                                       concurrency, seconds, token_env))
                results.append(measure(server, "POST /introspect" + label, "scenario_post.lua", "/introspect", concurrency,
                                       seconds, introspect_env))
                results.append(measure(server, "GET /userinfo" + label, "scenario_bearer_get.lua", "/userinfo", concurrency,
                                       seconds, userinfo.bearer_env()))
                results.append(measure(server, REFRESH + ", durability full" + label, "scenario_refresh.lua", "/token",
                                       concurrency, seconds, flow.refresh_env(concurrency)))
                results.append(measure(server, CODE_FLOWS + ", durability full" + label, "scenario_code_flow.lua",
                                       "/authorize", concurrency, seconds, flow.code_flow_env()))
        finally:
            server.stop()
        facts["observability"] = run_observability(binary, concurrencies, seconds, rounds=1)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return results, facts


def measure_redemption(server: Server, flow: BrowserFlow, concurrency: int, seconds: float, root: Path) -> Result:
    """Code redemption alone: codes are minted first (by wrk, through /authorize), then
    redeemed once each for up to 3 s, inside their 60 s lifetime. Minting runs three times
    as long as redeeming: /authorize is faster than redemption, so codes do not run out;
    running out would show as non-2xx answers, and fail the run."""
    codes = root / f"codes-{concurrency}"
    env = {**flow.code_flow_env(), "WRK_CODES_FILE": str(codes)}
    redeeming = min(seconds, 3.0)
    run_wrk(server, "scenario_mint_codes.lua", env["WRK_AUTHORIZE_PATH"], max(concurrency, 64), 3 * redeeming, env)
    return measure(server, "POST /token (code redemption alone), durability full", "scenario_redeem.lua", "/token",
                   concurrency, redeeming, env)


def measure_eddsa_issuance(binary: Path, root: Path, concurrencies: list[int], seconds: float) -> list[Result]:
    """Client credentials on a server of its own whose access tokens are EdDSA: the config's
    signing_algorithm chooses their key ring (rotating another ring does not move them)."""
    server = start_server(binary, root, config=("signing_algorithm: EdDSA",))
    try:
        token_env, _ = backend_envs(server)
        expect_algorithm("the access token", client_credentials_token(server, token_env["WRK_AUTHORIZATION"]), "EdDSA")
        return [measure(server, "POST /token (client credentials, EdDSA)", "scenario_post.lua", "/token", concurrency,
                        seconds, token_env) for concurrency in concurrencies]
    finally:
        server.stop()


def seed_large_dataset(database: Path, tokens: int, clients: int) -> None:
    """Fills the live database (through SQLite, beside the running server, as the CLI
    would) with `clients` clients and `tokens` refresh tokens over one grant per 10 tokens."""
    connection = sqlite3.connect(database, timeout=30)
    try:
        connection.execute("PRAGMA foreign_keys = ON")
        with connection:
            now = int(time.time())
            connection.execute("INSERT INTO users (id, username, password_hash, created_at) VALUES (?, ?, ?, ?)",
                               ("bulk-user", "bulk-user", "$2b$12$unusable", now))
            connection.executemany(
                "INSERT INTO clients (id, name, secret_digest, auth_method, grant_types, redirect_uris, scope, audiences,"
                " skip_consent, pkce_optional, created_at) VALUES (?, ?, ?, 'client_secret_basic', 'client_credentials',"
                " '[]', 'read', '[]', 0, 0, ?)",
                ((f"bulk-{i:06d}", f"bulk {i}", hashlib.sha256(str(i).encode()).digest(), now) for i in range(clients)))
            grants = max(1, tokens // 10)
            connection.executemany(
                "INSERT INTO grants (id, client_id, user_id, scope, audiences, created_at, expires_at)"
                " VALUES (?, ?, 'bulk-user', 'read', '[\"https://api.example.com\"]', ?, ?)",
                ((f"bulk-grant-{i:08d}", f"bulk-{i % clients:06d}", now, now + 86_400) for i in range(grants)))
            connection.executemany(
                "INSERT INTO refresh_tokens (digest, grant_id, scope, issued_at, idle_expires_at) VALUES (?, ?, 'read', ?, ?)",
                ((hashlib.sha256(f"bulk-token-{i}".encode()).digest(), f"bulk-grant-{i // 10:08d}", now, now + 86_400)
                 for i in range(tokens)))
    finally:
        connection.close()


@dataclass
class ScaleRow:
    scenario: str
    instances: int
    concurrency: int
    rate: float
    p50_us: int  # the higher of the wrk processes'
    p99_us: int
    errors: int
    requests: list[int]  # per instance
    server_us: list[float]  # each instance's CPU per request it answered
    postgres_us: float
    wrk_us: float
    idle: float  # share of the machine's CPU time

    def share(self, us_per_request: float) -> float:
        """The share of all cores' time that `us_per_request` adds up to at this rate."""
        return us_per_request * self.rate / 1e6 / (os.cpu_count() or 1)

    @property
    def servers_us(self) -> float:
        return sum(us * n for us, n in zip(self.server_us, self.requests)) / max(sum(self.requests), 1)


def tree_ticks(pid: int) -> int:
    """utime + stime + cutime + cstime over a process and its descendants: a child that
    exits moves its time into its parent's cutime/cstime, so differences stay whole."""
    parent, ticks = {}, {}
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split() if entry.name.isdigit() else None
        except OSError:
            continue
        if fields:
            parent[int(entry.name)], ticks[int(entry.name)] = int(fields[1]), sum(int(f) for f in fields[11:15])
    tree, todo = set(), [pid]
    while todo:
        tree.add(current := todo.pop())
        todo += [child for child, of in parent.items() if of == current and child not in tree]
    return sum(ticks.get(member, 0) for member in tree)


def idle_and_total_ticks() -> tuple[int, int]:
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return values[3] + values[4], sum(values)  # idle + iowait; user..steal


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure_scaled(servers: list[Server], postmaster: int, name: str, script: str, concurrency: int, seconds: float,
                   envs: list[dict[str, str]]) -> ScaleRow:
    """One wrk per server, in parallel, with an equal share of the connections."""
    before = [server.cpu_ticks() for server in servers], tree_ticks(postmaster), children_cpu_seconds(), idle_and_total_ticks()
    with ThreadPoolExecutor(len(servers)) as pool:
        reports = list(pool.map(lambda server, env: run_wrk(server, script, "/token", concurrency // len(servers), seconds, env),
                                servers, envs))
    ticks = [server.cpu_ticks() - start for server, start in zip(servers, before[0])]
    postgres, wrk, (idle, total) = tree_ticks(postmaster) - before[1], children_cpu_seconds() - before[2], idle_and_total_ticks()
    requests = [max(report["requests"], 1) for report in reports]
    return ScaleRow(name, len(servers), concurrency, sum(r["requests"] * 1e6 / r["duration_us"] for r in reports),
                    max(r["p50"] for r in reports), max(r["p99"] for r in reports),
                    sum(r["non2xx"] + r["socket_errors"] for r in reports), requests,
                    [t * 1e6 / CLOCK_TICKS / n for t, n in zip(ticks, requests)], postgres * 1e6 / CLOCK_TICKS / sum(requests),
                    wrk * 1e6 / sum(requests), (idle - before[3][0]) / max(total - before[3][1], 1))


def run_scale_out(binary: Path, concurrencies: list[int], seconds: float) -> tuple[list[ScaleRow], dict]:
    """Issuance and refresh rotation on one instance over a throwaway PostgreSQL, then on two
    (same database, issuer and key-encryption key; different ports)."""
    root, cluster = Path(tempfile.mkdtemp(prefix="warden-scale-")), Path(tempfile.mkdtemp(prefix="warden-pg-"))
    rows: list[ScaleRow] = []
    try:
        admin = subprocess.run([str(CLUSTER), "start", str(cluster)], capture_output=True, text=True, check=True).stdout.split()[-1]
        subprocess.run(["psql", "-q", admin, "-c", "create database warden"], check=True)
        database = admin.rsplit("/", 1)[0] + "/warden"
        postmaster = int((cluster / "data" / "postmaster.pid").read_text().split()[0])
        facts = {"postgres": subprocess.run(["psql", "-tA", admin, "-c", "show server_version"], capture_output=True,
                                            text=True, check=True).stdout.strip()}
        servers = [start_server(binary, root / "a", database=database)]
        try:
            token_env, _ = backend_envs(servers[0])
            flow = BrowserFlow(servers[0])
            for count in (1, 2):
                if count == 2:
                    servers.append(start_server(binary, root / "b", database=database, kek=servers[0].kek,
                                                issuer=servers[0].base))
                for concurrency in concurrencies:
                    rows.append(measure_scaled(servers, postmaster, "POST /token (client credentials, ES256)",
                                               "scenario_post.lua", concurrency, seconds, [token_env] * count))
                    rows.append(measure_scaled(servers, postmaster, REFRESH, "scenario_refresh.lua", concurrency, seconds,
                                               [flow.refresh_env(concurrency // count) for _ in servers]))
        finally:
            for server in servers:
                server.stop()
    finally:
        if (cluster / "data").exists():
            subprocess.run([str(CLUSTER), "stop", str(cluster)], check=False)
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(cluster, ignore_errors=True)
    return rows, facts


def run_compare(binaries: dict[str, Path], concurrencies: list[int], seconds: float, rounds: int) -> list[tuple[str, Result]]:
    """The durable-write hot paths (refresh rotation, code redemption) and /healthz for each
    binary, on a fresh server each, interleaved round by round so that a slow minute of the
    machine falls on both alike."""
    root = Path(tempfile.mkdtemp(prefix="warden-bench-compare-"))
    results: list[tuple[str, Result]] = []
    try:
        for round_index in range(rounds):
            order = list(binaries.items())
            for label, binary in order if round_index % 2 == 0 else reversed(order):
                server = start_server(binary, root / f"{label}-{round_index}")
                try:
                    flow = BrowserFlow(server)
                    for concurrency in concurrencies:
                        results.append((label, measure(server, "GET /healthz", "scenario_get.lua", "/healthz", concurrency, seconds)))
                        results.append((label, measure(server, REFRESH + ", durability full", "scenario_refresh.lua", "/token",
                                                       concurrency, seconds, flow.refresh_env(concurrency))))
                        results.append((label, measure_redemption(server, flow, concurrency, seconds, root / f"{label}-{round_index}")))
                finally:
                    server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return results


class CollectorStub:
    """A local OTLP/HTTP collector that accepts every export and counts the bytes: the
    tracing variant's spans have somewhere to go, and the run can check they went."""

    def __init__(self):
        received = self.received = [0]

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                received[0] += len(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()


def observability_variants(collector: CollectorStub) -> dict[str, dict]:
    """The server's settings for each observability variant: what start_server gets."""
    return {
        "off": {},
        "metrics on": {"config": (f"metrics_address: 127.0.0.1:{free_port()}",)},
        "tracing on": {"env": {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint, "OTEL_TRACES_SAMPLER": "always_on"}},
    }


def run_observability(binary: Path, concurrencies: list[int], seconds: float, rounds: int) -> list[tuple[str, Result]]:
    """Token issuance (client credentials) and /healthz with metrics and tracing off, metrics
    on, and tracing on; a fresh server per variant and round, interleaved like --compare. A
    variant whose server did not record what it served fails the run: it measured nothing."""
    root = Path(tempfile.mkdtemp(prefix="warden-bench-observability-"))
    results: list[tuple[str, Result]] = []
    collector = CollectorStub()
    try:
        for round_index in range(rounds):
            order = list(observability_variants(collector).items())
            for label, settings in order if round_index % 2 == 0 else reversed(order):
                exported = collector.received[0]
                server = start_server(binary, root / f"{label}-{round_index}".replace(" ", "-"), **settings)
                try:
                    token_env, _ = backend_envs(server)
                    for concurrency in concurrencies:
                        results.append((label, measure(server, "GET /healthz", "scenario_get.lua", "/healthz", concurrency, seconds)))
                        results.append((label, measure(server, "POST /token (client credentials, ES256)", "scenario_post.lua",
                                                       "/token", concurrency, seconds, token_env)))
                    check_metrics(label, settings)
                finally:
                    server.stop()
                # The last spans are flushed at the stop.
                if "env" in settings and collector.received[0] == exported:
                    raise SystemExit(f"{label}: the collector received no span")
    finally:
        collector.stop()
        shutil.rmtree(root, ignore_errors=True)
    return results


def check_metrics(label: str, settings: dict) -> None:
    """A metrics variant whose listener counted nothing measured nothing."""
    for line in settings.get("config", ()):
        if line.startswith("metrics_address:"):
            scrape = requests.get(f"http://{line.split(': ', 1)[1]}/metrics", timeout=5).text
            issued = re.search(r'^warden_tokens_issued_total\{grant_type="client_credentials",token_type="access_token"\} (\d+)', scrape, re.M)
            if not issued or int(issued.group(1)) == 0:
                raise SystemExit(f"{label}: the metrics listener counted no issued token")


def compare_report(results: list[tuple[str, Result]], labels: list[str], rounds: int, seconds: float,
                   title: str | None = None, ratio_note: str | None = None) -> str:
    lines = [
        f"# Warden benchmark: {title or ' vs '.join(labels)}", "",
        f"{rounds} interleaved rounds, a fresh server per variant and round, {seconds:g} s per cell; means of the rounds"
        + (f"; ratios are {ratio_note}." if ratio_note else "."),
        f"Machine: {machine()}. Command: `{' '.join(['python3', *sys.argv])}`", "",
        "| scenario | conc. | " + " | ".join(f"{label} req/s | {label} vs /healthz | {label} CPU µs/req" for label in labels)
        + " | " + " | ".join(f"{label} / {labels[0]}" for label in labels[1:]) + f" | non-2xx ({' / '.join(labels)}) |",
        "| --- | ---: | " + " | ".join("---: | ---: | ---:" for _ in labels) + " | ---:" * (len(labels) - 1) + " | ---: |",
    ]
    keys = list(dict.fromkeys((r.scenario, r.concurrency) for _, r in results))

    def mean(label: str, scenario: str, concurrency: int, value) -> float:
        values = [value(r) for l, r in results if l == label and r.scenario == scenario and r.concurrency == concurrency]
        return sum(values) / len(values) if values else 0.0

    for scenario, concurrency in keys:
        cells, rates = [], []
        for label in labels:
            rate = mean(label, scenario, concurrency, lambda r: r.rate)
            ceiling = mean(label, "GET /healthz", concurrency, lambda r: r.rate)
            cells.append(f"{rate:,.0f} | {rate / ceiling if ceiling else 0:.3f} | {mean(label, scenario, concurrency, lambda r: r.cpu_us_per_request):.0f}")
            rates.append(rate)
        bad = [sum(r.non2xx + r.socket_errors for l, r in results if l == label and r.scenario == scenario and r.concurrency == concurrency)
               for label in labels]
        ratios = " | ".join(f"{rate / rates[0] if rates[0] else 0:.3f}" for rate in rates[1:])
        lines.append(f"| {scenario} | {concurrency} | " + " | ".join(cells) + f" | {ratios} | " + " / ".join(map(str, bad)) + " |")
    return "\n".join(lines) + "\n"


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    memory = next(line.split(":", 1)[1].strip() for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    return f"{os.cpu_count()} cores ({model}), {memory} memory, {platform.system()} {platform.release()}"


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "unknown"


def observability_report(results: list[tuple[str, Result]], rounds: int, seconds: float) -> str:
    labels = list(dict.fromkeys(label for label, _ in results))
    return compare_report(results, labels, rounds, seconds, title="observability off vs on",
                          ratio_note="each variant against `off`")


def report(results: list[Result], facts: dict, seconds: float, binary: Path) -> str:
    ceiling = {r.concurrency: r for r in results if r.scenario == "GET /healthz"}
    lines = [
        "# Warden benchmark", "",
        f"- Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}; commit `{commit()}`; binary `{binary.relative_to(REPO) if binary.is_relative_to(REPO) else binary}`",
        f"- Machine: {machine()}; wrk on the same machine over loopback ({seconds:g} s per cell)",
        f"- Start to first 200 from /healthz: {facts['startup_ms']:.0f} ms; RSS idle {facts['idle_rss_kib'] / 1024:.1f} MiB, "
        f"after the run {facts.get('rss_after_kib', 0) / 1024:.1f} MiB, peak {facts.get('peak_rss_kib', 0) / 1024:.1f} MiB",
        "- Durability: SQLite WAL; `durability full` is synchronous=FULL (every group commit fsynced, the default), "
        "`normal` is synchronous=NORMAL. Authorization-code flows count both of their requests.",
        f"- Large database: {facts['dataset'][0]:,} refresh tokens and {facts['dataset'][1]:,} clients, seeded in "
        f"{facts.get('dataset_seconds', 0):.0f} s beside the running server.", "",
        "| scenario | conc. | req/s | vs /healthz | p50 ms | p99 ms | p99.9 ms | server CPU µs/req | CPU vs /healthz | non-2xx |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        base = ceiling.get(r.concurrency)
        rate_ratio = f"{r.rate / base.rate:.2f}" if base and base.rate else ""
        cpu_ratio = f"{r.cpu_us_per_request / base.cpu_us_per_request:.2f}" if base and base.cpu_us_per_request else ""
        lines.append(f"| {r.scenario} | {r.concurrency} | {r.rate:,.0f} | {rate_ratio} | {r.p50_us / 1000:.2f} | "
                     f"{r.p99_us / 1000:.2f} | {r.p999_us / 1000:.2f} | {r.cpu_us_per_request:.0f} | {cpu_ratio} | "
                     f"{r.non2xx + r.socket_errors} |")
    lines += ["", "![throughput vs concurrency](throughput.svg)", ""]
    if facts.get("observability"):
        lines += ["#" + observability_report(facts["observability"], 1, seconds)]
    return "\n".join(lines)


def scale_out_report(rows: list[ScaleRow], facts: dict, seconds: float, binary: Path) -> str:
    lines = [
        "# Warden scale-out on PostgreSQL", "",
        f"- Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}; commit `{commit()}`; binary `{binary.relative_to(REPO) if binary.is_relative_to(REPO) else binary}`",
        f"- Machine: {machine()}; PostgreSQL {facts['postgres']} (throwaway cluster, fsync on), the instances and wrk all "
        f"on this machine, over loopback ({seconds:g} s per cell)",
        f"- Command: `{facts['command']}`",
        "- Instances: `warden serve` with the default database_pool_size (10), sharing the database, issuer and "
        "key-encryption key on different ports; with two, each has a wrk of its own with half the connections, the rates "
        "are summed and p50/p99 are the higher of the two.",
        "- CPU µs per request from /proc: each instance's per request it answered, PostgreSQL's (postmaster and its "
        "children) and wrk's per request in all; idle is the machine's idle share (/proc/stat) during the cell.", "",
        "| scenario | instances | conc. | req/s | p50 ms | p99 ms | instance CPU µs/req | PostgreSQL CPU µs/req | "
        "wrk CPU µs/req | machine idle | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(f"| {r.scenario} | {r.instances} | {r.concurrency} | {r.rate:,.0f} | {r.p50_us / 1000:.2f} | "
                     f"{r.p99_us / 1000:.2f} | {' / '.join(f'{us:.0f}' for us in r.server_us)} | {r.postgres_us:.0f} | "
                     f"{r.wrk_us:.0f} | {r.idle:.0%} | {r.errors} |")
    lines += ["", "## What limits it", ""]
    top = max(r.concurrency for r in rows)
    for scenario in dict.fromkeys(r.scenario for r in rows):
        one, two = (next(r for r in rows if r.scenario == scenario and r.concurrency == top and r.instances == n) for n in (1, 2))
        total = two.servers_us + two.postgres_us + two.wrk_us
        lines.append(f"- {scenario}, {top} connections: {one.rate:,.0f} req/s on one instance, {two.rate:,.0f} on two "
                     f"(×{two.rate / one.rate:.2f}). With two, the cores went to the instances {two.share(two.servers_us):.0%}, "
                     f"PostgreSQL {two.share(two.postgres_us):.0%}, wrk {two.share(two.wrk_us):.0%}, idle {two.idle:.0%}, "
                     f"anything else {1 - two.idle - two.share(total):.0%}: "
                     f"{total:.0f} µs of CPU per request, which {os.cpu_count()} cores can give "
                     f"{(os.cpu_count() or 1) * 1e6 / total:,.0f} times a second.")
    return "\n".join(lines + ["", scale_out_verdict(rows, top), ""])


def scale_out_verdict(rows: list[ScaleRow], top: int) -> str:
    pairs = [[r for r in rows if r.scenario == scenario and r.concurrency == top] for scenario in dict.fromkeys(r.scenario for r in rows)]
    idle, name = max(r.idle for r in rows), lambda r: r.scenario[r.scenario.find("(") + 1:-1]
    if idle >= 0.1:
        return (f"Up to {idle:.0%} of the machine stayed idle, so waiting limits the rate as well as CPU: PostgreSQL's "
                "commits (fsync on) and each instance's pool of 10 connections; a second instance brings a second pool.")
    return (f"Idle never rose above {idle:.0%}: the rate is CPU-bound, {os.cpu_count()} cores divided by what a request "
            "costs in the instances, PostgreSQL and wrk together. A second instance on the same cores brings no CPU, and "
            "it changed the CPU per request (" + "; ".join(f"{name(one)}: instances {one.server_us[0]:.0f} → {' / '.join(f'{us:.0f}' for us in two.server_us)} "
                                            f"µs, PostgreSQL {one.postgres_us:.0f} → {two.postgres_us:.0f} µs" for one, two in pairs)
            + "). Scaling out pays only once the instances have cores of their own; then PostgreSQL's own cost caps each of "
            "its cores near " + " and ".join(f"{1e6 / one.postgres_us:,.0f} req/s ({name(one)})" for one, _ in pairs) + ".")


def plot(results: list[Result]) -> str:
    """Throughput against concurrency, one line per scenario, as a small SVG."""
    scenarios = list(dict.fromkeys(r.scenario for r in results))
    levels = sorted({r.concurrency for r in results})
    top = max((r.rate for r in results), default=1) * 1.1 or 1
    width, height, left, bottom, right = 1300, 460, 70, 40, 730
    plot_w, plot_h = width - left - right, height - bottom - 20
    colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]

    def x(level: int) -> float:
        return left + (levels.index(level) / max(1, len(levels) - 1)) * plot_w

    def y(rate: float) -> float:
        return 20 + plot_h - rate / top * plot_h

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
             '<rect width="100%" height="100%" fill="white"/>',
             f'<line x1="{left}" y1="{20 + plot_h}" x2="{left + plot_w}" y2="{20 + plot_h}" stroke="black"/>',
             f'<line x1="{left}" y1="20" x2="{left}" y2="{20 + plot_h}" stroke="black"/>']
    for level in levels:
        parts.append(f'<text x="{x(level)}" y="{height - 15}" text-anchor="middle">{level}</text>')
    for step in range(5):
        value = top * step / 4
        parts.append(f'<text x="{left - 6}" y="{y(value) + 4}" text-anchor="end">{value:,.0f}</text>')
    parts.append(f'<text x="{left + plot_w / 2}" y="{height - 2}" text-anchor="middle">connections</text>')
    for index, scenario in enumerate(scenarios):
        colour = colours[index % len(colours)]
        points = " ".join(f"{x(r.concurrency):.1f},{y(r.rate):.1f}" for r in results if r.scenario == scenario)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
        parts.append(f'<text x="{left + plot_w + 15}" y="{30 + index * 18}" fill="{colour}">{html.escape(scenario)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", type=Path, help="warden binary (default: build the release binary)")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per scenario and concurrency")
    parser.add_argument("--concurrency", help="comma-separated connection counts (default 1,16,64,256; 16,64 with --scale-out)")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="report directory")
    parser.add_argument("--dataset", default="1000000,10000", help="refresh tokens,clients in the large-database runs")
    parser.add_argument("--smoke", action="store_true", help="seconds=1, concurrency 4, debug binary, small dataset, temporary report")
    parser.add_argument("--scale-out", action="store_true", help="one, then two instances on a throwaway PostgreSQL: scale-out.md")
    parser.add_argument("--compare", type=Path, metavar="BASELINE",
                        help="interleave the durable-write hot paths of BASELINE (a warden binary) and --binary: compare.md")
    parser.add_argument("--rounds", type=int, default=3, help="rounds with --compare and --observability")
    parser.add_argument("--observability", action="store_true",
                        help="token issuance with metrics and tracing off, metrics on, tracing on: observability.md")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 1
    if args.smoke:
        args.seconds, args.concurrency, args.dataset = 1.0, "4", "2000,100"
        args.binary = args.binary or REPO / ".build" / "debug" / "warden"
        args.out = Path(tempfile.mkdtemp(prefix="warden-bench-smoke-"))
    binary = (args.binary or build_release()).resolve()
    if args.compare:
        labels = ["baseline", "this"]
        results = run_compare(dict(zip(labels, [args.compare.resolve(), binary])),
                              [int(c) for c in (args.concurrency or "16,64").split(",")], args.seconds, args.rounds)
        args.out.mkdir(parents=True, exist_ok=True)
        text = compare_report(results, labels, args.rounds, args.seconds)
        (args.out / "compare.md").write_text(text)
        print(text)
        return 1 if any(r.requests == 0 or r.non2xx or r.socket_errors for _, r in results) else 0
    if args.observability:
        results = run_observability(binary, [int(c) for c in (args.concurrency or "16,64").split(",")], args.seconds, args.rounds)
        args.out.mkdir(parents=True, exist_ok=True)
        text = observability_report(results, args.rounds, args.seconds)
        (args.out / "observability.md").write_text(text)
        print(text)
        return 1 if any(r.requests == 0 or r.non2xx or r.socket_errors for _, r in results) else 0
    if args.scale_out:
        rows, facts = run_scale_out(binary, [int(c) for c in (args.concurrency or "16,64").split(",")], args.seconds)
        facts["command"] = " ".join(["python3", *sys.argv])
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "scale-out.md").write_text(scale_out_report(rows, facts, args.seconds, binary))
        print(scale_out_report(rows, facts, args.seconds, binary))
        return 1 if any(r.errors or not r.rate for r in rows) else 0
    tokens, clients = (int(n) for n in args.dataset.split(","))
    results, facts = run(binary, [int(c) for c in (args.concurrency or "1,16,64,256").split(",")], args.seconds, (tokens, clients))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.md").write_text(report(results, facts, args.seconds, binary))
    (args.out / "throughput.svg").write_text(plot(results))
    print(report(results, facts, args.seconds, binary))
    failures = [r for r in results + [r for _, r in facts.get("observability", [])] if r.requests == 0 or r.non2xx or r.socket_errors]
    for failure in failures:
        print(f"FAILED: {failure.scenario} at {failure.concurrency}: {failure.requests} requests, "
              f"{failure.non2xx} non-2xx, {failure.socket_errors} socket errors", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
