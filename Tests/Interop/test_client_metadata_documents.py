"""Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document;
shared/design/DEVICES-AND-REGISTRATION.md, "Client ID Metadata Documents"; the issue 15
contract): a `client_id` that is a URL names the client's metadata document, which Warden
fetches, checks, caches and never stores.

- The MCP-style flow end to end: discovery (`client_id_metadata_document_supported`), the
  document published, the PKCE authorization code flow with `client_id` = the document URL and
  `resource` = the default audience through the login and consent pages (which name the URL's
  host, never the document's `client_name`), the code redeemed and the token refreshed by
  Authlib's OAuth2Session (a client library Warden does not use), the access token verified
  with joserfc and PyJWT against the JWKS. A private_key_jwt document client (inline `jwks`,
  joserfc keys) redeems its code with a signed assertion.
- /par works for document clients; an unusable document is `invalid_client` at /par and /revoke.
- Consent is asked every time; redirect URIs match exactly (no loopback any-port rule).
- Every refusal (invalid documents, fetch failures, a redirect not followed, a slow host) is
  the 400 error page at /authorize (never a redirect) and 401 `invalid_client` at /token.
- Caching: 300 s at least whatever Cache-Control says, failures remembered for 30 s, one fetch
  for concurrent first requests.
- SSRF: without `allow_http_client_metadata`, loopback hosts are refused before any connection
  (a raw TCP listener records connections); `client_id_metadata_documents` off means URL client
  ids are unknown clients; URLs of the wrong shape are never fetched.

Documents are served by `DocumentHost`, a loopback HTTP server that records every request it
receives. The main installation (`dev`) has `allow_http_client_metadata: true`, since that host
is http on 127.0.0.1; `strict` has the default (off); `off` has the feature off. All SQLite.
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

from interop import (
    NO_FAILURE_LIMITS,
    Page,
    Server,
    User,
    UserAgent,
    Warden,
    assert_authorization_error,
    assert_html_page,
    assert_oauth_error,
    assert_redirect_to,
    finish,
    jwt_header,
    pkce_pair,
    redirect_target,
    verify_with_joserfc,
    verify_with_pyjwt,
)
from proof_of_possession import assertion_form, new_key, public_jwks

#: The redirect URI the documents list (nothing listens: the code is read from Location).
REDIRECT = "http://127.0.0.1:8765/callback"
#: The same loopback redirect URI on another port: a stored client would be allowed it.
OTHER_PORT = "http://127.0.0.1:8766/callback"
#: A name a document may claim; the pages must never show it.
CLAIMED_NAME = "Totally Trustworthy Bank"
SCOPE = "profile offline_access"
#: The contract: a document is at most 5 KiB.
MAX_DOCUMENT = 5 * 1024
#: The contract: the whole fetch may take 5 seconds.
FETCH_TIMEOUT = 5.0
FETCH_FAILED = "The client's metadata document could not be fetched"
UNUSABLE = "The client's metadata document cannot be used: "


# -- document host and connection listener -------------------------------------------------------


class DocumentHost:
    """A loopback HTTP server for metadata documents. Each path answers what `serve` set
    (status, body, extra headers, a delay); unknown paths answer 404. Every request is
    recorded (path, method, headers) whatever it asked for."""

    def __init__(self):
        self.routes: dict[str, dict] = {}
        self.requests: dict[str, list[dict]] = defaultdict(list)
        self.lock = threading.Lock()
        host = self

        class Handler(BaseHTTPRequestHandler):
            def handle_any(self):
                path = urlsplit(self.path).path
                with host.lock:
                    host.requests[path].append({"method": self.command, "headers": dict(self.headers), "at": time.monotonic()})
                    route = dict(host.routes.get(path) or {"status": 404, "body": b"{}", "headers": {}, "delay": 0})
                if route["delay"]:
                    time.sleep(route["delay"])
                try:
                    self.send_response(route["status"])
                    headers = {"Content-Type": "application/json", **route["headers"]}
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(route["body"])))
                    self.end_headers()
                    self.wfile.write(route["body"])
                except (BrokenPipeError, ConnectionResetError):
                    pass  # Warden gave up (too slow, too big)

            do_GET = do_POST = do_HEAD = handle_any  # noqa: N815

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def new_path(self) -> str:
        return f"/clients/{secrets.token_hex(6)}/client.json"

    def serve(self, path: str, document: dict | None = None, *, body: bytes | None = None, status: int = 200,
              headers: dict[str, str] | None = None, delay: float = 0.0) -> str:
        """Sets what `path` answers from now on (the JSON of `document`, else `body`); returns its URL."""
        if body is None:
            body = json.dumps(document).encode()
        with self.lock:
            self.routes[path] = {"status": status, "body": body, "headers": headers or {}, "delay": delay}
        return self.url(path)

    def count(self, path: str) -> int:
        with self.lock:
            return len(self.requests[path])

    def received(self, path: str) -> list[dict]:
        with self.lock:
            return list(self.requests[path])

    def total(self) -> int:
        with self.lock:
            return sum(len(entries) for entries in self.requests.values())

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class ConnectionListener:
    """A TCP listener on 127.0.0.1 (and [::1] on the same port when it can) that records every
    connection, answers a plain HTTP 500 (so that a TLS client fails at once) and closes it:
    it proves whether Warden connected at all."""

    def __init__(self):
        self.connections: list[tuple[str, float]] = []
        self.lock = threading.Lock()
        self.sockets = [socket.create_server(("127.0.0.1", 0))]
        self.port = self.sockets[0].getsockname()[1]
        try:
            self.sockets.append(socket.create_server(("::1", self.port), family=socket.AF_INET6))
        except OSError:
            pass  # no IPv6 loopback here: localhost can only be 127.0.0.1
        for listener in self.sockets:
            threading.Thread(target=self.accept, args=(listener,), daemon=True).start()

    def accept(self, listener: socket.socket):
        while True:
            try:
                connection, address = listener.accept()
            except OSError:
                return
            with self.lock:
                self.connections.append((address[0], time.monotonic()))
            try:
                connection.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except OSError:
                pass
            connection.close()

    def count(self) -> int:
        with self.lock:
            return len(self.connections)

    def close(self):
        for listener in self.sockets:
            listener.close()


# -- installations --------------------------------------------------------------------------------


@dataclass
class Installation:
    warden: Warden
    server: Server
    alice: User

    @property
    def issuer(self) -> str:
        return self.server.issuer

    @property
    def token_endpoint(self) -> str:
        return self.server.issuer + "/token"


def install(tmp_path_factory, name: str, config: dict) -> Installation:
    warden = Warden(tmp_path_factory.mktemp(name), config={**NO_FAILURE_LIMITS, **config})
    alice = warden.create_user("alice")
    return Installation(warden, warden.start_server(), alice)


@pytest.fixture(scope="module")
def host():
    documents = DocumentHost()
    yield documents
    documents.close()


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    """Documents on, http on loopback allowed (development): the document host qualifies."""
    config = {"client_id_metadata_documents": True, "allow_http_client_metadata": True}
    installation = install(tmp_path_factory, "cimd-dev", config)
    yield installation
    finish(installation.warden)


@pytest.fixture(scope="module")
def strict(tmp_path_factory):
    """Documents on, the default production rules: https only, public addresses only."""
    installation = install(tmp_path_factory, "cimd-strict", {"client_id_metadata_documents": True})
    yield installation
    finish(installation.warden)


@pytest.fixture(scope="module")
def off(tmp_path_factory):
    """Documents off (the default), though http documents would be allowed: the switch alone decides."""
    installation = install(tmp_path_factory, "cimd-off", {"allow_http_client_metadata": True})
    yield installation
    finish(installation.warden)


@pytest.fixture
def listener():
    recorder = ConnectionListener()
    yield recorder
    recorder.close()


# -- helpers --------------------------------------------------------------------------------------


def document(url: str, **members) -> dict:
    """A valid public client's document for `url`; `members` override (None removes one)."""
    body = {
        "client_id": url,
        "client_name": CLAIMED_NAME,
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    }
    for name, value in members.items():
        if value is None:
            body.pop(name, None)
        else:
            body[name] = value
    return body


def publish(host: DocumentHost, **members) -> tuple[str, str]:
    """A valid document at a fresh path: (path, URL = client_id)."""
    path = host.new_path()
    url = host.url(path)
    host.serve(path, document(url, **members))
    return path, url


def authorization_query(client_id: str, *, redirect_uri: str = REDIRECT, challenge: str | None = None,
                        state: str | None = None, scope: str = SCOPE, **extra) -> dict:
    return {
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": scope,
        "state": state or secrets.token_urlsafe(12), "code_challenge": challenge or pkce_pair()[1],
        "code_challenge_method": "S256", **extra,
    }


def authorize(installation: Installation, client_id: str, agent: UserAgent | None = None, **params) -> requests.Response:
    """GET /authorize (redirects not followed) for `client_id`."""
    agent = agent or UserAgent(installation.server)
    return agent.authorize(authorization_query(client_id, **params))


def redeem_attempt(installation: Installation, client_id: str, **extra) -> requests.Response:
    """A code exchange by a public client named `client_id` (the code is made up: client
    authentication comes first)."""
    data = {"grant_type": "authorization_code", "client_id": client_id, "code": "not-a-real-code",
            "redirect_uri": REDIRECT, "code_verifier": pkce_pair()[0], **extra}
    return requests.post(installation.token_endpoint, data=data, timeout=30)


def assert_login_page(response: requests.Response) -> Page:
    page = assert_html_page(response)
    assert page.is_login, f"not the login page: {page.h1!r} {page.alerts!r}"
    return page


def assert_error_page(response: requests.Response) -> str:
    """The 400 HTML error page, not a redirect; returns its message."""
    page = assert_html_page(response, 400)
    assert not page.is_login and not page.is_consent, page.h1
    assert len(page.alerts) == 1, page.alerts
    return page.alerts[0]


def assert_document_refused(response: requests.Response, *, reason: str | None = None, fetch_failed: bool = False) -> str:
    """The error page of a document client Warden cannot use: `fetch_failed` (the fetch
    failed), else the document was refused (and its message names `reason`)."""
    message = assert_error_page(response)
    if fetch_failed:
        assert message == FETCH_FAILED, message
    else:
        assert message.startswith(UNUSABLE), message
        if reason is not None:
            assert reason in message[len(UNUSABLE):], f"{reason!r} not in {message!r}"
    return message


def assert_unknown_client(response: requests.Response) -> None:
    assert assert_error_page(response) == "Unknown client"


def assert_invalid_client(response: requests.Response) -> dict:
    return assert_oauth_error(response, "invalid_client", 401)


def sign_in_to_consent(installation: Installation, agent: UserAgent, client_id: str, **params) -> requests.Response:
    """/authorize, then the login page (Alice signs in): returns the consent page response."""
    response = authorize(installation, client_id, agent, **params)
    assert_login_page(response)
    response = agent.login(response, installation.alice.username, installation.alice.password)
    assert response.status_code == 303, response.text[:300]
    response = agent.follow(response)
    assert Page.parse(response.text).is_consent, response.text[:500]
    return response


def allow(agent: UserAgent, consent_page: requests.Response) -> requests.Response:
    """Answers the consent page with allow: the 303 back to the client is expected."""
    response = agent.consent(consent_page, "allow")
    assert response.status_code == 303, f"allowing answered {response.status_code}: {response.text[:300]!r}"
    return response


def code_flow(installation: Installation, client_id: str, agent: UserAgent | None = None) -> tuple[str, str]:
    """Alice signs in (if need be) and allows: (code, verifier)."""
    agent = agent or UserAgent(installation.server)
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(12)
    response, pages = agent.walk(authorize(installation, client_id, agent, challenge=challenge, state=state), installation.alice)
    assert "consent" in pages, pages
    result = assert_redirect_to(response, REDIRECT)
    assert result.get("state") == state and "code" in result, result
    return result["code"], verifier


# -- discovery --------------------------------------------------------------------------------------


def test_both_metadata_documents_say_client_id_metadata_documents_are_supported(dev):
    for path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
        response = requests.get(dev.server.url(path), timeout=10)
        assert response.status_code == 200, response.text
        assert response.json().get("client_id_metadata_document_supported") is True, (path, response.json())


def test_with_documents_off_the_member_is_absent_and_url_client_ids_are_unknown(off, host):
    for path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
        assert "client_id_metadata_document_supported" not in requests.get(off.server.url(path), timeout=10).json(), path
    path, url = publish(host)
    assert_unknown_client(authorize(off, url))
    assert_invalid_client(redeem_attempt(off, url))
    assert host.count(path) == 0, "the document was fetched though documents are off"


def test_the_development_setting_is_logged_as_a_warning(dev, strict):
    def warnings_about_it(server: Server) -> list[str]:
        return [line for line in server.stdout().splitlines() if "allow_http_client_metadata" in line and "warning" in line]

    assert warnings_about_it(dev.server), dev.server.stdout()[-2000:]
    assert not warnings_about_it(strict.server)


# -- the MCP flow -------------------------------------------------------------------------------------


def test_mcp_client_flow_with_authlib(dev, host):
    """An MCP client: discovery, its document, PKCE with resource, the pages, the token, a refresh."""
    metadata = requests.get(dev.server.url("/.well-known/oauth-authorization-server"), timeout=10).json()
    assert metadata["client_id_metadata_document_supported"] is True
    path, client_id = publish(host, scope="openid profile offline_access")
    session = OAuth2Session(client_id, token_endpoint_auth_method="none", redirect_uri=REDIRECT, scope=SCOPE,
                            code_challenge_method="S256")
    verifier = generate_token(48)
    url, _ = session.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier,
                                              resource=dev.issuer)

    agent = UserAgent(dev.server)
    login = agent.get(url)
    page = assert_login_page(login)
    assert "to continue to 127.0.0.1" in " ".join(page.text.split()), page.text
    assert CLAIMED_NAME not in login.text
    response = agent.follow(agent.login(login, dev.alice.username, dev.alice.password))
    consent = assert_html_page(response)
    assert consent.is_consent and consent.h1 == "Allow 127.0.0.1?", consent.h1
    assert CLAIMED_NAME not in response.text
    response = allow(agent, response)
    location = redirect_target(response)
    assert_redirect_to(response, REDIRECT)

    token = session.fetch_token(metadata["token_endpoint"], authorization_response=location, code_verifier=verifier)
    assert token["token_type"].lower() == "bearer" and token.get("refresh_token"), token
    access = token["access_token"]
    assert jwt_header(access)["typ"] == "at+jwt"
    jwks = requests.get(metadata["jwks_uri"], timeout=10).json()
    _, claims = verify_with_joserfc(access, jwks, issuer=dev.issuer, audience=dev.issuer)
    assert verify_with_pyjwt(access, metadata["jwks_uri"], issuer=dev.issuer, audience=dev.issuer) == claims
    assert claims["aud"] == dev.issuer and claims["client_id"] == client_id, claims
    assert claims["sub"] == dev.alice.id and claims["scope"] == SCOPE, claims

    renewed = session.refresh_token(metadata["token_endpoint"], refresh_token=token["refresh_token"])
    assert renewed["refresh_token"] != token["refresh_token"]
    renewed_claims = verify_with_pyjwt(renewed["access_token"], metadata["jwks_uri"], issuer=dev.issuer, audience=dev.issuer)
    assert renewed_claims["client_id"] == client_id and renewed_claims["sub"] == dev.alice.id, renewed_claims

    fetches = host.received(path)
    assert [entry["method"] for entry in fetches] == ["GET"], "one fetch for the whole flow (the document is cached)"
    accept = {name.lower(): value for name, value in fetches[0]["headers"].items()}.get("accept", "")
    assert "application/json" in accept, fetches[0]["headers"]


def test_private_key_jwt_document_client_redeems_its_code_with_an_assertion(dev, host):
    key, stranger = new_key("ES256", kid="doc-key"), new_key("ES256", kid="doc-key")
    _, client_id = publish(host, token_endpoint_auth_method="private_key_jwt", jwks=public_jwks(key))
    code, verifier = code_flow(dev, client_id)
    exchange = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier}

    def redeem(**authentication) -> requests.Response:
        return requests.post(dev.token_endpoint, data={**exchange, **authentication}, timeout=30)

    # Signed by a key the document does not list: refused (client authentication comes first).
    assert_invalid_client(redeem(**assertion_form(stranger, client_id, dev.token_endpoint)))
    # Without any assertion: a private_key_jwt client cannot pass for a public one.
    assert_invalid_client(redeem(client_id=client_id))

    response = redeem(**assertion_form(key, client_id, dev.token_endpoint))
    assert response.status_code == 200, response.text
    access = response.json()["access_token"]
    _, claims = verify_with_joserfc(access, dev.server.jwks(), issuer=dev.issuer, audience=dev.issuer)
    assert claims["client_id"] == client_id and claims["sub"] == dev.alice.id, claims


def test_the_pages_name_the_host_never_the_documents_client_name(dev, host):
    _, client_id = publish(host)
    login = authorize(dev, client_id)
    assert "to continue to 127.0.0.1" in " ".join(assert_login_page(login).text.split())
    assert CLAIMED_NAME not in login.text
    consent = sign_in_to_consent(dev, UserAgent(dev.server), client_id)
    assert Page.parse(consent.text).h1 == "Allow 127.0.0.1?"
    assert CLAIMED_NAME not in consent.text


def test_a_resource_other_than_the_default_audience_is_invalid_target(dev, host):
    _, client_id = publish(host)
    state = secrets.token_urlsafe(8)
    response = authorize(dev, client_id, state=state, resource="https://api.example.com")
    assert_authorization_error(response, REDIRECT, "invalid_target", issuer=dev.issuer, state=state)


def test_document_clients_are_saved_as_their_document_says_and_listed_with_their_origin(dev, host):
    _, client_id = publish(host)
    assert_login_page(authorize(dev, client_id))
    listed = {client["client_id"]: client for client in dev.warden.run_json("clients", "list")}
    assert listed[client_id]["origin"] == "metadata_document", listed.get(client_id)
    assert listed[client_id]["client_name"] == "127.0.0.1" and listed[client_id]["redirect_uris"] == [REDIRECT]


def test_a_document_client_pushes_its_authorization_request(dev, host):
    _, client_id = publish(host)
    query = authorization_query(client_id)
    response = requests.post(dev.server.url("/par"), data=query, timeout=30)
    assert response.status_code == 201, f"/par answered {response.status_code}: {response.text[:300]!r}"
    request_uri = response.json()["request_uri"]
    agent = UserAgent(dev.server)
    assert_login_page(agent.authorize({"client_id": client_id, "request_uri": request_uri}))


@pytest.mark.parametrize("endpoint", ["/par", "/revoke"])
def test_an_unusable_document_is_invalid_client_at_par_and_revoke(dev, host, endpoint):
    _, client_id = publish(host, client_secret="shared-with-the-world")
    data = authorization_query(client_id) if endpoint == "/par" else {"client_id": client_id, "token": "some-token"}
    body = assert_invalid_client(requests.post(dev.server.url(endpoint), data=data, timeout=30))
    assert body.get("error_description", "").startswith(UNUSABLE), body


# -- consent and redirect URIs ----------------------------------------------------------------------


def test_consent_is_asked_every_time(dev, host):
    _, client_id = publish(host)
    agent = UserAgent(dev.server)
    code_flow(dev, client_id, agent)
    # Signed in, and allowed once already: the consent page still comes (and only it).
    response, pages = agent.walk(authorize(dev, client_id, agent), None)
    assert pages == ["consent"], pages
    assert "code" in assert_redirect_to(response, REDIRECT)


def test_prompt_none_is_consent_required_even_after_an_allow(dev, host):
    _, client_id = publish(host)
    agent = UserAgent(dev.server)
    sign_in_to_consent(dev, agent, client_id)
    state = secrets.token_urlsafe(8)
    response = authorize(dev, client_id, agent, prompt="none", state=state)
    assert_authorization_error(response, REDIRECT, "consent_required", issuer=dev.issuer, state=state)

    code_flow(dev, client_id, agent)
    state = secrets.token_urlsafe(8)
    response = authorize(dev, client_id, agent, prompt="none", state=state)
    assert_authorization_error(response, REDIRECT, "consent_required", issuer=dev.issuer, state=state)


def test_redirect_uris_match_exactly_no_other_loopback_port(dev, host):
    _, client_id = publish(host)
    assert_login_page(authorize(dev, client_id, redirect_uri=REDIRECT))
    message = assert_error_page(authorize(dev, client_id, redirect_uri=OTHER_PORT))
    assert "redirect_uri" in message, message


# -- refusals ---------------------------------------------------------------------------------------

#: Documents Warden must refuse: (members changed, the word the reason names).
INVALID_DOCUMENTS = {
    "client_id is another URL": ({"client_id": "http://127.0.0.1:1/somebody-else.json"}, "client_id"),
    "no redirect_uris": ({"redirect_uris": None}, "redirect_uris"),
    "empty redirect_uris": ({"redirect_uris": []}, "redirect_uris"),
    "client_secret_basic": ({"token_endpoint_auth_method": "client_secret_basic"}, "token_endpoint_auth_method"),
    "client_secret_post": ({"token_endpoint_auth_method": "client_secret_post"}, "token_endpoint_auth_method"),
    "a client_secret member": ({"client_secret": "shared-with-the-world"}, "client_secret"),
    "client_credentials grant": ({"grant_types": ["authorization_code", "client_credentials"]}, "client_credentials"),
    "scope outside the set": ({"scope": "profile admin"}, "admin"),
    "private_key_jwt without keys": ({"token_endpoint_auth_method": "private_key_jwt"}, "jwks"),
}


@pytest.mark.parametrize("case", list(INVALID_DOCUMENTS))
def test_an_invalid_document_is_refused(dev, host, case):
    changes, reason = INVALID_DOCUMENTS[case]
    path, client_id = publish(host, **changes)
    assert_document_refused(authorize(dev, client_id), reason=reason)
    body = assert_invalid_client(redeem_attempt(dev, client_id))
    assert body.get("error_description", "").startswith(UNUSABLE), body
    assert host.count(path) >= 1


#: Answers of the document host that are no document: (status, body, extra headers, fetch failed).
BAD_ANSWERS = {
    "not JSON": (200, b"<html>a client, honestly</html>", {"Content-Type": "text/html"}, False),
    "a JSON array": (200, b"[]", {}, False),
    "404": (404, b"{}", {}, True),
    "500": (500, b"{}", {}, True),
}


@pytest.mark.parametrize("case", list(BAD_ANSWERS))
def test_a_bad_answer_is_refused(dev, host, case):
    status, body, headers, fetch_failed = BAD_ANSWERS[case]
    path = host.new_path()
    client_id = host.serve(path, body=body, status=status, headers=headers)
    assert_document_refused(authorize(dev, client_id), fetch_failed=fetch_failed)
    assert_invalid_client(redeem_attempt(dev, client_id))
    assert host.count(path) == 1


def test_a_document_larger_than_5_kib_is_refused_and_5_kib_is_accepted(dev, host):
    def padded(size: int) -> tuple[str, str]:
        path = host.new_path()
        url = host.url(path)
        base = json.dumps(document(url, software_id=""))
        body = json.dumps(document(url, software_id="x" * (size - len(base)))).encode()
        assert len(body) == size
        host.serve(path, body=body)
        return path, url

    _, fits = padded(MAX_DOCUMENT)
    assert_login_page(authorize(dev, fits))
    path, too_big = padded(MAX_DOCUMENT + 1)
    message = assert_error_page(authorize(dev, too_big))
    assert message == FETCH_FAILED or message.startswith(UNUSABLE), message
    assert_invalid_client(redeem_attempt(dev, too_big))
    assert host.count(path) == 1


def test_a_redirect_is_not_followed(dev, host):
    target_path, target = publish(host)
    path = host.new_path()
    client_id = host.serve(path, body=b"", status=302, headers={"Location": target})
    assert_document_refused(authorize(dev, client_id), fetch_failed=True)
    assert_invalid_client(redeem_attempt(dev, client_id))
    assert host.count(path) == 1
    assert host.count(target_path) == 0, "Warden followed the redirect"


def test_a_host_slower_than_5_seconds_is_refused(dev, host):
    path = host.new_path()
    client_id = host.url(path)
    host.serve(path, document(client_id), delay=FETCH_TIMEOUT + 1)
    started = time.monotonic()
    response = authorize(dev, client_id)
    elapsed = time.monotonic() - started
    assert_document_refused(response, fetch_failed=True)
    assert elapsed < FETCH_TIMEOUT + 0.9, f"Warden waited {elapsed:.1f}s for the document"
    assert_invalid_client(redeem_attempt(dev, client_id))


# -- caching --------------------------------------------------------------------------------------


@pytest.mark.parametrize("cache_control", ["max-age=0", None, "no-store", "no-cache"])
def test_a_document_is_cached_for_at_least_300_seconds(dev, host, cache_control):
    path = host.new_path()
    client_id = host.url(path)
    host.serve(path, document(client_id), headers={"Cache-Control": cache_control} if cache_control else {})
    assert_login_page(authorize(dev, client_id))
    # Broken since: the cached document is still the one used.
    host.serve(path, body=b"gone", status=500)
    assert_login_page(authorize(dev, client_id))
    assert redeem_attempt(dev, client_id).json().get("error") == "invalid_grant"
    assert host.count(path) == 1


def test_a_failure_is_remembered_for_30_seconds(dev, host):
    path = host.new_path()
    client_id = host.serve(path, body=b"{}", status=500)
    assert_document_refused(authorize(dev, client_id), fetch_failed=True)
    # Fixed since: within 30 s the failure is what Warden remembers.
    host.serve(path, document(client_id))
    assert_document_refused(authorize(dev, client_id), fetch_failed=True)
    assert_invalid_client(redeem_attempt(dev, client_id))
    assert host.count(path) == 1


def test_concurrent_first_requests_share_one_fetch(dev, host):
    path = host.new_path()
    client_id = host.url(path)
    host.serve(path, document(client_id), delay=1.0)
    barrier = threading.Barrier(8)

    def first_request(_):
        barrier.wait()
        return authorize(dev, client_id)

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(first_request, range(8)))
    for response in responses:
        assert_login_page(response)
    assert host.count(path) == 1


# -- SSRF and URL shapes -------------------------------------------------------------------------


#: Spellings of this machine a client id's host may use.
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "[::1]", "[::ffff:127.0.0.1]", "127.1", "0.0.0.0"]


def test_the_listener_sees_warden_connect_when_private_addresses_are_allowed(dev):
    """The control of the next test: with the development setting Warden does connect to each
    spelling (the TLS handshake then fails, so the document could not be fetched). Warden
    takes the whole 5 s over a failed handshake, so the spellings are tried in parallel."""
    listeners = {host_name: ConnectionListener() for host_name in LOOPBACK_HOSTS}
    try:
        def attempt(host_name):
            return authorize(dev, f"https://{host_name}:{listeners[host_name].port}/client.json")

        with ThreadPoolExecutor(len(LOOPBACK_HOSTS)) as pool:
            responses = dict(zip(LOOPBACK_HOSTS, pool.map(attempt, LOOPBACK_HOSTS)))
        for host_name, response in responses.items():
            assert_document_refused(response, fetch_failed=True)
            assert listeners[host_name].count() >= 1, f"no connection to {host_name}"
    finally:
        for recorder in listeners.values():
            recorder.close()


@pytest.mark.parametrize("host_name", LOOPBACK_HOSTS)
def test_loopback_hosts_are_refused_before_any_connection(strict, listener, host_name):
    client_id = f"https://{host_name}:{listener.port}/client.json"
    assert_document_refused(authorize(strict, client_id), fetch_failed=True)
    assert_invalid_client(redeem_attempt(strict, client_id))
    time.sleep(0.2)
    assert listener.count() == 0, f"Warden connected to {client_id}"


def test_http_is_no_document_url_without_the_development_setting(strict, listener):
    client_id = f"http://127.0.0.1:{listener.port}/c.json"
    assert_unknown_client(authorize(strict, client_id))
    assert_invalid_client(redeem_attempt(strict, client_id))
    assert listener.count() == 0


#: Client ids that are no document URL: each path below is served a valid document.
MALFORMED_URLS = {
    "a fragment": lambda port: f"http://127.0.0.1:{port}/shape/client.json#x",
    "credentials": lambda port: f"http://user:secret@127.0.0.1:{port}/shape/client.json",
    "a .. segment": lambda port: f"http://127.0.0.1:{port}/shape/x/../client.json",
    "a . segment": lambda port: f"http://127.0.0.1:{port}/shape/./client.json",
    "no path": lambda port: f"http://127.0.0.1:{port}",
    "the root path": lambda port: f"http://127.0.0.1:{port}/",
    "another scheme": lambda port: f"ftp://127.0.0.1:{port}/shape/client.json",
}


@pytest.mark.parametrize("case", list(MALFORMED_URLS))
def test_a_malformed_url_is_an_unknown_client_never_fetched(dev, host, case):
    client_id = MALFORMED_URLS[case](host.port)
    for path in ("/", "/shape/client.json", "/shape/x/client.json"):
        host.serve(path, document(client_id))
    before = host.total()
    assert_unknown_client(authorize(dev, client_id))
    assert_invalid_client(redeem_attempt(dev, client_id))
    assert host.total() == before, "a malformed client id was fetched"
