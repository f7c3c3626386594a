import Foundation
import Synchronization
import Testing
import WardenCore
import WardenTestSupport

/// The code and refresh lifecycles, through the Core types alone with in-memory fakes.
@Suite("Authorization code and refresh lifecycle")
struct AuthorizationFlowTests {
    static let issuer = "https://issuer.example"
    static let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    static let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"

    struct World {
        let clock = MovableClock()
        let grants = InMemoryGrants()
        let signer = RecordingSigner()
        let spa: Client
        let clients: InMemoryClients
        let endpoint: AuthorizationEndpoint
        let tokens: TokenEndpoint

        init(grace: TimeInterval = 0, skipConsent: Bool = false, allowPlain: Bool = false) {
            spa = Client(
                id: "spa", name: "Single-page app", secretDigest: nil, authMethod: .none, grantTypes: [.authorizationCode, .refreshToken],
                redirectURIs: ["http://127.0.0.1:8765/callback"], scope: Scope(tokens: ["profile", "offline_access"]), audiences: [],
                skipConsent: skipConsent, pkceOptional: false, createdAt: Date())
            clients = InMemoryClients([spa])
            endpoint = AuthorizationEndpoint(
                configuration: .init(issuer: AuthorizationFlowTests.issuer, defaultAudience: "https://api", allowPlainPKCE: allowPlain),
                clients: clients, grants: grants, consents: grants, clock: clock)
            let issuer = UserTokenIssuer(
                configuration: .init(
                    issuer: AuthorizationFlowTests.issuer, accessTokenLifetime: 300, refreshTokenIdleLifetime: 3600,
                    refreshTokenAbsoluteLifetime: 86_400, refreshTokenGracePeriod: grace),
                signer: signer)
            tokens = TokenEndpoint(
                authenticator: ClientAuthenticator(clients: clients),
                handlers: [
                    .authorizationCode: AuthorizationCodeGrant(tokens: issuer, grants: grants, clock: clock),
                    .refreshToken: RefreshTokenGrant(tokens: issuer, grants: grants, clock: clock),
                ])
        }

        func query(_ extra: [String: String] = [:]) -> FormBody {
            var values = [
                "response_type": "code", "client_id": "spa", "redirect_uri": "http://127.0.0.1:8765/callback", "scope": "profile",
                "state": "s t&a", "code_challenge": AuthorizationFlowTests.challenge, "code_challenge_method": "S256",
            ]
            for (key, value) in extra { values[key] = value }
            return FormBody(values)
        }

        /// Runs /authorize for user "u1" and returns the code.
        func code(_ extra: [String: String] = [:]) async throws -> String {
            let request = try await endpoint.validate(query(extra))
            let redirect = try await endpoint.approve(request, userID: "u1", rememberConsent: true)
            let items = try #require(URLComponents(string: redirect.location)?.queryItems)
            #expect(items.first { $0.name == "state" }?.value == "s t&a")
            #expect(items.first { $0.name == "iss" }?.value == AuthorizationFlowTests.issuer)
            return try #require(items.first { $0.name == "code" }?.value)
        }

        func redeem(_ code: String, verifier: String? = AuthorizationFlowTests.verifier, redirectURI: String? = "http://127.0.0.1:8765/callback")
            async throws -> TokenResponse
        {
            var form = ["grant_type": "authorization_code", "client_id": "spa", "code": code]
            if let verifier { form["code_verifier"] = verifier }
            if let redirectURI { form["redirect_uri"] = redirectURI }
            return try await tokens.respond(to: FormBody(form), authorization: nil).response
        }

        func refresh(_ token: String, scope: String? = nil) async throws -> TokenResponse {
            var form = ["grant_type": "refresh_token", "client_id": "spa", "refresh_token": token]
            if let scope { form["scope"] = scope }
            return try await tokens.respond(to: FormBody(form), authorization: nil).response
        }

        func grantIsActive(of accessToken: String) async throws -> Bool {
            let claims = try #require(await signer.verify(accessToken))
            return try await grants.activeGrantEnd(id: try #require(claims.grantID), at: clock.now()) != nil
        }
    }

    func expectOAuthError(_ code: OAuthError.Code, _ body: () async throws -> some Any) async {
        let error = await #expect(throws: OAuthError.self) { _ = try await body() }
        #expect(error?.code == code)
    }

    @Test("a code is exchanged once for an access and a refresh token bound to the user")
    func exchange() async throws {
        let world = World()
        let response = try await world.redeem(try await world.code())
        let refresh = try #require(response.refreshToken)
        #expect(refresh.count >= 43)
        let claims = try #require(await world.signer.verify(response.accessToken))
        #expect(claims.subject == "u1")
        #expect(claims.clientID == "spa")
        #expect(claims.audience == ["https://api"])
        #expect(claims.scope.tokens == ["profile"])
    }

    @Test("a second redemption is invalid_grant and revokes what the first issued")
    func codeReuse() async throws {
        let world = World()
        let code = try await world.code()
        let first = try await world.redeem(code)
        await expectOAuthError(.invalidGrant) { try await world.redeem(code) }
        #expect(try await !world.grantIsActive(of: first.accessToken))
        await expectOAuthError(.invalidGrant) { try await world.refresh(try #require(first.refreshToken)) }
    }

    @Test("codes expire after 60 seconds")
    func codeExpiry() async throws {
        let world = World()
        let code = try await world.code()
        world.clock.advance(60)
        await expectOAuthError(.invalidGrant) { try await world.redeem(code) }
    }

    @Test("a wrong or missing verifier, or another redirect_uri, is invalid_grant and leaves the code usable")
    func bindings() async throws {
        let world = World()
        let code = try await world.code()
        await expectOAuthError(.invalidGrant) { try await world.redeem(code, verifier: String(repeating: "a", count: 43)) }
        await expectOAuthError(.invalidGrant) { try await world.redeem(code, verifier: nil) }
        await expectOAuthError(.invalidGrant) { try await world.redeem(code, redirectURI: nil) }
        await expectOAuthError(.invalidGrant) { try await world.redeem(code, redirectURI: "http://127.0.0.1:8765/other") }
        _ = try await world.redeem(code)
    }

    @Test("a verifier for a code issued without a challenge is refused (PKCE downgrade)")
    func downgrade() async throws {
        let world = World()
        var confidential = world.spa
        confidential.id = "web"
        confidential.authMethod = .clientSecretPost
        let secret = ClientSecret.generate()
        confidential.secretDigest = secret.digest
        confidential.pkceOptional = true
        try await world.clients.insert(confidential)
        let request = try await world.endpoint.validate(FormBody([
            "response_type": "code", "client_id": "web", "redirect_uri": "http://127.0.0.1:8765/callback",
        ]))
        #expect(request.codeChallenge == nil)
        let redirect = try await world.endpoint.approve(request, userID: "u1", rememberConsent: false)
        let code = try #require(URLComponents(string: redirect.location)?.queryItems?.first { $0.name == "code" }?.value)
        let error = await #expect(throws: OAuthError.self) {
            try await world.tokens.respond(
                to: FormBody([
                    "grant_type": "authorization_code", "client_id": "web", "client_secret": secret.value, "code": code,
                    "redirect_uri": "http://127.0.0.1:8765/callback", "code_verifier": AuthorizationFlowTests.verifier,
                ]), authorization: nil)
        }
        #expect(error?.code == .invalidGrant)
    }

    @Test("refresh rotates: a new token each time, the old one dead, and reuse revokes the grant")
    func rotation() async throws {
        let world = World()
        let first = try await world.redeem(try await world.code())
        let second = try await world.refresh(try #require(first.refreshToken))
        let third = try await world.refresh(try #require(second.refreshToken))
        #expect(Set([first.refreshToken, second.refreshToken, third.refreshToken]).count == 3)
        #expect(try await world.grantIsActive(of: third.accessToken))
        await expectOAuthError(.invalidGrant) { try await world.refresh(try #require(first.refreshToken)) }
        #expect(try await !world.grantIsActive(of: third.accessToken))
        await expectOAuthError(.invalidGrant) { try await world.refresh(try #require(third.refreshToken)) }
    }

    @Test("scope narrows on refresh but never widens")
    func narrowing() async throws {
        let world = World()
        let first = try await world.redeem(try await world.code(["scope": "profile offline_access"]))
        let narrowed = try await world.refresh(try #require(first.refreshToken), scope: "profile")
        #expect(narrowed.scope == "profile")
        // The new refresh token keeps the original scope (RFC 6749 §6).
        let again = try await world.refresh(try #require(narrowed.refreshToken), scope: "profile offline_access")
        #expect(again.scope == "profile offline_access")
        await expectOAuthError(.invalidScope) { try await world.refresh(try #require(again.refreshToken), scope: "admin") }
    }

    @Test("refresh tokens die when unused for the idle lifetime")
    func idleExpiry() async throws {
        let world = World()
        let first = try await world.redeem(try await world.code())
        world.clock.advance(3601)
        await expectOAuthError(.invalidGrant) { try await world.refresh(try #require(first.refreshToken)) }
    }

    @Test("no refresh outlives the absolute lifetime")
    func absoluteExpiry() async throws {
        let world = World()
        var token = try #require(try await world.redeem(try await world.code()).refreshToken)
        for _ in 0..<24 {
            world.clock.advance(3500)
            token = try #require(try await world.refresh(token).refreshToken)
        }
        world.clock.advance(3500)
        await expectOAuthError(.invalidGrant) { try await world.refresh(token) }
    }

    @Test("within the grace window a lost response can be retried once; the earlier successor dies")
    func grace() async throws {
        let world = World(grace: 10)
        let first = try await world.redeem(try await world.code())
        let lost = try await world.refresh(try #require(first.refreshToken))
        world.clock.advance(5)
        let retried = try await world.refresh(try #require(first.refreshToken))
        await expectOAuthError(.invalidGrant) { try await world.refresh(try #require(lost.refreshToken)) }
        // Presenting the dead successor counts as reuse: the grant is gone, retried chain too.
        await expectOAuthError(.invalidGrant) { try await world.refresh(try #require(retried.refreshToken)) }
    }

    @Test("the grace window allows one retry only, and not after it has passed")
    func graceLimits() async throws {
        let world = World(grace: 10)
        let first = try await world.redeem(try await world.code())
        _ = try await world.refresh(try #require(first.refreshToken))
        _ = try await world.refresh(try #require(first.refreshToken))
        await expectOAuthError(.invalidGrant) { try await world.refresh(try #require(first.refreshToken)) }

        let other = World(grace: 10)
        let start = try await other.redeem(try await other.code())
        let next = try await other.refresh(try #require(start.refreshToken))
        other.clock.advance(11)
        await expectOAuthError(.invalidGrant) { try await other.refresh(try #require(start.refreshToken)) }
        await expectOAuthError(.invalidGrant) { try await other.refresh(try #require(next.refreshToken)) }
    }

    @Test("without a grace window the first replay revokes")
    func noGrace() async throws {
        let world = World()
        let first = try await world.redeem(try await world.code())
        let second = try await world.refresh(try #require(first.refreshToken))
        await expectOAuthError(.invalidGrant) { try await world.refresh(try #require(first.refreshToken)) }
        await expectOAuthError(.invalidGrant) { try await world.refresh(try #require(second.refreshToken)) }
    }

    @Test("consent is remembered for the same or fewer scopes, not more")
    func consentMemory() async throws {
        let world = World()
        let profile = try await world.endpoint.validate(world.query(["scope": "profile"]))
        #expect(try await world.endpoint.needsConsent(profile, userID: "u1"))
        _ = try await world.endpoint.approve(profile, userID: "u1", rememberConsent: true)
        #expect(try await !world.endpoint.needsConsent(profile, userID: "u1"))
        #expect(try await world.endpoint.needsConsent(profile, userID: "u2"))
        let more = try await world.endpoint.validate(world.query(["scope": "profile offline_access"]))
        #expect(try await world.endpoint.needsConsent(more, userID: "u1"))
        let skipping = World(skipConsent: true)
        #expect(try await !skipping.endpoint.needsConsent(try await skipping.endpoint.validate(skipping.query()), userID: "u1"))
    }

    @Test("unknown clients and unregistered redirect URIs get a page, never a redirect", arguments: [
        ["client_id": "nobody"], ["redirect_uri": "https://evil.example/callback"], ["client_id": ""],
    ])
    func pageErrors(extra: [String: String]) async throws {
        let world = World()
        await #expect {
            _ = try await world.endpoint.validate(world.query(extra))
        } throws: { error in
            if case .page = error as? AuthorizationFailure { return true }
            return false
        }
    }

    @Test("other errors redirect with error, state and iss", arguments: [
        (["response_type": "token"], "unsupported_response_type"),
        (["scope": "admin"], "invalid_scope"),
        (["code_challenge": ""], "invalid_request"),
        (["code_challenge_method": "plain"], "invalid_request"),
        (["code_challenge_method": ""], "invalid_request"),
        (["code_challenge": "short"], "invalid_request"),
        (["resource": "https://elsewhere"], "invalid_target"),
    ])
    func redirectErrors(extra: [String: String], error: String) async throws {
        let world = World()
        do {
            _ = try await world.endpoint.validate(world.query(extra))
            Issue.record("expected a failure")
        } catch let AuthorizationFailure.redirect(response) {
            let items = try #require(URLComponents(string: response.location)?.queryItems)
            #expect(response.location.hasPrefix("http://127.0.0.1:8765/callback?"))
            #expect(items.first { $0.name == "error" }?.value == error)
            #expect(items.first { $0.name == "state" }?.value == "s t&a")
            #expect(items.first { $0.name == "iss" }?.value == AuthorizationFlowTests.issuer)
        }
    }

    @Test("plain PKCE works only when enabled")
    func plainEnabled() async throws {
        let world = World(allowPlain: true)
        let verifier = String(repeating: "p", count: 50)
        let code = try await world.code(["code_challenge": verifier, "code_challenge_method": "plain"])
        _ = try await world.redeem(code, verifier: verifier)
    }

    @Test("deny redirects with access_denied, state and iss")
    func deny() async throws {
        let world = World()
        let request = try await world.endpoint.validate(world.query())
        let items = try #require(URLComponents(string: try await world.endpoint.deny(request).location)?.queryItems)
        #expect(items.first { $0.name == "error" }?.value == "access_denied")
        #expect(items.first { $0.name == "state" }?.value == "s t&a")
        #expect(items.first { $0.name == "iss" }?.value == AuthorizationFlowTests.issuer)
    }
}
