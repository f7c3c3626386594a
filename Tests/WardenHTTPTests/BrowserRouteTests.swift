import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import WardenCore
import WardenServer

@Suite("Browser pages: /authorize, /login, /consent")
struct BrowserRouteTests {
    static let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    static let redirectURI = "http://127.0.0.1:8765/callback"

    /// A public client and a user (bcrypt: about a quarter second).
    func seed(_ warden: TestWarden, skipConsent: Bool = false) async throws -> (clientID: String, username: String, password: String) {
        let (client, _) = try ClientRegistration(
            name: "Demo <App>", grantTypes: [.authorizationCode, .refreshToken], redirectURIs: [Self.redirectURI],
            scope: "profile offline_access", authMethod: ClientAuthMethod.none, skipConsent: skipConsent
        ).makeClient(now: Date())
        try await warden.store.insert(client)
        let password = "correct horse battery staple"
        try await warden.store.insert(User(
            id: RandomToken.identifier(byteCount: 16), username: "alice", passwordHash: try await BcryptPasswordHasher().hash(password),
            createdAt: Date()))
        return (client.id, "alice", password)
    }

    func authorizeQuery(_ clientID: String, _ extra: String = "") -> String {
        "response_type=code&client_id=\(clientID)&redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback&scope=profile&state=xyz"
            + "&code_challenge=\(Self.challenge)&code_challenge_method=S256" + extra
    }

    func expectPageHeaders(_ response: TestResponse) {
        #expect(response.headers[.contentSecurityPolicy]?.contains("frame-ancestors 'none'") == true)
        #expect(response.headers[.contentSecurityPolicy]?.contains("default-src 'self'") == true)
        #expect(response.headers[HTTPField.Name("X-Frame-Options")!] == "DENY")
        #expect(response.headers[HTTPField.Name("Referrer-Policy")!] == "no-referrer")
        #expect(response.headers[.cacheControl] == "no-store")
    }

    func hidden(_ name: String, in html: String) -> String? {
        guard let range = html.range(of: "name=\"\(name)\" value=\"") else { return nil }
        let rest = html[range.upperBound...]
        return rest.prefix { $0 != "\"" }.replacingOccurrences(of: "&amp;", with: "&")
    }

    func cookie(_ response: TestResponse) -> String? {
        response.headers[.setCookie]?.split(separator: ";").first.map(String.init)
    }

    @Test("an unknown client or unregistered redirect URI gets an error page, never a redirect")
    func errorPage() async throws {
        try await TestWarden.run { warden, client in
            let (clientID, _, _) = try await seed(warden)
            for query in [authorizeQuery("nobody"), authorizeQuery(clientID).replacingOccurrences(of: "callback", with: "evil")] {
                let response = try await client.execute(uri: "/authorize?" + query, method: .get)
                #expect(response.status == .badRequest)
                #expect(response.headers[.location] == nil)
                expectPageHeaders(response)
            }
        }
    }

    @Test("other errors redirect back with error, state and iss")
    func redirectError() async throws {
        try await TestWarden.run { warden, client in
            let (clientID, _, _) = try await seed(warden)
            let response = try await client.execute(uri: "/authorize?" + authorizeQuery(clientID, "&scope=admin").replacingOccurrences(of: "scope=profile&", with: ""), method: .get)
            #expect(response.status == .found)
            let location = try #require(response.headers[.location])
            #expect(location.hasPrefix(Self.redirectURI + "?error=invalid_scope"))
            #expect(location.contains("state=xyz") && location.contains("iss=http%3A%2F%2Fwarden.test"))
        }
    }

    @Test("login, then consent, then a code: with CSRF checks, session renewal and 303s")
    func fullFlow() async throws {
        try await TestWarden.run { warden, client in
            let (clientID, username, password) = try await seed(warden)
            let query = authorizeQuery(clientID)
            let loginPage = try await client.execute(uri: "/authorize?" + query, method: .get)
            #expect(loginPage.status == .ok)
            expectPageHeaders(loginPage)
            let html = String(buffer: loginPage.body)
            #expect(html.contains("Demo &lt;App&gt;"))
            #expect(html.contains("<label for=\"username\">") && html.contains("<label for=\"password\">"))
            #expect(!html.contains("<script"))
            let anonymous = try #require(cookie(loginPage))
            #expect(loginPage.headers[.setCookie]?.contains("HttpOnly") == true)
            #expect(loginPage.headers[.setCookie]?.contains("SameSite=Lax") == true)
            let csrf = try #require(hidden("csrf_token", in: html))
            #expect(hidden("authorization_request", in: html) == query)

            func post(_ path: String, _ form: String, cookie: String?) async throws -> TestResponse {
                var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
                if let cookie { headers[.cookie] = cookie }
                return try await client.execute(uri: path, method: .post, headers: headers, body: ByteBuffer(string: form))
            }
            let encodedQuery = query.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!

            // No or another session's CSRF token: refused.
            #expect(try await post("/login", "username=\(username)&password=x&authorization_request=\(encodedQuery)", cookie: anonymous).status == .forbidden)
            #expect(try await post("/login", "csrf_token=\(csrf)&username=\(username)&password=x&authorization_request=\(encodedQuery)", cookie: nil).status == .forbidden)

            // A wrong password and an unknown user read the same.
            let wrong = try await post("/login", "csrf_token=\(csrf)&username=\(username)&password=nope&authorization_request=\(encodedQuery)", cookie: anonymous)
            let unknown = try await post("/login", "csrf_token=\(csrf)&username=mallory&password=nope&authorization_request=\(encodedQuery)", cookie: anonymous)
            #expect(wrong.status == unknown.status)
            #expect(String(buffer: wrong.body).contains("Incorrect username or password."))
            #expect(String(buffer: unknown.body).contains("Incorrect username or password."))

            let loggedIn = try await post(
                "/login", "csrf_token=\(csrf)&username=\(username)&password=\(password.replacingOccurrences(of: " ", with: "+"))&authorization_request=\(encodedQuery)",
                cookie: anonymous)
            #expect(loggedIn.status == .seeOther)
            #expect(loggedIn.headers[.location] == "/authorize?" + query)
            let session = try #require(cookie(loggedIn))
            #expect(session != anonymous)

            // The pre-login cookie is not a login (no session fixation).
            let stillAnonymous = try await client.execute(uri: "/authorize?" + query, method: .get, headers: [.cookie: anonymous])
            #expect(String(buffer: stillAnonymous.body).contains("name=\"password\""))

            let consentPage = try await client.execute(uri: "/authorize?" + query, method: .get, headers: [.cookie: session])
            expectPageHeaders(consentPage)
            let consentHTML = String(buffer: consentPage.body)
            #expect(consentHTML.contains("value=\"allow\"") && consentHTML.contains("value=\"deny\"") && consentHTML.contains("<code>profile</code>"))
            let consentCSRF = try #require(hidden("csrf_token", in: consentHTML))
            #expect(consentCSRF != csrf)
            #expect(try await post("/consent", "csrf_token=\(csrf)&decision=allow&authorization_request=\(encodedQuery)", cookie: session).status == .forbidden)

            let allowed = try await post("/consent", "csrf_token=\(consentCSRF)&decision=allow&authorization_request=\(encodedQuery)", cookie: session)
            #expect(allowed.status == .seeOther)
            let location = try #require(allowed.headers[.location])
            #expect(location.hasPrefix(Self.redirectURI + "?code=") && location.contains("&state=xyz&iss="))

            // Remembered consent: straight back with a code.
            let again = try await client.execute(uri: "/authorize?" + query, method: .get, headers: [.cookie: session])
            #expect(again.status == .found)
            #expect(again.headers[.location]?.hasPrefix(Self.redirectURI + "?code=") == true)

            // The consent form was spent: posting it again issues nothing.
            for decision in ["allow", "deny"] {
                let replayed = try await post(
                    "/consent", "csrf_token=\(consentCSRF)&decision=\(decision)&authorization_request=\(encodedQuery)", cookie: session)
                #expect(replayed.status == .forbidden)
                #expect(replayed.headers[.location] == nil)
            }
        }
    }

    @Test("failed logins are limited per account with 429 and Retry-After")
    func rateLimit() async throws {
        try await TestWarden.run(configure: { $0.loginFailuresPerAccount = 2 }) { warden, client in
            let (clientID, username, password) = try await seed(warden)
            let query = authorizeQuery(clientID)
            let page = try await client.execute(uri: "/authorize?" + query, method: .get)
            let csrf = try #require(hidden("csrf_token", in: String(buffer: page.body)))
            let anonymous = try #require(cookie(page))
            let encodedQuery = query.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            func attempt(_ password: String) async throws -> TestResponse {
                try await client.execute(
                    uri: "/login", method: .post, headers: [.contentType: "application/x-www-form-urlencoded", .cookie: anonymous],
                    body: ByteBuffer(string: "csrf_token=\(csrf)&username=\(username)&password=\(password)&authorization_request=\(encodedQuery)"))
            }
            #expect(try await attempt("a").status == .ok)
            #expect(try await attempt("b").status == .ok)
            let limited = try await attempt(password.replacingOccurrences(of: " ", with: "+"))
            #expect(limited.status == .tooManyRequests)
            #expect(Int(limited.headers[.retryAfter] ?? "") ?? 0 > 0)
            expectPageHeaders(limited)
        }
    }

    @Test("the stylesheet is same-origin CSS")
    func stylesheet() async throws {
        try await TestWarden.run { _, client in
            let response = try await client.execute(uri: "/static/warden.css", method: .get)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType]?.hasPrefix("text/css") == true)
        }
    }
}
