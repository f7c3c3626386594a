"""OPERATIONS.md, tracing: OpenTelemetry traces over OTLP/HTTP (protobuf), off unless the
standard `OTEL_*` variables ask for them. One server span per request named `METHOD ROUTE`
with the HTTP semantic conventions; child spans for client authentication, password
hashing, database work and signing; a W3C `traceparent` is continued; no span carries a
secret; an unreachable collector never slows or fails a request. Logs, with tracing on:
every request line carries the server span's `trace_id` and `span_id`.

The collector is a stub in this file: a threaded HTTP server on 127.0.0.1 that decodes
every `ExportTraceServiceRequest` (gzip too, when Content-Encoding says so) and keeps each
span with its resource attributes and the raw (decoded) body it came in. The servers export
every 100 ms (`OTEL_BSP_SCHEDULE_DELAY`) and the tests poll the stub with a deadline. Every
process gets the caller's environment without any `OTEL_*` variable, plus what a test sets.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import re
import secrets
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlencode

import pytest
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status as ProtoStatus

from interop import (
    SHUTDOWN_TIMEOUT,
    read_request_body,
    UserAgent,
    Warden,
    assert_redirect_to,
    authorization_params,
    finish,
    free_port,
    jwt_header,
    pkce_pair,
    wait_until,
)

REDIRECT = "http://127.0.0.1:8765/callback"
AUDIENCE = "https://api.example.com"
#: Export every 100 ms (the default is 5 s).
FAST_EXPORT = {"OTEL_BSP_SCHEDULE_DELAY": "100"}
#: How long a test waits for spans to arrive at the stub.
SPAN_TIMEOUT = 10.0
#: How long a test that expects nothing waits before it concludes that nothing came
#: (many export intervals of 100 ms; the server is also stopped, which flushes).
QUIET_SECONDS = 1.0
SERVER = ProtoSpan.SpanKind.SPAN_KIND_SERVER
STATUS_ERROR = ProtoStatus.StatusCode.STATUS_CODE_ERROR


# -- the collector stub -----------------------------------------------------------------------


def any_value(value):
    """An OTLP AnyValue as a Python value."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {item.key: any_value(item.value) for item in value.kvlist_value.values}
    return getattr(value, kind)


def attributes(pairs) -> dict:
    return {pair.key: any_value(pair.value) for pair in pairs}


@dataclass
class CollectedSpan:
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict
    status_code: int
    resource: dict
    scope: str
    raw: bytes = field(repr=False)

    @property
    def is_server(self) -> bool:
        return self.kind == SERVER


@dataclass
class Export:
    path: str
    headers: dict
    body: bytes  # decoded (gunzipped) protobuf


class Collector:
    """An OTLP/HTTP trace receiver on 127.0.0.1 (any path): every span it is sent, in order."""

    def __init__(self):
        self.lock = threading.Lock()
        self.exports: list[Export] = []
        self.spans: list[CollectedSpan] = []
        self.errors: list[str] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802
                try:
                    body = self.read_body()
                    encoding = (self.headers.get("Content-Encoding") or "identity").strip().lower()
                    if encoding == "gzip":
                        body = gzip.decompress(body)
                    elif encoding != "identity":
                        raise ValueError(f"unsupported Content-Encoding {encoding!r}")
                    request = ExportTraceServiceRequest()
                    request.ParseFromString(body)
                except Exception as error:  # noqa: BLE001 - recorded, then the test fails on it
                    with collector.lock:
                        collector.errors.append(f"{self.path}: {error!r}")
                    self.answer(400, b"")
                    return
                collector.receive(self.path, dict(self.headers), body, request)
                self.answer(200, ExportTraceServiceResponse().SerializeToString())

            def read_body(self) -> bytes:
                return read_request_body(self)

            def answer(self, status: int, body: bytes):
                self.send_response(status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def receive(self, path: str, headers: dict, body: bytes, request: ExportTraceServiceRequest) -> None:
        spans = []
        for resource_spans in request.resource_spans:
            resource = attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    spans.append(CollectedSpan(
                        name=span.name, kind=span.kind, trace_id=span.trace_id.hex(), span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(), attributes=attributes(span.attributes),
                        status_code=span.status.code, resource=resource, scope=scope_spans.scope.name,
                        raw=span.SerializeToString(),
                    ))
        with self.lock:
            self.exports.append(Export(path, headers, body))
            self.spans.extend(spans)

    def mark(self) -> int:
        with self.lock:
            return len(self.spans)

    def since(self, mark: int = 0) -> list[CollectedSpan]:
        with self.lock:
            return list(self.spans[mark:])

    def trace(self, trace_id: str) -> list[CollectedSpan]:
        return [span for span in self.since() if span.trace_id == trace_id]

    def wait_for(self, predicate, message: str, timeout: float = SPAN_TIMEOUT):
        """Polls until `predicate(spans)` returns something truthy, which it returns."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate(self.since())
            if value:
                return value
            if time.monotonic() >= deadline:
                seen = [(s.name, s.trace_id, s.span_id, s.parent_span_id) for s in self.since()[-30:]]
                raise AssertionError(f"{message} within {timeout}s; the last spans seen: {seen}; errors: {self.errors}")
            time.sleep(0.05)

    def server_span(self, trace_id: str, name: str | None = None) -> CollectedSpan:
        """Waits for the one server span of `trace_id` (and `name`)."""
        def found(spans):
            matches = [s for s in spans if s.trace_id == trace_id and s.is_server and (name is None or s.name == name)]
            return matches or None
        matches = self.wait_for(found, f"no server span {name or ''} in trace {trace_id}")
        assert len(matches) == 1, matches
        return matches[0]

    def sync(self, server) -> int:
        """A marker request; once its span has arrived, every span that ended before it has
        too (the batch processor exports in order). Returns the mark after it."""
        parent = Traceparent()
        response = requests.get(server.url("/healthz"), headers={"traceparent": parent.header}, timeout=10)
        assert response.status_code == 200
        self.server_span(parent.trace_id)
        return self.mark()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class Traceparent:
    """A W3C trace context the test plays the caller of (sampled unless `flags` says not)."""

    trace_id: str = field(default_factory=lambda: secrets.token_hex(16))
    parent_id: str = field(default_factory=lambda: secrets.token_hex(8))
    flags: str = "01"

    @property
    def header(self) -> str:
        return f"00-{self.trace_id}-{self.parent_id}-{self.flags}"


def descendants(spans: list[CollectedSpan], root: CollectedSpan) -> list[CollectedSpan]:
    """The spans of `root`'s trace whose parent_span_id chain leads to `root`."""
    by_id = {span.span_id: span for span in spans if span.trace_id == root.trace_id}
    found = []
    for span in by_id.values():
        seen, current = set(), span
        while current.parent_span_id and current.parent_span_id not in seen:
            seen.add(current.parent_span_id)
            if current.parent_span_id == root.span_id:
                found.append(span)
                break
            current = by_id.get(current.parent_span_id)
            if current is None:
                break
    return found


def names(spans: list[CollectedSpan]) -> list[str]:
    return sorted(span.name for span in spans)


# -- processes -------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def no_otel_environment():
    """Nothing of the caller's OTEL_* applies: each server gets only what its test sets."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("OTEL_"):
                patch.delenv(name)
        yield


@pytest.fixture(scope="module")
def collector():
    stub = Collector()
    yield stub
    stub.close()


@dataclass
class Traced:
    installation: Warden
    server: object
    collector: Collector
    client: object  # client_credentials, client_secret_basic
    code_client: object  # confidential code client for openid, skipping consent


@pytest.fixture(scope="module")
def traced(tmp_path_factory, collector):
    """One server exporting to the stub, JSON logs."""
    installation = Warden(tmp_path_factory.mktemp("tracing"), config={"log_format": "json"})
    client = installation.create_client(name="cc", scope="read", audiences=(AUDIENCE,))
    code_client = installation.create_code_client(
        "web", (REDIRECT,), "openid profile offline_access", public=False, extra=("--skip-consent",),
    )
    server = installation.start_server(env={"OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint, **FAST_EXPORT})
    yield Traced(installation, server, collector, client, code_client)
    finish(installation)


def token_request(server, client, headers: dict | None = None, session=None) -> requests.Response:
    return (session or requests).post(
        server.url("/token"), data={"grant_type": "client_credentials"}, auth=client.basic,
        headers=headers or {}, timeout=10,
    )


def log_lines(server) -> list[dict]:
    return [json.loads(line) for line in server.stdout().splitlines() if line.strip()]


def request_line(server, request_id: str) -> dict:
    lines = wait_until(
        lambda: [line for line in log_lines(server) if line.get("message") == "request" and line.get("request_id") == request_id],
        message=f"no request log line with request_id {request_id}",
    )
    assert len(lines) == 1, lines
    return lines[0]


def stop_cleanly(server) -> float:
    """SIGTERM; the server must exit 0 within the fixture's limit. Returns the seconds it took."""
    started = time.monotonic()
    status = server.stop()
    elapsed = time.monotonic() - started
    assert status == 0, f"exit status {status} after SIGTERM; stderr: {server.stderr()!r}"
    assert elapsed < SHUTDOWN_TIMEOUT, elapsed
    return elapsed


# -- off unless asked for ---------------------------------------------------------------------


def default_port_listener() -> socket.socket | None:
    """A listener on the OTLP/HTTP default port 4318 on 127.0.0.1, when that port is free."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", 4318))
    except OSError:
        sock.close()
        return None
    sock.listen(16)
    sock.setblocking(False)
    return sock


def exercise(server, client) -> None:
    """A few requests of several kinds, all expected to succeed."""
    for _ in range(3):
        assert token_request(server, client, {"traceparent": Traceparent().header}).status_code == 200
    assert requests.get(server.url("/.well-known/jwks.json"), timeout=10).status_code == 200
    assert requests.get(server.url(f"/nothing-{uuid.uuid4().hex}"), timeout=10).status_code == 404


def test_tracing_is_off_without_the_otel_variables(warden, collector):
    """Nothing set but the batch delay and an unrelated variable naming the stub: no span
    reaches the stub (nor the default port 4318, when this test can listen there), and the
    request log lines carry no trace_id / span_id."""
    warden.write_config({"log_format": "json"})
    client = warden.create_client(name="cc", scope="read", audiences=(AUDIENCE,))
    default_port = default_port_listener()
    try:
        mark = collector.mark()
        server = warden.start_server(env={"COLLECTOR_URL": collector.endpoint, **FAST_EXPORT})
        exercise(server, client)
        time.sleep(QUIET_SECONDS)
        stop_cleanly(server)
        assert collector.since(mark) == []
        if default_port is not None:
            try:
                connection, _ = default_port.accept()
            except BlockingIOError:
                connection = None
            assert connection is None, "the server connected to the OTLP default port 4318 with tracing off"
    finally:
        if default_port is not None:
            default_port.close()
    lines = [line for line in log_lines(server) if line.get("message") == "request"]
    assert len(lines) >= 5, server.stdout()
    for line in lines:
        assert "trace_id" not in line and "span_id" not in line, line


def test_otel_sdk_disabled_wins_over_an_endpoint(warden, collector):
    warden.write_config({"log_format": "json"})
    client = warden.create_client(name="cc", scope="read", audiences=(AUDIENCE,))
    mark = collector.mark()
    server = warden.start_server(env={
        "OTEL_SDK_DISABLED": "true",
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": collector.endpoint + "/v1/traces",
        **FAST_EXPORT,
    })
    exercise(server, client)
    time.sleep(QUIET_SECONDS)
    stop_cleanly(server)
    assert collector.since(mark) == []
    for line in log_lines(server):
        if line.get("message") == "request":
            assert "trace_id" not in line and "span_id" not in line, line


# -- the spans of a request ---------------------------------------------------------------------


def test_a_token_request_continues_the_callers_trace(traced):
    collector, server = traced.collector, traced.server
    parent = Traceparent()
    response = token_request(server, traced.client, {"traceparent": parent.header})
    assert response.status_code == 200, response.text

    root = collector.server_span(parent.trace_id)
    assert root.name == "POST /token", root
    assert root.kind == SERVER
    assert root.parent_span_id == parent.parent_id, root
    assert re.fullmatch(r"[0-9a-f]{16}", root.span_id) and root.span_id != "0" * 16
    expected = {
        "http.request.method": "POST",
        "http.route": "/token",
        "http.response.status_code": 200,
        "url.scheme": "http",
        "server.address": "127.0.0.1",
    }
    assert {key: root.attributes.get(key) for key in expected} == expected, root.attributes
    assert root.status_code != STATUS_ERROR, root
    assert root.resource.get("service.name") == "warden", root.resource

    def children(spans):
        below = descendants(spans, root)
        wanted = {"client authentication", "sign access token", "sqlite read"}
        return below if wanted <= {span.name for span in below} else None

    below = collector.wait_for(children, "client authentication, sign access token and sqlite read under POST /token")
    assert all(span.trace_id == parent.trace_id and not span.is_server for span in below), below
    by_name = {span.name: span for span in below}
    assert by_name["client authentication"].attributes.get("warden.client_authentication.method") == "client_secret_basic"
    assert by_name["sign access token"].attributes.get("warden.signing.algorithm") == "ES256"
    for span in below:
        if span.name in ("sqlite read", "sqlite write"):
            assert span.attributes.get("db.system") == "sqlite", span
    # Everything of the trace is the server span or below it, and exported to /v1/traces.
    assert {span.span_id for span in collector.trace(parent.trace_id)} == {root.span_id} | {s.span_id for s in below}
    export = [e for e in collector.exports if bytes.fromhex(root.span_id) in e.body][0]
    assert export.path == "/v1/traces", export.path
    assert export.headers.get("Content-Type", "").split(";")[0] == "application/x-protobuf", export.headers
    assert collector.errors == []


@pytest.mark.parametrize("header", [
    None,
    "not a traceparent",
    "00-00000000000000000000000000000000-b7ad6b7169203331-01",  # the all-zero trace id is invalid
    "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",  # so is the all-zero parent id
], ids=["none", "garbage", "zero trace id", "zero parent id"])
def test_a_request_without_a_valid_traceparent_starts_a_new_trace(traced, header):
    collector, server = traced.collector, traced.server
    mark = collector.sync(server)
    headers = {} if header is None else {"traceparent": header}
    for _ in range(2):
        assert token_request(server, traced.client, headers).status_code == 200

    roots = collector.wait_for(
        lambda spans: (lambda found: found if len(found) >= 2 else None)(
            [s for s in spans[mark:] if s.is_server and s.name == "POST /token"]),
        "two POST /token server spans",
    )
    assert len(roots) == 2, roots
    assert roots[0].trace_id != roots[1].trace_id, "two requests, one trace"
    for root in roots:
        assert root.parent_span_id == "", f"not a root span: {root}"
        assert re.fullmatch(r"[0-9a-f]{32}", root.trace_id) and root.trace_id != "0" * 32, root
        assert root.trace_id != "0af7651916cd43dd8448eb211c80319c", root
        assert {"client authentication", "sign access token"} <= set(names(descendants(collector.since(mark), root)))


def test_the_service_name_and_resource_attributes_come_from_the_environment(warden, collector):
    client = warden.create_client(name="cc", scope="read", audiences=(AUDIENCE,))
    service = "warden-" + secrets.token_hex(4)
    server = warden.start_server(env={
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
        "OTEL_SERVICE_NAME": service,
        # OTEL_SERVICE_NAME wins over a service.name here (OpenTelemetry SDK configuration).
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=test,service.name=not-this-one,team=identity",
        **FAST_EXPORT,
    })
    parent = Traceparent()
    assert token_request(server, client, {"traceparent": parent.header}).status_code == 200
    root = collector.server_span(parent.trace_id, "POST /token")
    assert root.resource.get("service.name") == service, root.resource
    assert root.resource.get("deployment.environment") == "test", root.resource
    assert root.resource.get("team") == "identity", root.resource
    below = collector.wait_for(lambda spans: descendants(spans, root) or None, "no child span")
    assert all(span.resource == root.resource for span in below), below


def test_a_traces_endpoint_is_used_as_is(warden, collector):
    client = warden.create_client(name="cc", scope="read", audiences=(AUDIENCE,))
    path = f"/custom/{secrets.token_hex(4)}/traces"
    server = warden.start_server(env={
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": collector.endpoint + path,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        **FAST_EXPORT,
    })
    parent = Traceparent()
    assert token_request(server, client, {"traceparent": parent.header}).status_code == 200
    root = collector.server_span(parent.trace_id, "POST /token")
    exports = [e for e in list(collector.exports) if bytes.fromhex(root.span_id) in e.body]
    assert [e.path for e in exports] == [path], [e.path for e in exports]


def openid_flow(traced, parent: Traceparent, *, state: str, nonce: str, user, verifier: str, challenge: str):
    """Login (no consent: the client skips it) to a code, then the token request, all
    with `parent` as traceparent. Returns (agent, code, token response body, /authorize query)."""
    server, client = traced.server, traced.code_client
    agent = UserAgent(server)
    agent.http.headers["traceparent"] = parent.header
    params = authorization_params(client, REDIRECT, scope="openid profile offline_access", state=state,
                                  challenge=challenge, nonce=nonce)
    response = agent.authorization(params, user, expect_login=True, expect_consent=False)
    result = assert_redirect_to(response, REDIRECT)
    assert result.get("state") == state and "code" in result, result
    code = result["code"]
    response = requests.post(server.url("/token"), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier,
    }, auth=client.basic, headers={"traceparent": parent.header}, timeout=30)
    assert response.status_code == 200, response.text
    body = response.json()
    assert {"access_token", "refresh_token", "id_token"} <= set(body), body
    return agent, code, body, urlencode(params)


def test_a_code_flow_with_login_traces_password_hashing_writes_and_the_id_token(traced):
    collector, installation = traced.collector, traced.installation
    user = installation.create_user("ada-" + secrets.token_hex(3))
    verifier, challenge = pkce_pair()
    parent = Traceparent()
    _, _, body, _ = openid_flow(traced, parent, state=secrets.token_urlsafe(12), nonce=secrets.token_urlsafe(12),
                                user=user, verifier=verifier, challenge=challenge)

    login = collector.server_span(parent.trace_id, "POST /login")
    assert login.parent_span_id == parent.parent_id
    assert login.attributes.get("http.route") == "/login" and login.attributes.get("http.response.status_code") == 303
    token = collector.server_span(parent.trace_id, "POST /token")
    assert token.attributes.get("http.response.status_code") == 200

    def under(root, wanted):
        def check(spans):
            below = descendants(spans, root)
            return below if wanted <= {span.name for span in below} else None
        return collector.wait_for(check, f"{sorted(wanted)} under {root.name}")

    below_login = under(login, {"password hashing", "sqlite write"})
    for span in below_login:
        if span.name.startswith("sqlite"):
            assert span.attributes.get("db.system") == "sqlite", span
    below_token = under(token, {"client authentication", "sign access token", "sign ID token"})
    signing = [span for span in below_token if span.name == "sign ID token"]
    # The algorithm the ID token is signed with (RS256 unless the client registered another).
    id_token_algorithm = jwt_header(body["id_token"])["alg"]
    assert len(signing) == 1 and signing[0].attributes.get("warden.signing.algorithm") == id_token_algorithm, signing
    access = [span for span in below_token if span.name == "sign access token"]
    assert len(access) == 1 and access[0].attributes.get("warden.signing.algorithm") == jwt_header(body["access_token"])["alg"]
    assert not [span for span in below_token if span.name == "password hashing"], names(below_token)
    # Two GET /authorize spans too (the login page, then the redirect with the code).
    authorize = [s for s in collector.trace(parent.trace_id) if s.is_server and s.name == "GET /authorize"]
    assert len(authorize) == 2 and all(s.parent_span_id == parent.parent_id for s in authorize), authorize


def test_no_span_carries_a_secret_token_code_or_password(traced):
    collector, server, installation, client = traced.collector, traced.server, traced.installation, traced.code_client
    user = installation.create_user("grace-" + secrets.token_hex(3))
    verifier, challenge = pkce_pair()
    state, nonce = "state-" + secrets.token_urlsafe(16), "nonce-" + secrets.token_urlsafe(16)
    parent = Traceparent()
    headers = {"traceparent": parent.header}
    mark = collector.sync(server)
    agent, code, body, flow_query = openid_flow(traced, parent, state=state, nonce=nonce, user=user, verifier=verifier,
                                    challenge=challenge)
    access, refresh, id_token = body["access_token"], body["refresh_token"], body["id_token"]
    response = requests.get(server.url("/userinfo"), headers={"Authorization": f"Bearer {access}", **headers}, timeout=10)
    assert response.status_code == 200, response.text
    response = requests.post(server.url("/token"), data={"grant_type": "refresh_token", "refresh_token": refresh},
                             auth=client.basic, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    refreshed = response.json()
    response = requests.post(server.url("/introspect"), data={"token": refreshed["access_token"]}, auth=client.basic,
                             headers=headers, timeout=10)
    assert response.status_code == 200 and response.json()["active"] is True, response.text
    response = requests.post(server.url("/revoke"), data={"token": refreshed["refresh_token"]}, auth=client.basic,
                             headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    # A failed client authentication and a failed login, with their wrong secrets.
    wrong_secret = "wrong-secret-" + secrets.token_urlsafe(12)
    response = requests.post(server.url("/token"), data={"grant_type": "client_credentials"},
                             auth=(traced.client.client_id, wrong_secret), headers=headers, timeout=10)
    assert response.status_code == 401, response.text
    wrong_password = "wrong-password-" + secrets.token_urlsafe(12)
    stranger = UserAgent(server)
    stranger.http.headers["traceparent"] = parent.header
    page = stranger.authorize(authorization_params(client, REDIRECT, scope="openid", state=state, challenge=challenge,
                                                   nonce=nonce))
    assert stranger.login(page, user.username, wrong_password).status_code == 200
    query = urlencode(authorization_params(client, REDIRECT, scope="openid", state=state, challenge=challenge,
                                           nonce=nonce))
    assert stranger.get("/authorize?" + query).status_code == 200

    collector.server_span(parent.trace_id, "POST /revoke")
    collector.sync(server)
    spans = collector.since(mark)
    assert len([s for s in spans if s.trace_id == parent.trace_id and s.is_server]) >= 10, names(spans)
    secrets_used = {
        "client secret": client.client_secret,
        "other client secret": traced.client.client_secret,
        "wrong client secret": wrong_secret,
        "password": user.password,
        "wrong password": wrong_password,
        "authorization code": code,
        "access token": access,
        "refresh token": refresh,
        "ID token": id_token,
        "refreshed access token": refreshed["access_token"],
        "refreshed refresh token": refreshed["refresh_token"],
        "code_verifier": verifier,
        "state": state,
        "nonce": nonce,
        "/authorize query string": flow_query,
        "second /authorize query string": query,
        "session cookie": agent.session_cookie,
    }
    assert all(secrets_used.values()), secrets_used
    for span in spans:
        texts = [span.name, *span.attributes.keys(), *map(str, flatten(span.attributes.values()))]
        for what, value in secrets_used.items():
            assert not [text for text in texts if value in text], f"the {what} appears in span {span}"
            assert value.encode() not in span.raw, f"the {what} appears in the encoding of span {span.name}"
    for export in collector.exports:
        for what, value in secrets_used.items():
            assert value.encode() not in export.body, f"the {what} was exported to {export.path}"


def flatten(values):
    for value in values:
        if isinstance(value, (list, tuple)):
            yield from flatten(value)
        elif isinstance(value, dict):
            yield from value.keys()
            yield from flatten(value.values())
        else:
            yield value


def test_an_unmatched_path_is_named_by_its_method_alone(traced):
    collector, server = traced.collector, traced.server
    random = uuid.uuid4().hex
    for method, path in (("GET", f"/random-path-{random}"), ("POST", f"/token/{random}"),
                         ("GET", f"/.well-known/{random}?q={random}")):
        parent = Traceparent()
        response = requests.request(method, server.url(path), headers={"traceparent": parent.header}, timeout=10)
        assert response.status_code == 404, response.text[:300]
        root = collector.server_span(parent.trace_id)
        assert root.name == method, f"{method} {path}: span named {root.name!r}"
        assert "http.route" not in root.attributes, root.attributes
        assert root.attributes.get("http.request.method") == method, root.attributes
        assert root.attributes.get("http.response.status_code") == 404, root.attributes
        assert root.status_code != STATUS_ERROR, "a 404 is not a server error"
        for span in collector.trace(parent.trace_id):
            texts = [span.name, *span.attributes.keys(), *map(str, flatten(span.attributes.values()))]
            assert not [text for text in texts if random in text or "random-path" in text], span


# -- logs ----------------------------------------------------------------------------------------


def test_the_request_log_line_carries_the_server_spans_ids(traced):
    collector, server = traced.collector, traced.server
    # With a traceparent...
    parent = Traceparent()
    request_id = "trace-" + secrets.token_hex(8)
    assert token_request(server, traced.client, {"traceparent": parent.header, "X-Request-Id": request_id}).status_code == 200
    root = collector.server_span(parent.trace_id, "POST /token")
    line = request_line(server, request_id)
    assert (line.get("trace_id"), line.get("span_id")) == (root.trace_id, root.span_id), line
    # ...and without one.
    mark = collector.sync(server)
    request_id = "trace-" + secrets.token_hex(8)
    assert requests.get(server.url("/.well-known/jwks.json"), headers={"X-Request-Id": request_id}, timeout=10).status_code == 200
    roots = collector.wait_for(
        lambda spans: [s for s in spans[mark:] if s.is_server and s.name == "GET /.well-known/jwks.json"] or None,
        "no GET /.well-known/jwks.json span",
    )
    assert len(roots) == 1, roots
    line = request_line(server, request_id)
    assert (line.get("trace_id"), line.get("span_id")) == (roots[0].trace_id, roots[0].span_id), line


def test_text_log_lines_carry_the_ids_too(warden, collector):
    warden.write_config({"log_format": "text"})
    client = warden.create_client(name="cc", scope="read", audiences=(AUDIENCE,))
    server = warden.start_server(env={"OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint, **FAST_EXPORT})
    parent = Traceparent()
    request_id = "text-" + secrets.token_hex(8)
    assert token_request(server, client, {"traceparent": parent.header, "X-Request-Id": request_id}).status_code == 200
    root = collector.server_span(parent.trace_id, "POST /token")
    line = wait_until(lambda: [l for l in server.stdout().splitlines() if request_id in l] or None,
                      message="no request log line")[0]
    assert f"trace_id={root.trace_id}" in line, line
    assert f"span_id={root.span_id}" in line, line


# -- sampling ------------------------------------------------------------------------------------


@pytest.mark.parametrize("sampler", [
    {"OTEL_TRACES_SAMPLER": "always_off"},
    {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0"},
], ids=["always_off", "traceidratio 0"])
def test_a_sampler_that_samples_nothing_exports_nothing(warden, collector, sampler):
    client = warden.create_client(name="cc", scope="read", audiences=(AUDIENCE,))
    mark = collector.mark()
    server = warden.start_server(env={"OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint, **sampler, **FAST_EXPORT})
    for _ in range(5):
        assert token_request(server, client).status_code == 200
    exercise(server, client)
    time.sleep(QUIET_SECONDS)
    stop_cleanly(server)
    assert collector.since(mark) == [], names(collector.since(mark))


def test_an_unsampled_traceparent_is_not_recorded_by_default(traced):
    """The default sampler is parentbased_always_on: a caller's unsampled decision is kept."""
    collector, server = traced.collector, traced.server
    unsampled, sampled = Traceparent(flags="00"), Traceparent()
    assert token_request(server, traced.client, {"traceparent": unsampled.header}).status_code == 200
    assert token_request(server, traced.client, {"traceparent": sampled.header}).status_code == 200
    collector.server_span(sampled.trace_id, "POST /token")
    collector.sync(server)
    assert collector.trace(unsampled.trace_id) == [], names(collector.trace(unsampled.trace_id))


# -- an unreachable collector -----------------------------------------------------------------------


class Blackhole:
    """A TCP listener that accepts every connection and never answers (nor closes)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.connections: list[socket.socket] = []
        self.running = True
        self.thread = threading.Thread(target=self.accept, daemon=True)
        self.thread.start()

    def accept(self):
        self.sock.settimeout(0.2)
        while self.running:
            try:
                connection, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.connections.append(connection)

    def close(self):
        self.running = False
        self.thread.join(timeout=5)
        for connection in self.connections:
            connection.close()
        self.sock.close()


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[math.ceil(0.99 * len(ordered)) - 1]


#: Token requests timed against each server.
REQUESTS = 200
#: How much slower (p99) a request may be with the collector unreachable than with tracing off.
SLOWDOWN = 3.0


@pytest.mark.parametrize("case", ["closed port", "blackhole"])
def test_an_unreachable_collector_costs_nothing(tmp_path, case):
    """Two servers side by side, each with its own installation: one with tracing off (the
    baseline), one exporting to a collector that is a closed port, or a blackhole that
    accepts and never answers. The 200 token requests to each are interleaved, so that any
    noise of the machine hits both. Every request succeeds, the p99 latency is at most 3x the
    baseline's, and SIGTERM still ends the server with status 0 within the fixture's limit."""
    blackhole = Blackhole() if case == "blackhole" else None
    endpoint = f"http://127.0.0.1:{blackhole.port if blackhole else free_port()}"
    environments = {
        "tracing off": {},
        case: {
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            # A small queue, so that it fills up during the run and spans are dropped.
            "OTEL_BSP_MAX_QUEUE_SIZE": "64",
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "16",
            **FAST_EXPORT,
        },
    }
    installations, servers, clients, sessions = {}, {}, {}, {}
    try:
        for index, (name, env) in enumerate(environments.items()):
            installation = Warden(tmp_path / f"w{index}")
            installations[name] = installation
            clients[name] = installation.create_client(name="cc", scope="read", audiences=(AUDIENCE,))
            servers[name] = installation.start_server(env=env)
            sessions[name] = requests.Session()
        for name in environments:  # warm up
            for _ in range(20):
                assert token_request(servers[name], clients[name], session=sessions[name]).status_code == 200
        durations: dict[str, list[float]] = {name: [] for name in environments}
        failures: dict[str, list] = {name: [] for name in environments}
        for _ in range(REQUESTS):
            for name in environments:
                started = time.perf_counter()
                try:
                    status = token_request(servers[name], clients[name], session=sessions[name]).status_code
                except requests.RequestException as error:
                    status = repr(error)
                durations[name].append(time.perf_counter() - started)
                if status != 200:
                    failures[name].append(status)
        for session in sessions.values():
            session.close()
        report = {name: f"p99 {p99(d) * 1000:.1f} ms, max {max(d) * 1000:.1f} ms" for name, d in durations.items()}
        print(f"{case}: {report}")  # shown when the test fails
        assert failures == {name: [] for name in environments}, (failures, report)
        if blackhole is not None:
            assert blackhole.connections, "the server never tried to reach the blackhole collector"
        assert p99(durations[case]) <= SLOWDOWN * p99(durations["tracing off"]), report
        stop_cleanly(servers[case])
        assert not servers[case].stderr().strip(), servers[case].stderr()
        stop_cleanly(servers["tracing off"])
    finally:
        for installation in installations.values():
            for server in installation.servers:
                if not server.stopped:
                    server.process.kill()
                    server.process.wait(timeout=5)
                    server.stopped = True
        if blackhole is not None:
            blackhole.close()
    for installation in installations.values():
        finish(installation)


# -- background work -------------------------------------------------------------------------------


def test_every_span_belongs_to_a_request(traced):
    """Run last of the module's server: after all the requests above, every span exported is
    a server span or below one (background maintenance makes none)."""
    collector = traced.collector
    collector.sync(traced.server)
    spans = collector.since()
    assert spans
    by_id = {(span.trace_id, span.span_id): span for span in spans}
    for span in spans:
        current, hops = span, 0
        while not current.is_server:
            parent = by_id.get((current.trace_id, current.parent_span_id))
            assert parent is not None, f"span {span} is not below any server span"
            current, hops = parent, hops + 1
            assert hops < 50, span
    assert collector.errors == []
