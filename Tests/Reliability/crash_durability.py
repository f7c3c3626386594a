#!/usr/bin/env python3
"""Crash durability: SIGKILL a loaded Warden server at random moments and check what survives.

    python3 Tests/Reliability/crash_durability.py                  # 20 kills, $WARDEN_BINARY or .build/debug/warden
    python3 Tests/Reliability/crash_durability.py --kills 100 --binary .build/release/warden --seed 7

One installation (temporary SQLite database and key-encryption key). Each round:

1. Through the real login/consent pages (interop.UserAgent, one browser session for
   the whole run), obtain a pool of authorization codes (PKCE S256) and the codes that
   start a few refresh-token chains; redeem the latter.
2. Start steady load from several threads: client-credentials token requests,
   redemptions of the pooled codes (paced so that they last the round), and one thread
   per refresh chain rotating it back to back. Some rounds also run the admin CLI on
   the same database meanwhile (`clients create`, `keys rotate --now`).
3. After a random 0.2-1.5 s, `kill -9` the server; stop and join every load thread.
4. With the server down: `PRAGMA integrity_check` on a read-only connection.
5. Restart `warden serve` on the same database, key-encryption key, port and issuer, and check:
   (1) every chain's refresh token (the latest the client received a response for)
       works exactly once: first presentation 200, second `invalid_grant`, and the token
       the first one returned is dead too (reuse revokes the grant). The exception is a
       chain whose rotation request was in flight at the kill (sent, and no response
       read): the server may have committed that rotation, so its token may answer
       `invalid_grant` at once; if it answers 200, the second presentation must fail.
   (2) no code works twice: a code redeemed with a 200 before the kill answers
       `invalid_grant`; a code whose redemption was in flight answers 200 or
       `invalid_grant`, and after a 200 a second try fails; a code never presented
       (or refused before a connection existed) was issued durably, so it works once.
   (3) integrity_check said `ok` (step 4).
   (4) every client registered so far (before the run and by the CLI during it)
       still gets a token with its secret, and every `kid` that signed a token a
       client received is still in the JWKS.

After the last restart every access token received during the run (not expired) is
verified against the final JWKS with PyJWT and joserfc. A summary is printed; the exit
status is 1 on any violation (2 when the binary is missing).

Requests are tracked precisely: a request counts as "in flight" at the kill when it
may have reached the server and no response was read; a request whose TCP connection
was refused never reached it (harness.never_sent). Load threads are joined before the
restart, so nothing from one round reaches the next server.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import requests

import harness
from harness import IssuedToken, answer, response_error, short
from interop import Client, Server, UserAgent, Warden, obtain_code

REDIRECT = "http://127.0.0.1:8765/callback"  # never listened on: the code is read from the Location header
API = "https://api.example.com"
CODE_SCOPE = "profile offline_access"

#: Shape of each round.
CODES_PER_ROUND = 80
CHAINS_PER_ROUND = 4
CC_THREADS = 2
CODE_THREADS = 4
KILL_DELAY = (0.2, 1.5)
REQUEST_TIMEOUT = 10.0


@dataclass
class PooledCode:
    code: str
    verifier: str
    #: "unused" -> "in_flight" -> "redeemed" | "maybe" (no response: in flight at the kill)
    #: | "unused" (connection refused: never reached the server) | "rejected" (an error answer)
    state: str = "unused"


@dataclass
class Chain:
    """A refresh-token rotation chain: `latest` is the last refresh token the client got
    a response carrying; `in_flight` is True when a rotation request presenting `latest`
    may have reached the server and no response was read (the kill came in between)."""

    name: str
    latest: str
    in_flight: bool = False
    rotations: int = 0
    broken: bool = False


@dataclass
class Stats:
    kills: int = 0
    requests: Counter = field(default_factory=Counter)
    in_flight_codes: int = 0
    in_flight_codes_committed: int = 0
    in_flight_rotations: int = 0
    in_flight_rotations_committed: int = 0
    durable_unused_codes: int = 0
    clients_created: int = 0
    keys_rotated: int = 0
    restarts_seconds: list[float] = field(default_factory=list)


class CrashRun:
    def __init__(self, args: argparse.Namespace, root: Path):
        self.args = args
        self.rng = random.Random(args.seed)
        self.root = root
        config = {"database_durability": args.durability} if args.durability else None
        self.warden = Warden(root / "warden", config=config)
        self.server: Server | None = None
        self.issuer = ""
        self.port = 0
        self.lock = threading.Lock()
        self.failures: list[str] = []
        self.tokens: list[IssuedToken] = []
        self.stats = Stats()
        self.round = 0
        #: Set just before the SIGKILL: from then on a failed request is expected.
        self.killing = threading.Event()
        self.cc_clients: list[Client] = []
        self.code_client: Client | None = None   # authorization_code only (the code pool)
        self.chain_client: Client | None = None  # authorization_code + refresh_token (the chains)
        self.agent: UserAgent | None = None
        self.user = None
        self.verify_seconds = 0.0

    # -- bookkeeping ------------------------------------------------------------------

    def fail(self, message: str) -> None:
        line = f"[round {self.round}] {message}"
        with self.lock:
            self.failures.append(line)
        print("VIOLATION " + line, flush=True)

    def count(self, kind: str) -> None:
        with self.lock:
            self.stats.requests[kind] += 1

    def record(self, access_token: str, audience: str, client: Client) -> None:
        issued = IssuedToken(access_token, audience=audience, client_id=client.client_id, issuer=self.issuer)
        with self.lock:
            self.tokens.append(issued)

    def unexpected_error(self, what: str, error: Exception) -> None:
        """A request failed without an answer: expected once the kill is under way."""
        if not self.killing.is_set():
            self.fail(f"{what}: request failed while the server was up: {type(error).__name__}: {error}")

    # -- requests ---------------------------------------------------------------------

    def url(self, path: str) -> str:
        assert self.server is not None
        return self.server.url(path)

    def client_credentials(self, session: requests.Session, client: Client) -> requests.Response:
        kwargs = client.credentials()
        data = dict(kwargs.pop("data"), grant_type="client_credentials")
        return session.post(self.url("/token"), data=data, timeout=REQUEST_TIMEOUT, **kwargs)

    def redeem(self, session: requests.Session, code: PooledCode) -> requests.Response:
        assert self.code_client is not None
        data = {
            "grant_type": "authorization_code", "client_id": self.code_client.client_id, "code": code.code,
            "redirect_uri": REDIRECT, "code_verifier": code.verifier,
        }
        return session.post(self.url("/token"), data=data, timeout=REQUEST_TIMEOUT)

    def refresh(self, session: requests.Session, refresh_token: str) -> requests.Response:
        assert self.chain_client is not None
        data = {"grant_type": "refresh_token", "client_id": self.chain_client.client_id, "refresh_token": refresh_token}
        return session.post(self.url("/token"), data=data, timeout=REQUEST_TIMEOUT)

    # -- setup ------------------------------------------------------------------------

    def start(self) -> None:
        t0 = time.monotonic()
        self.server = harness.launch(self.warden)
        self.port, self.issuer = self.server.port, self.server.issuer
        self.stats.restarts_seconds.append(time.monotonic() - t0)
        self.cc_clients = [
            self.warden.create_client("cc basic", scope="invoices:read", audiences=(API,)),
            self.warden.create_client("cc post", scope="invoices:read", audiences=(API,), auth_method="client_secret_post"),
        ]
        self.code_client = self.warden.create_code_client(
            "code pool", (REDIRECT,), CODE_SCOPE, grant_types=("authorization_code",))
        self.chain_client = self.warden.create_code_client("chains", (REDIRECT,), CODE_SCOPE)
        self.user = self.warden.create_user("crash-user")
        self.agent = UserAgent(self.server)
        # The first walk shows the login page and the consent page for each client; the
        # session (and the consents) are stored, and later walks go straight to the redirect.
        for client in (self.code_client, self.chain_client):
            code, verifier = obtain_code(self.agent, client, self.user, REDIRECT, scope=CODE_SCOPE)
            self.count("authorize")
            if client is self.chain_client:
                self.start_chain(code, verifier)  # exercised once; not tracked

    def obtain(self, client: Client) -> tuple[str, str]:
        assert self.agent is not None
        code, verifier = obtain_code(self.agent, client, self.user, REDIRECT, scope=CODE_SCOPE)
        self.count("authorize")
        assert verifier is not None
        return code, verifier

    def start_chain(self, code: str, verifier: str) -> str | None:
        assert self.chain_client is not None
        with requests.Session() as session:
            response = session.post(self.url("/token"), data={
                "grant_type": "authorization_code", "client_id": self.chain_client.client_id, "code": code,
                "redirect_uri": REDIRECT, "code_verifier": verifier,
            }, timeout=REQUEST_TIMEOUT)
        self.count("code redemption (chain start)")
        if response.status_code != 200 or "refresh_token" not in response.json():
            self.fail(f"starting a chain: {response.status_code} {short(response.text)}")
            return None
        self.record(response.json()["access_token"], self.issuer, self.chain_client)
        return response.json()["refresh_token"]

    # -- load threads -----------------------------------------------------------------

    def cc_worker(self, client: Client, stop: threading.Event) -> None:
        with requests.Session() as session:
            while not stop.is_set():
                try:
                    response = self.client_credentials(session, client)
                except requests.RequestException as error:
                    self.unexpected_error("client credentials", error)
                    return
                self.count("client credentials")
                if response.status_code != 200:
                    self.fail(f"client credentials for {client.client_id}: {response.status_code} {short(response.text)}")
                    return
                self.record(response.json()["access_token"], API, client)

    def code_worker(self, pool: list[PooledCode], pool_lock: threading.Lock, pace: float, stop: threading.Event) -> None:
        assert self.code_client is not None
        with requests.Session() as session:
            while not stop.is_set():
                with pool_lock:
                    code = next((c for c in pool if c.state == "unused"), None)
                    if code is not None:
                        code.state = "in_flight"
                if code is None:
                    stop.wait(0.05)
                    continue
                try:
                    response = self.redeem(session, code)
                except requests.RequestException as error:
                    # Refused: the server never saw it. Anything else: it may have been
                    # read, and the redemption committed, before the kill.
                    code.state = "unused" if harness.never_sent(error) else "maybe"
                    self.unexpected_error("code redemption", error)
                    return
                self.count("code redemption")
                if response.status_code == 200:
                    code.state = "redeemed"
                    self.record(response.json()["access_token"], self.issuer, self.code_client)
                else:
                    code.state = "rejected"
                    self.fail(f"fresh code refused under load: {response.status_code} {short(response.text)}")
                stop.wait(pace)

    def chain_worker(self, chain: Chain, stop: threading.Event) -> None:
        assert self.chain_client is not None
        with requests.Session() as session:
            while not stop.is_set():
                # In flight from here until a response is read: if the kill falls in
                # between, the server may or may not have committed this rotation, and
                # the check after the restart accepts either (but never two uses).
                chain.in_flight = True
                try:
                    response = self.refresh(session, chain.latest)
                except requests.RequestException as error:
                    if harness.never_sent(error):
                        chain.in_flight = False
                    self.unexpected_error(f"refresh ({chain.name})", error)
                    return
                self.count("refresh rotation")
                if response.status_code != 200:
                    chain.in_flight = False
                    chain.broken = True
                    self.fail(f"{chain.name}: rotation of its latest refresh token refused under load: "
                              f"{response.status_code} {short(response.text)}")
                    return
                body = response.json()
                # The response was read: the successor is now what the client holds.
                chain.latest = body["refresh_token"]
                chain.in_flight = False
                chain.rotations += 1
                self.record(body["access_token"], self.issuer, self.chain_client)

    def admin_worker(self, action: str) -> None:
        """Runs one admin command against the same database while the server serves."""
        try:
            if action == "clients create":
                client = self.warden.create_client(f"cc created in round {self.round}", scope="invoices:read", audiences=(API,))
                with self.lock:
                    self.cc_clients.append(client)
                    self.stats.clients_created += 1
            elif action == "keys rotate --now":
                self.warden.rotate(now=True)
                with self.lock:
                    self.stats.keys_rotated += 1
        except Exception as error:  # noqa: BLE001 - a CLI failure is a finding, not a crash of the run
            self.fail(f"admin `{action}` failed while the server ran: {error}")

    # -- one round --------------------------------------------------------------------

    def round_once(self) -> None:
        assert self.server is not None and self.chain_client is not None
        pool = [PooledCode(*self.obtain(self.code_client)) for _ in range(CODES_PER_ROUND)]
        chains = []
        for index in range(CHAINS_PER_ROUND):
            refresh_token = self.start_chain(*self.obtain(self.chain_client))
            if refresh_token is not None:
                chains.append(Chain(f"chain {self.round}.{index}", refresh_token))

        delay = self.rng.uniform(*KILL_DELAY)
        pool_lock = threading.Lock()
        stop = threading.Event()
        self.killing.clear()
        # Spread the pool over the longest round so that redemptions are going on at the kill.
        pace = KILL_DELAY[1] * CODE_THREADS / CODES_PER_ROUND
        threads = [threading.Thread(target=self.cc_worker, args=(self.cc_clients[i % 2], stop), daemon=True)
                   for i in range(CC_THREADS)]
        threads += [threading.Thread(target=self.code_worker, args=(pool, pool_lock, pace, stop), daemon=True)
                    for _ in range(CODE_THREADS)]
        threads += [threading.Thread(target=self.chain_worker, args=(chain, stop), daemon=True) for chain in chains]
        admin = None
        action = {1: "clients create", 3: "keys rotate --now"}.get(self.round % 4)
        if action:
            admin = threading.Thread(target=self.admin_worker, args=(action,), daemon=True)
        for thread in threads:
            thread.start()
        if admin:
            admin.start()
        time.sleep(delay)

        self.killing.set()
        harness.kill9(self.server)
        self.stats.kills += 1
        stop.set()
        for thread in threads:
            thread.join(timeout=REQUEST_TIMEOUT + 5)
            if thread.is_alive():
                self.fail("a load thread did not stop after the kill")
        if admin:
            admin.join(timeout=120)

        # (3) The database as the crash left it, read-only, before any server recovers it.
        result = harness.integrity_check(self.warden.database)
        if result != ["ok"]:
            self.fail(f"PRAGMA integrity_check after kill -9: {result[:10]}")

        t0 = time.monotonic()
        self.server = harness.launch(self.warden, port=self.port, issuer=self.issuer)
        self.stats.restarts_seconds.append(time.monotonic() - t0)
        assert self.agent is not None
        self.agent.server = self.server
        self.killing.clear()

        self.check_chains(chains)
        self.check_codes(pool)
        self.check_clients_and_keys()

    # -- checks after a restart -------------------------------------------------------

    def check_chains(self, chains: list[Chain]) -> None:
        assert self.chain_client is not None
        with requests.Session() as session:
            for chain in chains:
                if chain.broken:
                    continue
                if chain.in_flight:
                    self.stats.in_flight_rotations += 1
                first = self.refresh(session, chain.latest)
                self.count("check")
                if first.status_code == 200:
                    self.record(first.json()["access_token"], self.issuer, self.chain_client)
                    successor = first.json()["refresh_token"]
                    again = self.refresh(session, chain.latest)
                    self.count("check")
                    if again.status_code != 400 or response_error(again) != "invalid_grant":
                        self.fail(f"{chain.name}: its refresh token worked twice after the restart "
                                  f"(second answer {answer(again)})")
                    # Reuse revokes the whole grant (SECURITY.md), the successor included.
                    after = self.refresh(session, successor)
                    self.count("check")
                    if after.status_code != 400 or response_error(after) != "invalid_grant":
                        self.fail(f"{chain.name}: reuse did not revoke the grant: its successor answered "
                                  f"{answer(after)}")
                elif first.status_code == 400 and response_error(first) == "invalid_grant":
                    if chain.in_flight:
                        self.stats.in_flight_rotations_committed += 1  # rotated by the request the kill cut off
                    else:
                        self.fail(f"{chain.name}: the refresh token the client last received (after "
                                  f"{chain.rotations} rotations, none in flight at the kill) is lost: invalid_grant")
                else:
                    self.fail(f"{chain.name}: refresh after restart answered {answer(first)}")

    def check_codes(self, pool: list[PooledCode]) -> None:
        assert self.code_client is not None
        with requests.Session() as session:
            for code in pool:
                if code.state == "rejected":
                    continue
                first = self.redeem(session, code)
                self.count("check")
                error = response_error(first)
                if code.state == "redeemed":
                    if first.status_code != 400 or error != "invalid_grant":
                        self.fail(f"a code redeemed (200) before the kill worked again after the restart: "
                                  f"{answer(first)}")
                    continue
                if code.state == "maybe":
                    self.stats.in_flight_codes += 1
                    if first.status_code == 400 and error == "invalid_grant":
                        self.stats.in_flight_codes_committed += 1
                        continue
                elif first.status_code == 200:
                    self.stats.durable_unused_codes += 1
                if first.status_code != 200:
                    what = "in flight at the kill" if code.state == "maybe" else "never presented"
                    self.fail(f"a code {what} answered {answer(first)} after the restart")
                    continue
                self.record(first.json()["access_token"], self.issuer, self.code_client)
                again = self.redeem(session, code)
                self.count("check")
                if again.status_code != 400 or response_error(again) != "invalid_grant":
                    self.fail(f"a code worked twice after the restart: second answer {answer(again)}")

    def check_clients_and_keys(self) -> None:
        assert self.server is not None
        with requests.Session() as session:
            for client in list(self.cc_clients):
                response = self.client_credentials(session, client)
                self.count("check")
                if response.status_code != 200:
                    self.fail(f"client {client.client_id} ({client.raw.get('client_name')}) no longer authenticates "
                              f"after the restart: {response.status_code} {short(response.text)}")
                else:
                    self.record(response.json()["access_token"], API, client)
        jwks_kids = {key["kid"] for key in harness.fetch_jwks(self.server)["keys"]}
        with self.lock:
            signed = {token.kid for token in self.tokens}
        missing = signed - jwks_kids
        if missing:
            self.fail(f"kids that signed tokens clients received are missing from the JWKS: {sorted(missing)}")

    # -- the whole run ----------------------------------------------------------------

    def run(self) -> int:
        started = time.monotonic()
        self.start()
        for index in range(1, self.args.kills + 1):
            self.round = index
            self.round_once()
        self.round = self.args.kills + 1
        assert self.server is not None
        jwks = harness.fetch_jwks(self.server)
        verify_started = time.monotonic()
        verification = harness.verify_tokens(self.tokens, jwks)
        self.verify_seconds = time.monotonic() - verify_started
        for failure in verification.failures[:50]:
            self.fail(f"final JWKS verification: {failure}")
        if len(verification.failures) > 50:
            self.fail(f"final JWKS verification: {len(verification.failures) - 50} more failures")

        status = harness.stop(self.server)
        if status != 0:
            self.fail(f"the last server exited {status} after SIGTERM")
        self.check_logs()
        self.print_summary(time.monotonic() - started, verification, jwks)
        return 1 if self.failures else 0

    def check_logs(self) -> None:
        needles = ("sqlite_busy", "database is locked", "maintenance failed", "status=5")
        for server in self.warden.servers:
            if server.stderr().strip():
                self.fail(f"server on port {server.port} wrote to stderr: {short(server.stderr())}")
            for line in server.stdout().splitlines():
                lowered = line.lower()
                if any(needle in lowered for needle in needles) or " error " in lowered[:40] or " critical " in lowered[:40]:
                    self.fail(f"server log: {short(line)}")

    def print_summary(self, seconds: float, verification, jwks: dict) -> None:
        stats = self.stats
        total = sum(stats.requests.values())
        restarts = stats.restarts_seconds
        print()
        print("crash durability summary")
        print(f"  seed                       {self.args.seed}")
        print(f"  database_durability        {self.args.durability or 'default'}")
        print(f"  kills (SIGKILL)            {stats.kills}")
        print(f"  requests                   {total}")
        for kind, number in sorted(stats.requests.items()):
            print(f"    {kind:<28} {number}")
        print(f"  rotations in flight        {stats.in_flight_rotations} at a kill, "
              f"{stats.in_flight_rotations_committed} of them committed before it")
        print(f"  redemptions in flight      {stats.in_flight_codes} at a kill, "
              f"{stats.in_flight_codes_committed} of them committed before it")
        print(f"  unused codes still valid   {stats.durable_unused_codes}")
        print(f"  clients created by the CLI {stats.clients_created}; keys rotated --now: {stats.keys_rotated}")
        print(f"  JWKS keys at the end       {len(jwks.get('keys', []))}")
        print(f"  access tokens received     {len(self.tokens)}; verified against the final JWKS "
              f"(PyJWT and joserfc, {self.verify_seconds:.1f} s): {verification.checked}; "
              f"expired, skipped: {verification.expired}")
        if restarts:
            print(f"  restart to healthy         mean {sum(restarts) / len(restarts):.2f} s, max {max(restarts):.2f} s")
        print(f"  duration                   {seconds:.1f} s")
        print(f"  failures                   {len(self.failures)}")
        for failure in self.failures[:100]:
            print(f"    - {failure}")
        print("RESULT: " + ("FAIL" if self.failures else "PASS"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=20, help="how many times to SIGKILL the server (default 20)")
    parser.add_argument("--binary", help="the warden binary (default $WARDEN_BINARY, else .build/debug/warden)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the random kill moments (default: random, printed)")
    parser.add_argument("--durability", choices=("full", "normal"), default=None,
                        help="database_durability for the server and the CLI (default: the server's own default)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (kept anyway on failure)")
    args = parser.parse_args(argv)
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 2**31)
    if args.kills < 1:
        parser.error("--kills must be at least 1")
    binary = harness.use_binary(args.binary)
    harness.install_cleanup()
    root = Path(tempfile.mkdtemp(prefix="warden-crash-"))
    print(f"crash durability: {args.kills} kills, seed {args.seed}, binary {binary}, "
          f"durability {args.durability or 'default'}, directory {root}", flush=True)
    run = CrashRun(args, root)
    status = 1
    try:
        status = run.run()
    except BaseException as error:
        print(f"run aborted: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
        for failure in run.failures:
            print(f"  - {failure}", file=sys.stderr)
        status = 1 if not isinstance(error, SystemExit) else (error.code or 1)
        if not isinstance(error, (AssertionError, SystemExit, KeyboardInterrupt)):
            import traceback
            traceback.print_exc()
    finally:
        status = harness.finish_run(run.warden, root, status, args.keep)
    return status


if __name__ == "__main__":
    sys.exit(main())
