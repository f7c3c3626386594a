#!/usr/bin/env python3
"""Soak: mixed OAuth flows at high concurrency against one Warden server, with admin CLI
commands on the same database meanwhile.

    python3 Tests/Reliability/soak.py                       # 10 minutes, 64 concurrent workers
    python3 Tests/Reliability/soak.py --seconds 15          # the CI smoke (Tests/Interop/test_soak_smoke.py)
    python3 Tests/Reliability/soak.py --minutes 30 --concurrency 128 --binary .build/release/warden

A fresh installation (temporary SQLite database, key-encryption key) and one `warden
serve` on 127.0.0.1. `--concurrency` worker threads, each with its own HTTP session,
loop over a weighted mix of flows:

- client credentials: a token (client_secret_basic or client_secret_post);
- introspection: a recent client-credentials token (must be active), or the worker's
  current refresh token by its own client (must be active);
- revocation: a fresh token revoked, then introspected (must be inactive); or the
  worker's refresh token revoked, after which it must answer invalid_grant;
- refresh rotation: the worker's own chain (started by a full authorization-code flow);
- authorization code: a full flow with a fresh cookie jar: /authorize, the login page,
  the consent page when the user has not consented yet (users created during the run
  always have not), the redirect, then the code for tokens (PKCE S256). At most a few
  run at once (bcrypt cost 12 is most of a core per second of logins);
- discovery: metadata, JWKS, /healthz.

A background thread runs admin commands against the same database every
`--admin-interval` seconds, in turn: `clients create`, `keys rotate`, `users create`,
`keys rotate --now`. New clients and users join the mix 5 seconds later (INTERFACE.md's
propagation bound).

Checked, each a violation (exit status 1): any 5xx; any response, CLI output or server
log line mentioning SQLITE_BUSY or "database is locked"; any failed flow (unexpected
status, timeout, connection error); any CLI failure; any token whose `jti` repeats; the
server's RSS at the end more than `--max-rss-growth` percent above its RSS after warm-up
(10% of the run, between 3 and 60 s); any access token issued during the run (unless
expired) that does not verify against the final JWKS (PyJWT and joserfc); an unclean
SIGTERM shutdown. A report is printed: requests, errors and latency per flow, RSS,
duration.
"""

from __future__ import annotations

import argparse
import random
import secrets
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

import requests

import harness
from harness import IssuedToken, answer, response_error, short
from interop import Client, Server, User, UserAgent, Warden, obtain_code

REDIRECT = "http://127.0.0.1:8765/callback"  # never listened on: the code is read from the Location header
API = "https://api.example.com"
CODE_SCOPE = "profile email offline_access"
CC_SCOPE = "invoices:read invoices:write"
REQUEST_TIMEOUT = 30.0
BUSY_NEEDLES = ("sqlite_busy", "database is locked")

#: Relative weights of the flows in the mix.
FLOW_WEIGHTS = {
    "client_credentials": 30,
    "introspection": 15,
    "revocation": 10,
    "refresh": 25,
    "authorization_code": 5,
    "discovery": 15,
}
#: Full authorization-code flows (each with a bcrypt login) running at once, at most.
MAX_CONCURRENT_LOGINS = 4


class FlowError(Exception):
    """A flow did not go as the spec says it must."""


@dataclass
class Chain:
    """A worker's refresh-token chain with the confidential code client."""

    refresh_token: str


@dataclass
class FlowStats:
    runs: int = 0
    errors: int = 0
    requests: int = 0
    latencies: list[float] = field(default_factory=list)


class CheckedAgent(UserAgent):
    """interop.UserAgent whose every request goes through the soak's response checks."""

    def __init__(self, server: Server, soak: "Soak", flow: str):
        super().__init__(server)
        self.soak = soak
        self.flow = flow

    def get(self, path_or_url: str, **kwargs) -> requests.Response:
        started = time.monotonic()
        response = super().get(path_or_url, **kwargs)
        self.soak.observe(self.flow, response, time.monotonic() - started)
        return response

    def post(self, path: str, data, **kwargs) -> requests.Response:
        started = time.monotonic()
        response = super().post(path, data, **kwargs)
        self.soak.observe(self.flow, response, time.monotonic() - started)
        return response


class Soak:
    def __init__(self, args: argparse.Namespace, root: Path):
        self.args = args
        self.root = root
        self.warden = Warden(root / "warden")
        self.server: Server | None = None
        self.lock = threading.Lock()
        self.violations: list[str] = []
        self.violation_counts: Counter = Counter()
        # One entry per flow up front: workers only ever look entries up.
        self.stats: dict[str, FlowStats] = {flow: FlowStats() for flow in FLOW_WEIGHTS}
        self.status_counts: Counter = Counter()
        self.tokens: list[IssuedToken] = []
        self.jtis: set[str] = set()
        self.recent_cc_tokens: deque[str] = deque(maxlen=2000)
        self.cc_clients: list[Client] = []
        self.users: list[User] = []
        self.pending: list[tuple[float, str, object]] = []  # (usable at, kind, value): CLI creations
        self.admin_log: Counter = Counter()
        self.login_slots = threading.BoundedSemaphore(MAX_CONCURRENT_LOGINS)
        self.stop = threading.Event()
        self.rss_samples: list[tuple[float, int]] = []
        self.rss_warm: int | None = None
        self.rss_end: int | None = None
        self.rss_peak: int | None = None
        #: (RssAnon, RssFile) in KiB: heap versus mapped files, to tell a leak from the page cache.
        self.rss_split_warm: tuple[int | None, int | None] = (None, None)
        self.rss_split_end: tuple[int | None, int | None] = (None, None)
        self.web: Client | None = None
        self.spa: Client | None = None
        self.started_at = 0.0

    # -- bookkeeping ------------------------------------------------------------------

    def violation(self, kind: str, message: str) -> None:
        with self.lock:
            self.violation_counts[kind] += 1
            if self.violation_counts[kind] <= 20:
                self.violations.append(f"{kind}: {message}")
                print(f"VIOLATION {kind}: {message}", flush=True)

    def observe(self, flow: str, response: requests.Response, seconds: float) -> None:
        """Every response of the run: counted, and checked for 5xx and SQLite contention."""
        with self.lock:
            stats = self.stats[flow]
            stats.requests += 1
            stats.latencies.append(seconds)
            self.status_counts[response.status_code] += 1
        if response.status_code >= 500:
            self.violation("5xx", f"{flow}: {response.request.method} {response.request.path_url.split('?')[0]} "
                                  f"answered {response.status_code} {short(response.text)}")
        lowered = response.text.lower()
        if any(needle in lowered for needle in BUSY_NEEDLES):
            self.violation("sqlite busy", f"{flow}: a response mentions SQLite contention: {short(response.text)}")

    def record(self, access_token: str, audience: str, client: Client) -> None:
        assert self.server is not None
        issued = IssuedToken(access_token, audience=audience, client_id=client.client_id, issuer=self.server.issuer)
        with self.lock:
            if issued.jti in self.jtis:
                duplicate = True
            else:
                duplicate = False
                self.jtis.add(issued.jti)
            self.tokens.append(issued)
        if duplicate:
            self.violation("duplicate jti", f"jti {issued.jti} issued twice")

    # -- HTTP -------------------------------------------------------------------------

    def call(self, flow: str, session: requests.Session, method: str, path: str, *, expect: int = 200,
             **kwargs) -> requests.Response:
        assert self.server is not None
        started = time.monotonic()
        try:
            response = session.request(method, self.server.url(path), timeout=REQUEST_TIMEOUT, **kwargs)
        except requests.RequestException as error:
            raise FlowError(f"{method} {path}: {type(error).__name__}: {error}") from None
        self.observe(flow, response, time.monotonic() - started)
        if response.status_code != expect:
            raise FlowError(f"{method} {path}: expected {expect}, got {answer(response)}")
        return response

    def token_request(self, flow: str, session: requests.Session, client: Client, data: dict, *, expect: int = 200):
        kwargs = client.credentials()
        body = dict(kwargs.pop("data"), **data)
        return self.call(flow, session, "POST", "/token", data=body, expect=expect, **kwargs)

    def client_request(self, flow: str, session: requests.Session, client: Client, path: str, data: dict):
        kwargs = client.credentials()
        body = dict(kwargs.pop("data"), **data)
        return self.call(flow, session, "POST", path, data=body, **kwargs)

    # -- flows ------------------------------------------------------------------------

    def cc_token(self, flow: str, session: requests.Session, rng: random.Random) -> tuple[Client, str]:
        with self.lock:
            client = rng.choice(self.cc_clients)
        response = self.token_request(flow, session, client, {"grant_type": "client_credentials"})
        body = response.json()
        if "no-store" not in response.headers.get("Cache-Control", ""):
            raise FlowError(f"token response without Cache-Control: no-store: {dict(response.headers)}")
        self.record(body["access_token"], API, client)
        return client, body["access_token"]

    def flow_client_credentials(self, worker: "Worker") -> None:
        _, token = self.cc_token("client_credentials", worker.session, worker.rng)
        self.recent_cc_tokens.append(token)

    def flow_introspection(self, worker: "Worker") -> None:
        if worker.chain is not None and worker.rng.random() < 0.3:
            assert self.web is not None
            response = self.client_request("introspection", worker.session, self.web, "/introspect",
                                           {"token": worker.chain.refresh_token})
            if response.json().get("active") is not True:
                raise FlowError(f"the worker's live refresh token introspects {response.json()}")
            return
        try:
            token = worker.rng.choice(self.recent_cc_tokens)
        except IndexError:
            _, token = self.cc_token("introspection", worker.session, worker.rng)
        with self.lock:
            introspector = worker.rng.choice(self.cc_clients)
        response = self.client_request("introspection", worker.session, introspector, "/introspect", {"token": token})
        body = response.json()
        if body.get("active") is not True:
            raise FlowError(f"a live client-credentials token introspects {body}")

    def flow_revocation(self, worker: "Worker") -> None:
        if worker.chain is not None and worker.rng.random() < 0.03:
            assert self.web is not None
            self.client_request("revocation", worker.session, self.web, "/revoke",
                                {"token": worker.chain.refresh_token, "token_type_hint": "refresh_token"})
            response = self.token_request("revocation", worker.session, self.web, {
                "grant_type": "refresh_token", "refresh_token": worker.chain.refresh_token}, expect=400)
            if response_error(response) != "invalid_grant":
                raise FlowError(f"a revoked refresh token answered {short(response.text)}")
            worker.chain = None
            return
        client, token = self.cc_token("revocation", worker.session, worker.rng)
        self.client_request("revocation", worker.session, client, "/revoke", {"token": token})
        response = self.client_request("revocation", worker.session, client, "/introspect", {"token": token})
        if response.json() != {"active": False}:
            raise FlowError(f"a revoked token introspects {response.json()}")

    def flow_refresh(self, worker: "Worker") -> None:
        assert self.web is not None
        if worker.chain is None:
            # A new chain starts with a full flow (the worker loop holds a login slot).
            body = self.full_flow("refresh", worker, self.web)
            worker.chain = Chain(body["refresh_token"])
            return
        response = self.token_request("refresh", worker.session, self.web, {
            "grant_type": "refresh_token", "refresh_token": worker.chain.refresh_token})
        body = response.json()
        worker.chain.refresh_token = body["refresh_token"]
        self.record(body["access_token"], API, self.web)

    def flow_authorization_code(self, worker: "Worker") -> None:
        assert self.web is not None and self.spa is not None
        client = self.spa if worker.rng.random() < 0.5 else self.web
        self.full_flow("authorization_code", worker, client)

    def full_flow(self, flow: str, worker: "Worker", client: Client) -> dict:
        """/authorize, login, consent (when shown), redirect, token request; a fresh cookie jar."""
        assert self.server is not None
        with self.lock:
            user = worker.rng.choice(self.users)
        agent = CheckedAgent(self.server, self, flow)
        try:
            code, verifier = obtain_code(agent, client, user, REDIRECT, scope=CODE_SCOPE, expect_login=True)
        except AssertionError as error:
            raise FlowError(f"browser flow for {user.username}: {short(str(error), 500)}") from None
        except requests.RequestException as error:
            raise FlowError(f"browser flow for {user.username}: {type(error).__name__}: {error}") from None
        finally:
            agent.http.close()
        response = self.token_request(flow, worker.session, client, {
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier})
        body = response.json()
        audience = API if client is self.web else self.server.issuer
        self.record(body["access_token"], audience, client)
        if "refresh_token" not in body:
            raise FlowError(f"no refresh token for a client with the refresh_token grant: {sorted(body)}")
        return body

    def flow_discovery(self, worker: "Worker") -> None:
        path = worker.rng.choice(["/.well-known/oauth-authorization-server", "/.well-known/jwks.json", "/healthz"])
        response = self.call("discovery", worker.session, "GET", path)
        if path.endswith("jwks.json") and not response.json().get("keys"):
            raise FlowError("an empty JWKS")

    # -- admin CLI --------------------------------------------------------------------

    def admin_loop(self) -> None:
        actions = ["clients create", "keys rotate", "users create", "keys rotate --now"]
        index = 0
        while not self.stop.wait(self.args.admin_interval):
            action = actions[index % len(actions)]
            index += 1
            started = time.monotonic()
            try:
                self.admin(action, index)
            except Exception as error:  # noqa: BLE001 - every CLI failure is a finding
                message = str(error)
                kind = "sqlite busy" if any(n in message.lower() for n in BUSY_NEEDLES) else "cli failure"
                self.violation(kind, f"`warden {action}` while serving: {short(message, 600)}")
                continue
            with self.lock:
                self.admin_log[action] += 1
                self.admin_log[action + " seconds"] += time.monotonic() - started

    def admin(self, action: str, index: int) -> None:
        usable_at = time.monotonic() + harness.interop.PROPAGATION_SECONDS
        if action == "clients create":
            auth = "client_secret_post" if index % 2 else None
            client = self.warden.create_client(f"soak client {index}", scope=CC_SCOPE, audiences=(API,), auth_method=auth)
            with self.lock:
                self.pending.append((usable_at, "client", client))
        elif action == "users create":
            user = self.warden.create_user(f"soak-user-{index}")
            with self.lock:
                self.pending.append((usable_at, "user", user))
        elif action == "keys rotate":
            self.warden.rotate()
        elif action == "keys rotate --now":
            self.warden.rotate(now=True)

    def promote_pending(self) -> None:
        now = time.monotonic()
        with self.lock:
            ready = [item for item in self.pending if item[0] <= now]
            self.pending = [item for item in self.pending if item[0] > now]
            for _, kind, value in ready:
                (self.cc_clients if kind == "client" else self.users).append(value)

    # -- RSS --------------------------------------------------------------------------

    def monitor_loop(self, warm_up: float) -> None:
        assert self.server is not None
        pid = self.server.process.pid
        while not self.stop.wait(1.0):
            self.promote_pending()
            rss = harness.rss_kib(pid)
            if rss is None:
                continue
            elapsed = time.monotonic() - self.started_at
            with self.lock:
                self.rss_samples.append((elapsed, rss))
                if self.rss_warm is None and elapsed >= warm_up:
                    self.rss_warm = rss
                    self.rss_split_warm = rss_split(pid)

    # -- the whole run ----------------------------------------------------------------

    def setup(self) -> None:
        self.server = harness.launch(self.warden)
        self.cc_clients = [
            self.warden.create_client("soak basic", scope=CC_SCOPE, audiences=(API,)),
            self.warden.create_client("soak post", scope=CC_SCOPE, audiences=(API,), auth_method="client_secret_post"),
        ]
        self.web = self.warden.create_code_client(
            "soak web", (REDIRECT,), CODE_SCOPE, public=False, audiences=(API,))
        self.spa = self.warden.create_code_client("soak spa", (REDIRECT,), CODE_SCOPE)
        self.users = [self.warden.create_user(f"soak-seed-{index}") for index in range(3)]

    def run(self) -> int:
        duration = self.args.seconds if self.args.seconds is not None else self.args.minutes * 60.0
        warm_up = min(60.0, max(3.0, duration * 0.1))
        self.setup()
        assert self.server is not None
        print(f"server pid {self.server.process.pid} on {self.server.base_url}; {self.args.concurrency} workers "
              f"for {duration:.0f} s (warm-up {warm_up:.0f} s), admin CLI every {self.args.admin_interval} s", flush=True)
        self.started_at = time.monotonic()
        deadline = self.started_at + duration
        workers = [Worker(self, index, deadline) for index in range(self.args.concurrency)]
        helpers = [
            threading.Thread(target=self.admin_loop, name="admin", daemon=True),
            threading.Thread(target=self.monitor_loop, args=(warm_up,), name="rss", daemon=True),
        ]
        for thread in helpers + [worker.thread for worker in workers]:
            thread.start()
        for worker in workers:
            worker.thread.join(timeout=max(0.0, deadline - time.monotonic()) + REQUEST_TIMEOUT * 3)
            if worker.thread.is_alive():
                self.violation("hang", f"worker {worker.index} still busy {REQUEST_TIMEOUT * 3:.0f} s after the end")
        load_seconds = time.monotonic() - self.started_at
        self.stop.set()
        for thread in helpers:
            thread.join(timeout=CLI_JOIN_TIMEOUT)
        self.rss_end = harness.rss_kib(self.server.process.pid)
        self.rss_split_end = rss_split(self.server.process.pid)
        self.rss_peak = harness.rss_kib(self.server.process.pid, "VmHWM")
        if self.rss_warm is None:
            self.rss_warm = self.rss_samples[0][1] if self.rss_samples else None

        if self.rss_warm and self.rss_end:
            growth = (self.rss_end - self.rss_warm) * 100.0 / self.rss_warm
            if growth > self.args.max_rss_growth:
                self.violation("memory growth", f"RSS grew {growth:.0f}% after warm-up: {self.rss_warm} KiB -> "
                                                f"{self.rss_end} KiB (limit {self.args.max_rss_growth:.0f}%)")

        verify_started = time.monotonic()
        jwks = harness.fetch_jwks(self.server)
        verification = harness.verify_tokens(self.tokens, jwks, both_libraries=not self.args.pyjwt_only)
        for failure in verification.failures[:20]:
            self.violation("token verification", failure)
        if len(verification.failures) > 20:
            self.violation("token verification", f"{len(verification.failures) - 20} more tokens failed")
        verify_seconds = time.monotonic() - verify_started

        status = harness.stop(self.server)
        if status != 0:
            self.violation("shutdown", f"the server exited {status} after SIGTERM")
        self.check_logs()
        self.report(load_seconds, verification, verify_seconds, len(jwks.get("keys", [])))
        return 1 if self.violations else 0

    def check_logs(self) -> None:
        assert self.server is not None
        if self.server.stderr().strip():
            self.violation("stderr", f"the server wrote to stderr: {short(self.server.stderr(), 600)}")
        with open(self.server.stdout_path, errors="replace") as log:
            for line in log:
                lowered = line.lower()
                if any(needle in lowered for needle in BUSY_NEEDLES):
                    self.violation("sqlite busy", f"server log: {short(line)}")
                elif "status=5" in lowered or "maintenance failed" in lowered or " error " in lowered[:40]:
                    self.violation("server log", short(line))

    def report(self, seconds: float, verification, verify_seconds: float, jwks_keys: int) -> None:
        print()
        print("soak report")
        print(f"  duration              {seconds:.1f} s of load, {self.args.concurrency} workers")
        total_requests = sum(stats.requests for stats in self.stats.values())
        print(f"  requests              {total_requests} ({total_requests / seconds:.0f}/s)")
        print(f"  {'flow':<20} {'runs':>8} {'errors':>7} {'requests':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
        for flow in sorted(self.stats):
            stats = self.stats[flow]
            latencies = sorted(stats.latencies)

            def pick(q: float) -> float:
                return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else 0.0

            print(f"  {flow:<20} {stats.runs:>8} {stats.errors:>7} {stats.requests:>9} "
                  f"{pick(0.5):>8.1f} {pick(0.99):>8.1f} {pick(1.0):>8.1f}")
        print(f"  statuses              {dict(sorted(self.status_counts.items()))}")
        admin = {key: value for key, value in self.admin_log.items() if not key.endswith(" seconds")}
        print(f"  admin CLI             {admin}")
        print(f"  users / cc clients    {len(self.users)} / {len(self.cc_clients)}; JWKS keys at the end {jwks_keys}")

        def mib(kib: int | None) -> str:
            return f"{kib / 1024:.1f} MiB" if kib else "?"

        growth = ""
        if self.rss_warm and self.rss_end:
            growth = f" ({(self.rss_end - self.rss_warm) * 100.0 / self.rss_warm:+.0f}%)"
        print(f"  server RSS            after warm-up {mib(self.rss_warm)}, end {mib(self.rss_end)}{growth}, "
              f"peak {mib(self.rss_peak)}")
        print(f"  RSS anon / file       after warm-up {mib(self.rss_split_warm[0])} / {mib(self.rss_split_warm[1])}, "
              f"end {mib(self.rss_split_end[0])} / {mib(self.rss_split_end[1])}")
        if self.rss_samples:
            step = max(1, len(self.rss_samples) // 12)
            trajectory = ", ".join(f"{elapsed:.0f}s {kib / 1024:.0f}" for elapsed, kib in self.rss_samples[::step])
            print(f"  RSS over time (MiB)   {trajectory}")
        print(f"  access tokens         {len(self.tokens)} issued, {verification.checked} verified against the final "
              f"JWKS ({'PyJWT' if self.args.pyjwt_only else 'PyJWT and joserfc'}, {verify_seconds:.1f} s), "
              f"{verification.expired} expired")
        print(f"  violations            {sum(self.violation_counts.values())} {dict(self.violation_counts)}")
        for violation in self.violations[:60]:
            print(f"    - {violation}")
        print("RESULT: " + ("FAIL" if self.violations else "PASS"))


def rss_split(pid: int) -> tuple[int | None, int | None]:
    return harness.rss_kib(pid, "RssAnon"), harness.rss_kib(pid, "RssFile")


CLI_JOIN_TIMEOUT = harness.interop.CLI_TIMEOUT * 3 + 5


class Worker:
    """One load thread: its own HTTP session, random stream and refresh chain."""

    def __init__(self, soak: Soak, index: int, deadline: float):
        self.soak = soak
        self.index = index
        self.deadline = deadline
        self.rng = random.Random(secrets.randbits(64))
        self.session = requests.Session()
        self.chain: Chain | None = None
        self.thread = threading.Thread(target=self.loop, name=f"worker-{index}", daemon=True)

    def loop(self) -> None:
        flows = list(FLOW_WEIGHTS)
        weights = [FLOW_WEIGHTS[flow] for flow in flows]
        try:
            while time.monotonic() < self.deadline and not self.soak.stop.is_set():
                flow = self.rng.choices(flows, weights)[0]
                slot = False
                if flow == "authorization_code" or (flow == "refresh" and self.chain is None):
                    # A flow with a login: only when a login slot is free, else something cheap.
                    slot = self.soak.login_slots.acquire(blocking=False)
                    if not slot:
                        flow = "client_credentials" if flow == "refresh" else "discovery"
                stats = self.soak.stats[flow]
                try:
                    getattr(self.soak, "flow_" + flow)(self)
                except FlowError as error:
                    with self.soak.lock:
                        stats.errors += 1
                    self.soak.violation("flow error", f"{flow} (worker {self.index}): {error}")
                    if flow in ("refresh", "introspection", "revocation"):
                        self.chain = None  # the chain's state is unknown now: start another
                except Exception as error:  # noqa: BLE001 - a bug of this script shows as a violation too
                    with self.soak.lock:
                        stats.errors += 1
                    self.soak.violation("flow error", f"{flow} (worker {self.index}): {type(error).__name__}: {error}")
                    self.chain = None
                finally:
                    if slot:
                        self.soak.login_slots.release()
                with self.soak.lock:
                    stats.runs += 1
        finally:
            self.session.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the load (default 10)")
    parser.add_argument("--seconds", type=float, default=None, help="length in seconds (overrides --minutes)")
    parser.add_argument("--concurrency", type=int, default=64, help="worker threads (default 64)")
    parser.add_argument("--binary", help="the warden binary (default $WARDEN_BINARY, else .build/debug/warden)")
    parser.add_argument("--admin-interval", type=float, default=3.0, help="seconds between admin CLI commands (default 3)")
    parser.add_argument("--max-rss-growth", type=float, default=50.0,
                        help="percent of RSS growth after warm-up that fails the run (default 50)")
    parser.add_argument("--pyjwt-only", action="store_true", help="verify the tokens with PyJWT only (faster)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (kept anyway on failure)")
    args = parser.parse_args(argv)
    if args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    binary = harness.use_binary(args.binary)
    harness.install_cleanup()
    root = Path(tempfile.mkdtemp(prefix="warden-soak-"))
    print(f"soak: binary {binary}, directory {root}", flush=True)
    soak = Soak(args, root)
    status = 1
    try:
        status = soak.run()
    except BaseException as error:
        soak.stop.set()
        print(f"run aborted: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
        if not isinstance(error, (AssertionError, SystemExit, KeyboardInterrupt)):
            import traceback
            traceback.print_exc()
        status = 1 if not isinstance(error, SystemExit) else (error.code or 1)
    finally:
        soak.stop.set()
        status = harness.finish_run(soak.warden, root, status, args.keep)
    return status


if __name__ == "__main__":
    sys.exit(main())
