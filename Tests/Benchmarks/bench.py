#!/usr/bin/env python3
"""Warden's load benchmark: the real binary on a fresh SQLite file, driven by wrk on loopback.

    python3 Tests/Benchmarks/bench.py             # release build, full run, report in Tests/Benchmarks/results/
    python3 Tests/Benchmarks/bench.py --smoke     # a few seconds against the debug build: checks it still works
    python3 Tests/Benchmarks/bench.py --scale-out # one, then two instances on a throwaway PostgreSQL: results/scale-out.md
    python3 Tests/Benchmarks/bench.py --compare OLD_BINARY  # the durable-write hot paths, OLD vs this, interleaved: results/compare.md
    python3 Tests/Benchmarks/bench.py --observability # token issuance, metrics/tracing off vs on, interleaved: results/observability.md
    python3 Tests/Benchmarks/bench.py --proof-of-possession # client_secret_basic vs private_key_jwt (+ DPoP), interleaved: results/proof-of-possession.md

For each scenario and concurrency it records requests/s, latency p50/p99/p99.9,
non-2xx answers and the server's CPU time per request (from /proc/PID/stat before
and after), plus idle and peak RSS and the time from process start to the first
200 from /healthz. wrk and the server share this machine's cores; ratios against
/healthz from the same run are the figures to compare across machines.

--scale-out runs token issuance and refresh rotation against one `warden serve` on a
PostgreSQL database, then against two on the same database (one wrk each, half the
connections), and adds PostgreSQL's CPU per request, wrk's, and the machine's idle share.

--proof-of-possession runs client credentials with client_secret_basic, private_key_jwt
and private_key_jwt + DPoP beside /healthz on one server per round: every assertion and
proof is single use, so each signed cell gets fresh ones, generated (several processes)
just before it and spent one per request by scenario_signed_token.lua.
"""
from __future__ import annotations

import argparse
import base64
import datetime
import hashlib
import html
import http.server
import json
import math
import multiprocessing
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
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

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
    extra: dict = field(default_factory=dict)  # what a script printed on its WRK_EXTRA line, and the run's notes

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


def wrk_threads(concurrency: int) -> int:
    return max(1, min(2, concurrency))


def wrk_seconds(seconds: float) -> int:
    """The duration wrk is given for a cell of `seconds`."""
    return max(1, round(seconds))


def run_wrk(server: Server, script: str, path: str, concurrency: int, seconds: float, env: dict[str, str]) -> dict:
    """wrk's report; a script's own `WRK_EXTRA {json}` line, if it prints one, under "extra"."""
    threads = wrk_threads(concurrency)
    command = ["wrk", "-t", str(threads), "-c", str(concurrency), "-d", f"{wrk_seconds(seconds)}s", "--timeout", "10s",
               "-s", str(HERE / script), server.base + path]
    environment = {**os.environ, "WRK_REPORT": str(HERE / "wrk_report.lua"), **env}
    output = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=seconds + 60).stdout
    match = re.search(r"WRK_JSON (\{.*\})", output)
    if not match:
        raise SystemExit(f"wrk printed no report for {path}:\n{output}")
    report = json.loads(match.group(1))
    if extra := re.search(r"WRK_EXTRA (\{.*\})", output):
        report["extra"] = json.loads(extra.group(1))
    return report


def measure(server: Server, name: str, script: str, path: str, concurrency: int, seconds: float,
            env: dict[str, str] | None = None) -> Result:
    before = server.cpu_ticks()
    report = run_wrk(server, script, path, concurrency, seconds, env or {})
    ticks = server.cpu_ticks() - before
    count = max(report["requests"], 1)
    return Result(name, concurrency, report["requests"], report["duration_us"] / 1e6, report["non2xx"],
                  report["socket_errors"], report["p50"], report["p99"], report["p999"], ticks * 1e6 / CLOCK_TICKS / count,
                  dict(report.get("extra", {})))


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


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
        threads = wrk_threads(concurrency)
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


def par_env(server: Server) -> dict[str, str]:
    """A confidential code client (client_secret_basic) and one fixed authorization request
    for POST /par: every push stores a new request_uri (201), so the body can stay the same."""
    client = json.loads(server.cli("clients", "create", "--name", "bench-par", "--grant-type", "authorization_code",
                                   "--grant-type", "refresh_token", "--redirect-uri", REDIRECT_URI, "--scope", PLAIN_SCOPE,
                                   "--json"))
    challenge = b64url(hashlib.sha256(secrets.token_urlsafe(48).encode()).digest())
    body = urllib.parse.urlencode({
        "response_type": "code", "client_id": client["client_id"], "redirect_uri": REDIRECT_URI, "scope": PLAIN_SCOPE,
        "code_challenge": challenge, "code_challenge_method": "S256", "state": "bench"})
    authorization = basic(client["client_id"], client["client_secret"])
    response = requests.post(server.base + "/par", data=body, headers={
        "Authorization": authorization, "Content-Type": "application/x-www-form-urlencoded"})
    if response.status_code != 201 or not response.json().get("request_uri", "").startswith("urn:ietf:params:oauth:request_uri:"):
        raise SystemExit(f"POST /par answered {response.status_code}: {response.text[:2000]}")
    return {"WRK_BODY": body, "WRK_AUTHORIZATION": authorization}


def device_env(server: Server) -> dict[str, str]:
    """A confidential device client (client_secret_basic): every POST /device_authorization
    stores a new request with its own codes, so the body can stay the same."""
    client = json.loads(server.cli("clients", "create", "--name", "bench-device", "--grant-type", "device_code",
                                   "--scope", PLAIN_SCOPE, "--json"))
    env = {"WRK_BODY": "scope=" + urllib.parse.quote(PLAIN_SCOPE), "WRK_AUTHORIZATION": basic(client["client_id"], client["client_secret"])}
    response = requests.post(server.base + "/device_authorization", data=env["WRK_BODY"], headers={
        "Authorization": env["WRK_AUTHORIZATION"], "Content-Type": "application/x-www-form-urlencoded"})
    if response.status_code != 200 or "user_code" not in response.json():
        raise SystemExit(f"POST /device_authorization answered {response.status_code}: {response.text[:2000]}")
    return env


def measure_registration(binary: Path, root: Path, concurrencies: list[int], seconds: float) -> list[Result]:
    """POST /register on a server of its own with `registration: open` (every request stores a
    client, which would crowd the main server's client list) and no per-address budget to hit."""
    server = start_server(binary, root, config=("registration: open", "login_failures_per_address: 1000000"))
    body = json.dumps({"client_name": "bench", "redirect_uris": [REDIRECT_URI], "grant_types": ["authorization_code"],
                       "token_endpoint_auth_method": "none", "scope": "openid"})
    try:
        response = requests.post(server.base + "/register", data=body, headers={"Content-Type": "application/json"})
        if response.status_code != 201:
            raise SystemExit(f"POST /register answered {response.status_code}: {response.text[:2000]}")
        env = {"WRK_BODY": body, "WRK_AUTHORIZATION": "", "WRK_CONTENT_TYPE": "application/json"}
        return [measure(server, REGISTER, "scenario_post.lua", "/register", concurrency, seconds, env) for concurrency in concurrencies]
    finally:
        server.stop()


def client_credentials_token(server: Server, authorization: str) -> str:
    response = requests.post(server.base + "/token", data={"grant_type": "client_credentials"},
                             headers={"Authorization": authorization})
    response.raise_for_status()
    return response.json()["access_token"]


CODE_FLOWS = "authorization-code flows (/authorize + /token)"
OPENID_FLOWS = "OpenID Connect code flows (/authorize + /token), ID token {}"
REFRESH = "POST /token (refresh rotation chains)"
PAR = "POST /par (client_secret_basic, a stored pushed request each)"
DEVICE = "POST /device_authorization (client_secret_basic, a stored request each)"
REGISTER = "POST /register (open, a stored client each; a server of its own)"


def run(binary: Path, concurrencies: list[int], seconds: float, dataset: tuple[int, int]) -> tuple[list[Result], dict]:
    root = Path(tempfile.mkdtemp(prefix="warden-bench-"))
    results: list[Result] = []
    try:
        server = start_server(binary, root / "main")
        facts = {"startup_ms": server.startup_seconds * 1000, "idle_rss_kib": server.rss_kib("VmRSS")}
        try:
            token_env, introspect_env = backend_envs(server)
            push_env = par_env(server)
            devices_env = device_env(server)
            flow = BrowserFlow(server)
            userinfo = userinfo_flow(server)
            openid_flows = {algorithm: openid_flow(server, algorithm) for algorithm in ("RS256", "ES256")}
            for concurrency in concurrencies:
                results.append(measure(server, "GET /healthz", "scenario_get.lua", "/healthz", concurrency, seconds))
                results.append(measure(server, "POST /token (client credentials, ES256)", "scenario_post.lua", "/token",
                                       concurrency, seconds, token_env))
                results.append(measure(server, "POST /introspect", "scenario_post.lua", "/introspect", concurrency, seconds,
                                       introspect_env))
                results.append(measure(server, PAR, "scenario_post.lua", "/par", concurrency, seconds, push_env))
                results.append(measure(server, DEVICE, "scenario_post.lua", "/device_authorization", concurrency, seconds, devices_env))
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
        results += measure_registration(binary, root / "registration", concurrencies, seconds)

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
        facts["proof_of_possession"] = run_proof_of_possession(binary, concurrencies, seconds, rounds=1)
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


POP_HEALTHZ = "GET /healthz"
POP_BASIC = "POST /token (client credentials, client_secret_basic)"
POP_KEY = "POST /token (client credentials, private_key_jwt)"
POP_DPOP = "POST /token (client credentials, private_key_jwt + DPoP)"
POP_SCENARIOS = (POP_HEALTHZ, POP_BASIC, POP_KEY, POP_DPOP)
#: Credentials generated for a signed cell: this many times the rate of the scenario it
#: extends (private_key_jwt: client_secret_basic; + DPoP: private_key_jwt) at the same
#: concurrency, the highest measured so far, for the cell's duration. Each does all the
#: one before does and more (a signature checked, a jti stored), so it cannot go faster.
POP_HEADROOM = 1.3
POP_BOUND = {"POST /token (client credentials, private_key_jwt)": "POST /token (client credentials, client_secret_basic)",
             "POST /token (client credentials, private_key_jwt + DPoP)": "POST /token (client credentials, private_key_jwt)"}
#: The rate assumed when neither is known yet (round 1 measures them in that order, so
#: only a --concurrency level first seen in a reversed round would need it).
POP_FALLBACK_RATE = 25_000
#: A DPoP proof's iat must stay within this many seconds of the server's clock (the default
#: dpop_proof_lifetime) from the first request of a cell to its last.
PROOF_LIFETIME = 60
#: Proofs are dated this long after the last second of the cell that they must still cover,
#: minus the lifetime; longer cells date them ahead, up to PROOF_AHEAD_LIMIT.
PROOF_AHEAD_LIMIT = 50


def es256_public_jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    numbers = key.public_key().public_numbers()
    return {"kty": "EC", "crv": "P-256", "x": b64url(numbers.x.to_bytes(32, "big")), "y": b64url(numbers.y.to_bytes(32, "big"))}


def jwk_thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638 SHA-256 thumbprint of an EC public JWK."""
    members = json.dumps({name: jwk[name] for name in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(members.encode()).digest())


def jwt_claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def credential_lines(spec: dict, start: int, count: int):
    """Lines `start` ..< `start + count` of a cell's credentials: a client assertion (ES256,
    `kid`; iss = sub = the client, aud = the token endpoint, exp = iat + 300, a new jti),
    then, with a DPoP key in `spec`, a space and a DPoP proof (ES256, the public jwk in the
    header; htm POST, htu the token endpoint, a new jti). Runs in the generator processes."""
    algorithm = ec.ECDSA(hashes.SHA256())
    compact = lambda value: b64url(json.dumps(value, separators=(",", ":")).encode())

    def sign(key: ec.EllipticCurvePrivateKey, header: str, claims: dict) -> str:
        signing_input = header + "." + compact(claims)
        r, s = utils.decode_dss_signature(key.sign(signing_input.encode(), algorithm))
        return signing_input + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))

    client_key = serialization.load_pem_private_key(spec["client_key"], None)
    assertion_header = compact({"alg": "ES256", "kid": spec["kid"]})
    dpop_key = spec["dpop_key"] and serialization.load_pem_private_key(spec["dpop_key"], None)
    proof_header = dpop_key and compact({"typ": "dpop+jwt", "alg": "ES256", "jwk": es256_public_jwk(dpop_key)})
    client_id, audience, iat = spec["client_id"], spec["token_endpoint"], spec["iat"]
    for index in range(start, start + count):
        line = sign(client_key, assertion_header, {"iss": client_id, "sub": client_id, "aud": audience, "iat": iat,
                                                   "exp": iat + 300, "jti": f"{spec['jti']}a{index}"})
        if dpop_key:
            line += " " + sign(dpop_key, proof_header, {"jti": f"{spec['jti']}p{index}", "htm": "POST", "htu": audience,
                                                        "iat": spec["proof_iat"]})
        yield line


def write_credential_lines(task: tuple[dict, int, int, str]) -> None:
    """A generator process's share of a cell's credentials, into a file of its own."""
    spec, start, count, path = task
    with open(path, "w") as out:
        out.writelines(line + "\n" for line in credential_lines(spec, start, count))


class SignedClient:
    """A private_key_jwt client on `server` (one ES256 key in its --jwks) and a DPoP key:
    the single-use assertions and proofs its requests need, written before each cell."""

    def __init__(self, server: Server):
        self.server = server
        metadata = requests.get(server.base + "/.well-known/oauth-authorization-server", timeout=10).json()
        self.token_endpoint = metadata["token_endpoint"]
        self.client_key, self.dpop_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
        jwks = server.root / "bench-signer-jwks.json"
        jwks.write_text(json.dumps({"keys": [{**es256_public_jwk(self.client_key), "kid": "bench-1"}]}))
        self.client = json.loads(server.cli(
            "clients", "create", "--name", "bench-signer", "--grant-type", "client_credentials", "--scope", "read write",
            "--audience", "https://api.example.com", "--auth-method", "private_key_jwt", "--jwks", str(jwks), "--json"))
        if self.client.get("client_secret"):
            raise SystemExit("a private_key_jwt client was given a secret")

    def spec(self, dpop: bool, proof_ahead: int = 0) -> dict:
        pem = lambda key: key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption())
        now = int(time.time())
        return {"client_key": pem(self.client_key), "kid": "bench-1", "dpop_key": dpop and pem(self.dpop_key),
                "client_id": self.client["client_id"], "token_endpoint": self.token_endpoint, "iat": now,
                "proof_iat": now + proof_ahead, "jti": secrets.token_hex(8)}

    def check(self, dpop: bool) -> None:
        """One request with a credential made like the cell's: 200, a Bearer token without
        DPoP, a DPoP-bound one (token_type DPoP, cnf.jkt of the proof's key) with it."""
        assertion, _, proof = next(credential_lines(self.spec(dpop), 0, 1)).partition(" ")
        response = requests.post(self.server.base + "/token", data={
            "grant_type": "client_credentials", "scope": "read",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "client_assertion": assertion},
            headers={"DPoP": proof} if proof else {}, timeout=10)
        body = response.json() if response.headers.get("Content-Type", "").startswith("application/json") else {}
        expected = "DPoP" if dpop else "Bearer"
        if response.status_code != 200 or body.get("token_type") != expected:
            raise SystemExit(f"private_key_jwt{' + DPoP' if dpop else ''} at /token answered {response.status_code} "
                             f"(expected 200 and token_type {expected}): {response.text[:2000]}")
        jkt = jwt_claims(body["access_token"]).get("cnf", {}).get("jkt")
        if jkt != (jwk_thumbprint(es256_public_jwk(self.dpop_key)) if dpop else None):
            raise SystemExit(f"the access token's cnf.jkt is {jkt!r}")

    def write(self, pool: ProcessPoolExecutor, shares: int, path: Path, count: int, dpop: bool, proof_ahead: int) -> None:
        """`count` lines for one cell, made by the pool's processes in `shares` equal parts joined into `path`."""
        spec = self.spec(dpop, proof_ahead)
        bounds = [count * share // shares for share in range(shares + 1)]
        parts = [f"{path}.part{share}" for share in range(shares)]
        list(pool.map(write_credential_lines, [(spec, bounds[share], bounds[share + 1] - bounds[share], parts[share])
                                               for share in range(shares)]))
        with open(path, "wb") as out:
            for part in parts:
                with open(part, "rb") as source:
                    shutil.copyfileobj(source, out, 1 << 20)
                os.unlink(part)


def measure_signed(server: Server, signer: SignedClient, pool: ProcessPoolExecutor, processes: int, dpop: bool,
                   concurrency: int, seconds: float, rate_bound: float, root: Path) -> Result:
    """Client credentials with private_key_jwt (and a DPoP proof when `dpop`): one fresh
    assertion (and proof) per request, generated right before the cell, outside its
    measured window. Running out would send unusable assertions (401) and fail the run."""
    signer.check(dpop)
    duration = wrk_seconds(seconds)
    count = math.ceil(rate_bound * POP_HEADROOM * duration) + 2 * concurrency + 1
    # A proof must be within PROOF_LIFETIME of the server's clock from the first request to the last.
    proof_ahead = min(PROOF_AHEAD_LIMIT, max(0, duration - (PROOF_LIFETIME - 20)))
    path = root / f"credentials-{concurrency}"
    started, dated = time.monotonic(), time.time()
    signer.write(pool, processes, path, count, dpop, proof_ahead)
    generation = time.monotonic() - started
    if dpop and time.time() + duration + 2 > dated + proof_ahead + PROOF_LIFETIME:
        raise SystemExit(f"generating {count:,} proofs took {generation:.1f} s: with a {duration} s cell the first "
                         f"would be older than {PROOF_LIFETIME} s by the end; use a shorter --seconds")
    env = {"WRK_CREDENTIALS": str(path), "WRK_THREADS": str(wrk_threads(concurrency)),
           "WRK_BODY": "grant_type=client_credentials&scope=read"}
    try:
        result = measure(server, POP_DPOP if dpop else POP_KEY, "scenario_signed_token.lua", "/token", concurrency,
                         seconds, env)
    finally:
        path.unlink(missing_ok=True)
    result.extra.update(generated=count, generation_seconds=generation, signatures=count * (2 if dpop else 1),
                        processes=processes)
    if result.extra.get("missing"):
        print(f"{result.scenario} at {concurrency}: the {count:,} credentials ran out ({result.extra['missing']:,} "
              f"requests without one, answered 401)", file=sys.stderr)
    return result


def run_proof_of_possession(binary: Path, concurrencies: list[int], seconds: float, rounds: int) -> list[tuple[int, Result]]:
    """/healthz and client credentials at /token with client_secret_basic, private_key_jwt,
    and private_key_jwt + DPoP: one fresh server per round carrying all four, their order
    reversed every other round. Results are (round, result)."""
    if wrk_seconds(seconds) > PROOF_LIFETIME - 20 + PROOF_AHEAD_LIMIT:
        raise SystemExit(f"--seconds {seconds:g}: a DPoP proof must stay within {PROOF_LIFETIME} s of the server's clock "
                         f"for a whole cell, which allows at most {PROOF_LIFETIME - 20 + PROOF_AHEAD_LIMIT} s")
    root = Path(tempfile.mkdtemp(prefix="warden-bench-pop-"))
    results: list[tuple[int, Result]] = []
    rates: dict[tuple[str, int], float] = {}  # the highest so far
    processes = os.cpu_count() or 1
    try:
        with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("forkserver")) as pool:
            # Start the generator processes now, so that the first cell's generation time is theirs alone.
            list(pool.map(time.sleep, [0.2] * processes))
            for round_index in range(rounds):
                server = start_server(binary, root / f"round-{round_index}")
                try:
                    token_env, _ = backend_envs(server)
                    signer = SignedClient(server)
                    for concurrency in concurrencies:
                        for scenario in POP_SCENARIOS if round_index % 2 == 0 else reversed(POP_SCENARIOS):
                            if scenario == POP_HEALTHZ:
                                result = measure(server, scenario, "scenario_get.lua", "/healthz", concurrency, seconds)
                            elif scenario == POP_BASIC:
                                result = measure(server, scenario, "scenario_post.lua", "/token", concurrency, seconds, token_env)
                            else:
                                bound = (rates.get((POP_BOUND[scenario], concurrency)) or rates.get((POP_BASIC, concurrency))
                                         or POP_FALLBACK_RATE)
                                result = measure_signed(server, signer, pool, processes, scenario == POP_DPOP, concurrency,
                                                        seconds, bound, root)
                            rates[scenario, concurrency] = max(rates.get((scenario, concurrency), 0.0), result.rate)
                            results.append((round_index, result))
                finally:
                    server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return results


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


def proof_of_possession_report(results: list[tuple[int, Result]], rounds: int, seconds: float) -> str:
    """The --proof-of-possession table: means of the rounds, ratios taken within each round."""
    cells = {(index, r.scenario, r.concurrency): r for index, r in results}
    indices = sorted({index for index, _ in results})
    concurrencies = list(dict.fromkeys(r.concurrency for _, r in results))
    processes = next((r.extra["processes"] for _, r in results if "processes" in r.extra), os.cpu_count())

    def mean(values: list[float]) -> float:
        return sum(values) / len(values) if values else 0.0

    def ratio(values: list[float]) -> str:
        if not values:
            return ""
        spread = f" ({min(values):.3f}–{max(values):.3f})" if min(values) != max(values) else ""
        return f"{mean(values):.3f}{spread}"

    def per_round(scenario: str, concurrency: int, base: str, value) -> list[float]:
        pairs = [(cells.get((i, scenario, concurrency)), cells.get((i, base, concurrency))) for i in indices]
        return [value(r) / value(b) for r, b in pairs if r and b and value(b)]

    lines = [
        "# Warden benchmark: client authentication and DPoP at /token", "",
        f"{rounds} round{'s' if rounds != 1 else ''}, {seconds:g} s per cell; figures are means of the rounds, ratios are "
        "taken within each round and then averaged" + (" (lowest–highest round in brackets)." if rounds > 1 else "."),
        "One fresh server per round carries all four scenarios, their order reversed every other round: they differ in "
        "the client and its credentials, not in the server's configuration, so each ratio compares requests answered by "
        "the same process and database minutes apart; a new server per round keeps a round's spent jtis (kept until the "
        "assertion's exp, 5 minutes) out of the next, and the reversed order spreads what comes first or last (a warmer "
        "process, a fuller used_jtis table) over the scenarios.", "",
        "- client_secret_basic: `grant_type=client_credentials&scope=read` with HTTP Basic, as in report.md.",
        "- private_key_jwt: the same body with `client_assertion_type` and `client_assertion`, an ES256 JWT with a `kid` "
        "(iss = sub = the client id, aud = the metadata's token endpoint, exp = iat + 300, a new jti); the client's key "
        "is registered with `clients create --auth-method private_key_jwt --jwks FILE`.",
        "- + DPoP: also a `DPoP` header, an ES256 proof by a second key (its public jwk in the header; htm POST, htu the "
        "token endpoint, a new jti): the access token answered is DPoP-bound.",
        f"- Each assertion and proof is used once. They are generated right before their cell, outside the measured "
        f"window, by {processes} processes with `cryptography`: {POP_HEADROOM:g} times as many as the highest rate so far "
        "of the scenario each extends would need (private_key_jwt: client_secret_basic's; + DPoP: private_key_jwt's; each "
        "does all the other does and more). wrk's threads spend them in order; running out would show as non-2xx. Before "
        "each cell one request with a credential made the same way is checked: 200, token_type Bearer, or DPoP with the "
        "proof key's thumbprint in cnf.jkt.",
        f"- Machine: {machine()}. Command: `{' '.join(['python3', *sys.argv])}`", "",
        "| scenario | conc. | req/s | vs /healthz | p50 ms | p99 ms | server CPU µs/req | req/s vs client_secret_basic | "
        "CPU vs client_secret_basic | non-2xx |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for concurrency in concurrencies:
        for scenario in POP_SCENARIOS:
            rows = [cells[(i, scenario, concurrency)] for i in indices if (i, scenario, concurrency) in cells]
            if not rows:
                continue
            rate = lambda r: r.rate
            cpu = lambda r: r.cpu_us_per_request
            lines.append(
                f"| {scenario} | {concurrency} | {mean([r.rate for r in rows]):,.0f} | "
                f"{ratio(per_round(scenario, concurrency, POP_HEALTHZ, rate))} | {mean([r.p50_us for r in rows]) / 1000:.2f} | "
                f"{mean([r.p99_us for r in rows]) / 1000:.2f} | {mean([r.cpu_us_per_request for r in rows]):.0f} | "
                f"{ratio(per_round(scenario, concurrency, POP_BASIC, rate))} | "
                f"{ratio(per_round(scenario, concurrency, POP_BASIC, cpu))} | {sum(r.non2xx + r.socket_errors for r in rows)} |")
    lines += ["", "Single-use credentials per cell (means of the rounds): generated, spent by wrk (one more than it sent: "
              "wrk's script check takes one), requests answered within the cell, and the generation time.", "",
              "| scenario | conc. | generated | spent | answered | generation s | signatures/s |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for concurrency in concurrencies:
        for scenario in (POP_KEY, POP_DPOP):
            rows = [cells[(i, scenario, concurrency)] for i in indices if (i, scenario, concurrency) in cells]
            if rows:
                generation = mean([r.extra.get("generation_seconds", 0.0) for r in rows])
                lines.append(
                    f"| {scenario} | {concurrency} | {mean([r.extra.get('generated', 0) for r in rows]):,.0f} | "
                    f"{mean([r.extra.get('spent', 0) for r in rows]):,.0f} | {mean([r.requests for r in rows]):,.0f} | "
                    f"{generation:.1f} | {mean([r.extra.get('signatures', 0) for r in rows]) / generation if generation else 0:,.0f} |")
    return "\n".join(lines) + "\n"


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
    if facts.get("proof_of_possession"):
        lines += ["#" + proof_of_possession_report(facts["proof_of_possession"], 1, seconds)]
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
    parser.add_argument("--rounds", type=int, default=3, help="rounds with --compare, --observability and --proof-of-possession")
    parser.add_argument("--observability", action="store_true",
                        help="token issuance with metrics and tracing off, metrics on, tracing on: observability.md")
    parser.add_argument("--proof-of-possession", action="store_true",
                        help="client credentials with client_secret_basic, private_key_jwt, private_key_jwt + DPoP, "
                             "and /healthz, interleaved rounds: proof-of-possession.md")
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
    if args.proof_of_possession:
        results = run_proof_of_possession(binary, [int(c) for c in (args.concurrency or "16,64").split(",")], args.seconds,
                                          args.rounds)
        args.out.mkdir(parents=True, exist_ok=True)
        text = proof_of_possession_report(results, args.rounds, args.seconds)
        (args.out / "proof-of-possession.md").write_text(text)
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
    extra = [r for key in ("observability", "proof_of_possession") for _, r in facts.get(key, [])]
    failures = [r for r in results + extra if r.requests == 0 or r.non2xx or r.socket_errors]
    for failure in failures:
        print(f"FAILED: {failure.scenario} at {failure.concurrency}: {failure.requests} requests, "
              f"{failure.non2xx} non-2xx, {failure.socket_errors} socket errors", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
