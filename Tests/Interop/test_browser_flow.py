"""The authorization code flow in a real browser: headless Chromium driven by
Selenium signs in and consents at Warden's pages, the redirect lands on a loopback
listener (RFC 8252 §7.3) standing in for a native app, and Authlib (PKCE S256)
redeems and refreshes the code; PyJWT and joserfc verify the tokens from the JWKS.

Screenshots of the login, consent and error pages go to Tests/Interop/artifacts/.
Chromium and chromedriver are required: without them these tests fail (never skip)."""

from __future__ import annotations

import html
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError as AuthlibOAuthError
from authlib.integrations.requests_client import OAuth2Session
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, WebDriverException

from interop import (
    headless_chromium,
    LOGIN_ERROR,
    PRELOGIN_COOKIE,
    SESSION_COOKIE,
    Page,
    RedirectCatcher,
    UserAgent,
    assert_html_page,
    assert_html_security_headers,
    authorization_params,
    jwt_header,
    pkce_pair,
    verify_with_joserfc,
    verify_with_pyjwt,
    wait_until,
)

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
SCOPE = "profile email offline_access"


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def driver():
    """Headless Chromium, with its console log kept."""
    browser = headless_chromium(browser_log=True)
    yield browser
    browser.quit()


@pytest.fixture(scope="module")
def catcher():
    listener = RedirectCatcher()
    yield listener
    listener.close()


@pytest.fixture(scope="module")
def clients(module_warden, catcher):
    """Public clients redirecting to the loopback listener, and an introspecting backend."""
    create = module_warden.create_code_client
    return {
        "spa": create("Photo Book", (catcher.redirect_uri,), SCOPE),
        "deny": create("Denied App", (catcher.redirect_uri,), SCOPE),
        "remember": create("Remembering App", (catcher.redirect_uri,), SCOPE),
        "trusted": create("Trusted App", (catcher.redirect_uri,), SCOPE, extra=("--skip-consent",)),
        "nojs": create("No Script App", (catcher.redirect_uri,), SCOPE),
        "api": module_warden.create_client(name="api", scope="", audiences=(), auth_method="client_secret_post"),
    }


@pytest.fixture(scope="module")
def alice(module_warden):
    return module_warden.create_user("alice")


@pytest.fixture(scope="module")
def server(module_server, clients, alice):
    for client in clients.values():
        wait_until(lambda: module_server.code_token(client, "x").status_code != 401,
                   message="clients created with the CLI did not reach the server")
    return module_server


@pytest.fixture(scope="module")
def metadata(server):
    return server.metadata()


@pytest.fixture
def browser(driver, catcher):
    """The shared Chromium with no cookies (so: logged out) and an empty listener."""
    driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
    driver.get_log("browser")  # drop earlier console messages
    catcher.drain()
    return driver


def authlib_session(client, catcher, scope=SCOPE) -> OAuth2Session:
    return OAuth2Session(
        client.client_id, token_endpoint_auth_method="none", redirect_uri=catcher.redirect_uri, scope=scope,
        code_challenge_method="S256",
    )


# -- browser steps ------------------------------------------------------------------------------


def on_server(browser, server) -> bool:
    return browser.current_url.startswith(server.base_url + "/")


def heading(browser) -> str:
    """The page's h1, or "" while the browser is replacing the page (a wait polls again)."""
    try:
        return browser.find_element(By.TAG_NAME, "h1").text
    except (NoSuchElementException, StaleElementReferenceException):
        return ""


def log_in(browser, username, password):
    assert browser.find_elements(By.CSS_SELECTOR, "form[action='/login']"), f"not the login page: {heading(browser)}"
    browser.find_element(By.ID, "username").clear()
    browser.find_element(By.ID, "username").send_keys(username)
    browser.find_element(By.ID, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type=submit]").click()


def decide(browser, decision):
    browser.find_element(By.CSS_SELECTOR, f"button[name=decision][value={decision}]").click()


def is_consent_page(browser) -> bool:
    return bool(browser.find_elements(By.CSS_SELECTOR, "form[action='/consent']"))


def landed(browser, catcher, timeout=15.0) -> dict:
    WebDriverWait(browser, timeout).until(lambda b: b.current_url.startswith(catcher.redirect_uri))
    return catcher.wait()


def assert_page_is_sound(browser):
    """No script, the same-origin stylesheet applied, nothing refused by the CSP."""
    assert browser.execute_script("return document.scripts.length") == 0
    origin = browser.execute_script("return location.origin")
    sheets = browser.execute_script("return Array.from(document.styleSheets).map(s => s.href)")
    assert sheets and all(href and href.startswith(origin + "/") for href in sheets), sheets
    assert browser.execute_script("return getComputedStyle(document.querySelector('main')).maxWidth") != "none", (
        "the stylesheet was not applied"
    )
    problems = [entry["message"] for entry in browser.get_log("browser")
                if "Content Security Policy" in entry["message"] or "Refused" in entry["message"]]
    assert not problems, problems


def screenshot(browser, name):
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    assert browser.save_screenshot(str(path)), f"could not save {path}"


# -- the flow ----------------------------------------------------------------------------------------


def test_login_page_in_chromium(browser, server, clients, catcher):
    _, challenge = pkce_pair()
    browser.get(server.url("/authorize?" + urlencode(authorization_params(clients["spa"], catcher.redirect_uri, challenge=challenge))))
    assert on_server(browser, server)
    assert heading(browser) == "Sign in"
    assert "Photo Book" in browser.find_element(By.TAG_NAME, "body").text
    for name in ("username", "password"):
        label = browser.find_element(By.CSS_SELECTOR, f"label[for={name}]")
        assert label.is_displayed() and label.text.strip(), name
        assert browser.find_element(By.ID, name).get_attribute("name") == name
    assert browser.find_element(By.ID, "password").get_attribute("type") == "password"
    assert browser.find_element(By.CSS_SELECTOR, "form[action='/login']").get_attribute("method") == "post"
    assert browser.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type=submit]").is_displayed()
    # Before sign-in only the signed pre-login cookie (the form's CSRF token); no session yet.
    assert browser.get_cookie(SESSION_COOKIE) is None
    cookie = browser.get_cookie(PRELOGIN_COOKIE)
    assert cookie and cookie["httpOnly"] is True and cookie["sameSite"] == "Lax", cookie
    assert browser.execute_script("return document.cookie") == "", "the pre-login cookie must be HttpOnly"
    assert_page_is_sound(browser)
    screenshot(browser, "login.png")


def test_full_flow_with_authlib(browser, server, metadata, clients, catcher, alice):
    spa, api = clients["spa"], clients["api"]
    session = authlib_session(spa, catcher)
    verifier = generate_token(64)
    url, state = session.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier)
    browser.get(url)
    before = browser.get_cookie(PRELOGIN_COOKIE)["value"]
    log_in(browser, alice.username, alice.password)
    WebDriverWait(browser, 15).until(lambda b: is_consent_page(b))
    after = browser.get_cookie(SESSION_COOKIE)
    assert after and after["value"] != before, "sign-in did not start a new session"
    assert browser.get_cookie(PRELOGIN_COOKIE) is None, "the pre-login cookie outlived sign-in"
    assert after["httpOnly"] is True and after["sameSite"] == "Lax"
    # The consent page names the client and every scope asked for, in words and by name.
    assert "Photo Book" in heading(browser)
    listed = [item.text.strip() for item in browser.find_elements(By.CSS_SELECTOR, "ul.scopes li code")]
    assert sorted(listed) == sorted(SCOPE.split()), listed
    words = [item.text for item in browser.find_elements(By.CSS_SELECTOR, "ul.scopes li")]
    assert all(len(text) > len(name) + 5 for text, name in zip(words, listed)), words
    assert browser.find_element(By.CSS_SELECTOR, "button[name=decision][value=allow]").is_displayed()
    assert browser.find_element(By.CSS_SELECTOR, "button[name=decision][value=deny]").is_displayed()
    assert_page_is_sound(browser)
    screenshot(browser, "consent.png")
    decide(browser, "allow")

    callback = landed(browser, catcher)
    query = callback["query"]
    assert query["state"] == state and query["iss"] == server.issuer and "error" not in query, query
    referer = {name.lower(): value for name, value in callback["headers"].items()}.get("referer")
    assert referer is None, f"Referrer-Policy: no-referrer, yet the client saw Referer: {referer}"

    token = session.fetch_token(
        metadata["token_endpoint"], authorization_response=browser.current_url, code_verifier=verifier
    )
    assert token["token_type"].lower() == "bearer" and token["scope"] == SCOPE and token.get("refresh_token")
    access = token["access_token"]
    assert jwt_header(access)["typ"] == "at+jwt"
    _, claims = verify_with_joserfc(access, requests.get(metadata["jwks_uri"], timeout=10).json(),
                                    issuer=server.issuer, audience=server.issuer)
    assert verify_with_pyjwt(access, metadata["jwks_uri"], issuer=server.issuer, audience=server.issuer) == claims
    assert claims["sub"] == alice.id and claims["client_id"] == spa.client_id and claims["scope"] == SCOPE
    assert claims["gid"]

    # Refresh with Authlib: rotated, same grant.
    first_refresh = token["refresh_token"]
    renewed = session.refresh_token(metadata["token_endpoint"], refresh_token=first_refresh)
    assert renewed["refresh_token"] != first_refresh
    new_claims = verify_with_pyjwt(renewed["access_token"], metadata["jwks_uri"], issuer=server.issuer, audience=server.issuer)
    assert new_claims["gid"] == claims["gid"] and new_claims["sub"] == alice.id
    assert server.is_active(api, renewed["access_token"]) is True

    # Reuse of the rotated refresh token: refused, and the whole grant dies.
    with pytest.raises(AuthlibOAuthError) as raised:
        session.refresh_token(metadata["token_endpoint"], refresh_token=first_refresh)
    assert raised.value.error == "invalid_grant"
    with pytest.raises(AuthlibOAuthError) as raised:
        session.refresh_token(metadata["token_endpoint"], refresh_token=renewed["refresh_token"])
    assert raised.value.error == "invalid_grant"
    assert server.is_active(api, access) is False
    assert server.is_active(api, renewed["access_token"]) is False


def test_revoke_with_authlib(browser, server, metadata, clients, catcher, alice):
    spa, api = clients["spa"], clients["api"]
    session = authlib_session(spa, catcher, scope="profile")
    verifier = generate_token(48)
    url, _ = session.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier)
    browser.get(url)
    log_in(browser, alice.username, alice.password)
    landed(browser, catcher)  # consent to "profile" was given in the full flow: no consent page
    token = session.fetch_token(metadata["token_endpoint"], authorization_response=browser.current_url, code_verifier=verifier)
    response = session.revoke_token(metadata["revocation_endpoint"], token["refresh_token"], token_type_hint="refresh_token")
    assert response.status_code == 200, response.text
    assert server.is_active(api, token["access_token"]) is False
    with pytest.raises(AuthlibOAuthError) as raised:
        session.refresh_token(metadata["token_endpoint"], refresh_token=token["refresh_token"])
    assert raised.value.error == "invalid_grant"


def test_deny(browser, server, metadata, clients, catcher, alice):
    session = authlib_session(clients["deny"], catcher)
    url, state = session.create_authorization_url(metadata["authorization_endpoint"], code_verifier=generate_token(48))
    browser.get(url)
    log_in(browser, alice.username, alice.password)
    WebDriverWait(browser, 15).until(lambda b: is_consent_page(b))
    assert "Denied App" in heading(browser)
    decide(browser, "deny")
    query = landed(browser, catcher)["query"]
    assert query.get("error") == "access_denied", query
    assert query.get("state") == state and query.get("iss") == server.issuer, query
    assert "code" not in query


def test_remembered_consent_skips_the_page(browser, server, metadata, clients, catcher, alice):
    client = clients["remember"]
    session = authlib_session(client, catcher, scope="profile email")
    url, _ = session.create_authorization_url(metadata["authorization_endpoint"], code_verifier=generate_token(48))
    browser.get(url)
    log_in(browser, alice.username, alice.password)
    WebDriverWait(browser, 15).until(lambda b: is_consent_page(b))
    decide(browser, "allow")
    assert "code" in landed(browser, catcher)["query"]
    # Same or fewer scopes, same browser session: straight back to the app, no page at all.
    for scope in ("profile email", "email"):
        verifier = generate_token(48)
        session = authlib_session(client, catcher, scope=scope)
        url, state = session.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier)
        browser.get(url)
        assert browser.current_url.startswith(catcher.redirect_uri), f"a page was shown: {browser.current_url}"
        query = catcher.wait()["query"]
        assert query["state"] == state and "code" in query
        token = session.fetch_token(metadata["token_endpoint"], authorization_response=browser.current_url, code_verifier=verifier)
        assert token["scope"] == scope
    # More than was allowed: asked again (but not to log in).
    session = authlib_session(client, catcher, scope=SCOPE)
    url, _ = session.create_authorization_url(metadata["authorization_endpoint"], code_verifier=generate_token(48))
    browser.get(url)
    assert is_consent_page(browser), heading(browser)


def test_skip_consent_client(browser, server, metadata, clients, catcher, alice):
    session = authlib_session(clients["trusted"], catcher)
    verifier = generate_token(48)
    url, state = session.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier)
    browser.get(url)
    log_in(browser, alice.username, alice.password)
    query = landed(browser, catcher)["query"]
    assert query["state"] == state and "code" in query
    token = session.fetch_token(metadata["token_endpoint"], authorization_response=browser.current_url, code_verifier=verifier)
    assert token["scope"] == SCOPE


def test_flow_works_without_javascript(browser, server, metadata, clients, catcher, alice):
    browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
    try:
        session = authlib_session(clients["nojs"], catcher)
        verifier = generate_token(48)
        url, state = session.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier)
        browser.get(url)
        log_in(browser, alice.username, alice.password)
        WebDriverWait(browser, 15).until(lambda b: is_consent_page(b))
        decide(browser, "allow")
        query = landed(browser, catcher)["query"]
    finally:
        browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": False})
    assert query["state"] == state and "code" in query
    session.fetch_token(metadata["token_endpoint"], authorization_response=browser.current_url, code_verifier=verifier)


def test_wrong_password_and_unknown_user_show_the_same_message(browser, server, clients, catcher, alice):
    _, challenge = pkce_pair()
    browser.get(server.url("/authorize?" + urlencode(authorization_params(clients["spa"], catcher.redirect_uri, challenge=challenge))))
    log_in(browser, alice.username, "not her password")
    WebDriverWait(browser, 15).until(lambda b: b.find_elements(By.CSS_SELECTOR, "[role=alert]"))
    wrong = browser.find_element(By.CSS_SELECTOR, "[role=alert]").text
    assert "not her password" not in browser.page_source
    assert browser.find_element(By.ID, "password").get_attribute("value") == ""
    assert_page_is_sound(browser)
    screenshot(browser, "login-error.png")
    log_in(browser, "nobody-at-all", "not her password")
    # Wait for the new page (it echoes the submitted username in its HTML), not the old
    # page's alert; node look-ups may fail while the browser swaps documents.
    WebDriverWait(browser, 15, ignored_exceptions=(WebDriverException,)).until(
        lambda b: 'value="nobody-at-all"' in b.page_source and b.find_elements(By.CSS_SELECTOR, "[role=alert]"))
    unknown = browser.find_element(By.CSS_SELECTOR, "[role=alert]").text
    assert wrong == unknown == LOGIN_ERROR
    # The page still works: the right password goes on to the app.
    log_in(browser, alice.username, alice.password)
    WebDriverWait(browser, 15).until(lambda b: not b.find_elements(By.CSS_SELECTOR, "form[action='/login']"))


def test_error_page_in_chromium(browser, server, catcher):
    browser.get(server.url("/authorize?" + urlencode({
        "response_type": "code", "client_id": "no-such-client", "redirect_uri": catcher.redirect_uri, "state": "s",
    })))
    time.sleep(0.2)
    assert on_server(browser, server), "an unknown client must not be redirected"
    assert catcher.requests.empty()
    assert heading(browser)
    assert browser.find_element(By.CSS_SELECTOR, "[role=alert]").text.strip()
    assert_page_is_sound(browser)
    screenshot(browser, "error.png")


def test_pages_cannot_be_framed(browser, server, clients, catcher):
    _, challenge = pkce_pair()
    login = server.url("/authorize?" + urlencode(authorization_params(clients["spa"], catcher.redirect_uri, challenge=challenge)))

    def framed_text(src: str, expect: str | None) -> str:
        """The text of `src` framed by a page of another origin (the listener's port):
        polled until it shows `expect`, or after a second when nothing is expected."""
        catcher.pages["/frame"] = (
            '<!doctype html><title>frame</title><iframe id=f width=600 height=400 src="' + html.escape(src) + '"></iframe>'
        )
        browser.get(f"http://127.0.0.1:{catcher.port}/frame")
        deadline = time.monotonic() + (10.0 if expect else 1.0)
        while True:
            browser.switch_to.frame("f")
            try:
                text = browser.find_element(By.TAG_NAME, "body").text
            finally:
                browser.switch_to.default_content()
            if (expect and expect in text) or time.monotonic() > deadline:
                return text
            time.sleep(0.1)

    # Control: a JSON endpoint of the same server renders in a frame...
    assert "ok" in framed_text(server.url("/healthz"), "ok")
    # ... the login page does not (frame-ancestors 'none', X-Frame-Options: DENY).
    text = framed_text(login, None)
    assert "Sign in" not in text and "Password" not in text, f"the login page rendered in a frame: {text!r}"


# -- the same pages over plain HTTP: headers and markup -------------------------------------------


def test_html_security_headers_and_markup(server, clients, catcher, alice):
    spa = clients["spa"]
    agent = UserAgent(server)
    _, challenge = pkce_pair()
    login = agent.authorize(authorization_params(spa, catcher.redirect_uri, challenge=challenge, scope="profile email offline_access"))
    pages = {"login": login}
    # Error pages: unknown client (400) and a form post without CSRF token (403).
    pages["error"] = agent.authorize({"response_type": "code", "client_id": "nope", "redirect_uri": catcher.redirect_uri})
    pages["csrf"] = agent.post("/login", {"username": "x", "password": "y"})
    fresh = UserAgent(server)
    response = fresh.authorize(authorization_params(clients["deny"], catcher.redirect_uri, challenge=challenge, scope="email"))
    pages["consent"] = fresh.follow(fresh.login(response, alice.username, alice.password))
    expected = {"login": 200, "error": 400, "csrf": 403, "consent": 200}
    for name, response in pages.items():
        page = assert_html_page(response, expected[name])
        assert page.scripts == 0, f"{name} page has script"
        assert page.inline_styles == 0, f"{name} page has inline style (the CSP would block it)"
        for url in page.urls:
            assert not url.startswith("//") and (
                "://" not in url or url.startswith(server.base_url + "/")
            ), f"{name} page refers to another origin: {url}"
        assert page.title, name
    login_page = Page.parse(pages["login"].text)
    assert {"username", "password"} <= login_page.label_for
    assert login_page.ids["username"]["name"] == "username" and login_page.ids["password"]["name"] == "password"
    assert Page.parse(pages["consent"].text).is_consent
    # Redirects carry the same headers.
    third = UserAgent(server)
    redirect = third.login(third.authorize(authorization_params(spa, catcher.redirect_uri, challenge=challenge)), alice.username, alice.password)
    assert redirect.status_code == 303
    assert_html_security_headers(redirect)
    # The one stylesheet, same origin.
    css = requests.get(server.url("/static/warden.css"), timeout=10)
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")
    assert "url(" not in css.text and "@import" not in css.text, "the stylesheet must not load other assets"


# -- the first ten minutes: the demo's callback and the pages' words -----------------------------------


def screenshots(browser, name: str) -> None:
    """The page at desktop and at 390 px (a phone), each saved for a person to look at."""
    for width, height, suffix in ((1280, 900, "desktop"), (390, 844, "390px")):
        browser.set_window_size(width, height)
        assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth"), (
            f"{name} scrolls sideways at {width} px")
        screenshot(browser, f"{name}-{suffix}.png")
    browser.set_window_size(1280, 900)


def test_demo_sign_in_ends_on_warden_s_own_callback_page(browser, tmp_path):
    """`serve --demo`: the printed URL, signed in and allowed, lands on /demo/callback,
    which shows the code and exchanges it at a click; an error lands there too."""
    import re
    import subprocess

    from interop import Warden, clean_environment, free_port

    demo = Warden(tmp_path / "demo")
    port = free_port()
    process = subprocess.Popen([str(demo.binary), "serve", "--demo", "--port", str(port), "--issuer", f"http://127.0.0.1:{port}"],
                               cwd=demo.cwd, env=clean_environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        banner = ""
        while not banner.rstrip().endswith("=" * 20) or banner.count("=" * 20) < 3:
            line = process.stdout.readline()
            assert line, process.stderr.read()
            banner += line
        url = re.search(r"Open: (\S+)", banner).group(1)
        user, password = re.search(r"user:\s*(\S+)\s+password:\s*(\S+)", banner).groups()
        browser.get(url)
        log_in(browser, user, password)
        WebDriverWait(browser, 15).until(lambda b: is_consent_page(b))
        words = browser.find_element(By.CSS_SELECTOR, "ul.scopes").text
        assert "See your name and username" in words and "Keep access while you are not using it" in words, words
        decide(browser, "allow")
        WebDriverWait(browser, 15).until(lambda b: "/demo/callback" in b.current_url)
        assert "code" in heading(browser).lower()
        assert "curl -s -d grant_type=authorization_code" in browser.find_element(By.TAG_NAME, "body").text
        assert_page_is_sound(browser)
        screenshots(browser, "demo-callback-code")
        browser.find_element(By.CSS_SELECTOR, "form[action='/demo/callback'] button").click()
        WebDriverWait(browser, 15).until(lambda b: heading(b) == "Tokens issued")
        text = browser.find_element(By.TAG_NAME, "body").text
        assert '"token_type" : "Bearer"' in text or '"token_type": "Bearer"' in text, text
        assert '"client_id"' in text and '"scope"' in text, text
        # The demo app signs the user in with OpenID Connect: its ID token, decoded, says who.
        assert "The ID token's claims" in text and '"sid"' in text and '"nonce" : "demo"' in text.replace('": "', '" : "'), text
        screenshots(browser, "demo-callback-tokens")
        # Clicked twice, the code is spent: the page says so, it does not crash.
        browser.back()
        browser.find_element(By.CSS_SELECTOR, "form[action='/demo/callback'] button").click()
        WebDriverWait(browser, 15).until(lambda b: heading(b) == "The token endpoint refused the code")
        assert "invalid_grant" in browser.find_element(By.TAG_NAME, "body").text
        # Cancelled at the login page: back at the callback with access_denied.
        browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
        browser.get(url)
        browser.find_element(By.CSS_SELECTOR, "p.cancel a").click()
        WebDriverWait(browser, 15).until(lambda b: "/demo/callback" in b.current_url)
        assert "access_denied" in browser.find_element(By.TAG_NAME, "body").text
        screenshots(browser, "demo-callback-error")
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_a_failed_sign_in_keeps_the_username_and_focuses_the_password(browser, server, clients, alice):
    _, challenge = pkce_pair()
    browser.get(server.url("/authorize?" + urlencode(authorization_params(clients["spa"], clients["spa"].raw["redirect_uris"][0],
                                                                          challenge=challenge))))
    assert browser.switch_to.active_element.get_attribute("id") == "username"
    log_in(browser, alice.username, "not-it")
    WebDriverWait(browser, 15).until(lambda b: b.find_elements(By.CSS_SELECTOR, "[role=alert]"))
    assert browser.find_element(By.ID, "username").get_attribute("value") == alice.username
    assert browser.switch_to.active_element.get_attribute("id") == "password"
    screenshots(browser, "login-failed")


def test_the_error_page_speaks_to_a_person(browser, server):
    browser.get(server.url("/authorize?response_type=code&client_id=no-such-client"))
    title = heading(browser)
    assert title and "invalid_request" not in title and "cannot go on" not in title, title
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "Go back to the application" in body
    assert browser.find_element(By.CSS_SELECTOR, "p.code code").text in ("invalid_request", "invalid_client")
    assert_page_is_sound(browser)
    screenshots(browser, "error-page")


def test_the_pages_follow_the_system_s_dark_mode(browser, server, clients):
    _, challenge = pkce_pair()
    url = server.url("/authorize?" + urlencode(authorization_params(clients["spa"], clients["spa"].raw["redirect_uris"][0],
                                                                    challenge=challenge)))
    backgrounds = {}
    for scheme in ("light", "dark"):
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": scheme}]})
        browser.get(url)
        backgrounds[scheme] = browser.execute_script("return getComputedStyle(document.querySelector('main')).backgroundColor")
        screenshot(browser, f"login-{scheme}.png")
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    assert backgrounds["light"] != backgrounds["dark"], backgrounds
    assert "Warden" in browser.find_element(By.CSS_SELECTOR, ".brand").text
