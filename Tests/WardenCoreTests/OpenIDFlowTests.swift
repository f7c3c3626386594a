import Foundation
import Synchronization
import Testing
import WardenCore
import WardenTestSupport

/// "Signs" ID and logout tokens by remembering their claims; reads back hints it was given.
final class RecordingOpenIDSigner: OpenIDTokenSigner {
    let idTokens = Mutex<[String: (IDTokenClaims, SigningAlgorithm)]>([:])
    let hints = Mutex<[String: IDTokenHint]>([:])
    func signIDToken(_ claims: IDTokenClaims, algorithm: SigningAlgorithm) async throws -> String {
        let token = "id-" + RandomToken.make(byteCount: 8)
        idTokens.withLock { $0[token] = (claims, algorithm) }
        return token
    }
    func signLogoutToken(_ claims: LogoutTokenClaims, algorithm: SigningAlgorithm) async throws -> String { "logout" }
    func verifyIDTokenHint(_ token: String) async -> IDTokenHint? { hints.withLock { $0[token] } }
    func claims(of token: String?) -> (IDTokenClaims, SigningAlgorithm)? { token.flatMap { token in idTokens.withLock { $0[token] } } }
}

/// OpenID Connect through the Core types: the next step of a request, ID tokens, UserInfo, logout.
@Suite("OpenID Connect protocol")
struct OpenIDFlowTests {
    static let issuer = "https://issuer.example"
    static let redirect = "http://127.0.0.1:8765/callback"

    struct World {
        let clock = MovableClock()
        let grants = InMemoryGrants()
        let signer = RecordingSigner()
        let idTokens = RecordingOpenIDSigner()
        let rp: Client
        let endpoint: AuthorizationEndpoint
        let tokens: TokenEndpoint
        let userInfo: UserInfoEndpoint
        let user = User(
            id: "u1", username: "alice", passwordHash: "x", createdAt: Date(timeIntervalSince1970: 1_700_000_000),
            profile: UserProfile(
                name: "Alice Liddell", givenName: "Alice", email: "alice@example.com", emailVerified: true,
                updatedAt: Date(timeIntervalSince1970: 1_700_000_100)))

        init(algorithm: SigningAlgorithm = .rs256, skipConsent: Bool = false) {
            rp = Client(
                id: "rp", name: "Relying party", secretDigest: nil, authMethod: .none, grantTypes: [.authorizationCode, .refreshToken],
                redirectURIs: [OpenIDFlowTests.redirect], scope: Scope(tokens: ["openid", "profile", "email", "offline_access"]),
                audiences: [], skipConsent: skipConsent, pkceOptional: false, createdAt: Date(), idTokenSigningAlgorithm: algorithm,
                postLogoutRedirectURIs: ["https://rp.example/bye"])
            let clients = InMemoryClients([rp])
            grants.add(user)
            endpoint = AuthorizationEndpoint(
                configuration: .init(issuer: OpenIDFlowTests.issuer, defaultAudience: "https://api", allowPlainPKCE: false),
                clients: clients, grants: grants, consents: grants, idTokens: idTokens, clock: clock)
            let issuer = UserTokenIssuer(
                configuration: .init(
                    issuer: OpenIDFlowTests.issuer, accessTokenLifetime: 300, refreshTokenIdleLifetime: 3600,
                    refreshTokenAbsoluteLifetime: 86_400, refreshTokenGracePeriod: 0, idTokenLifetime: 600),
                signer: signer, idTokens: idTokens, users: InMemoryUsers(user))
            tokens = TokenEndpoint(
                authenticator: ClientAuthenticator(clients: clients),
                handlers: [
                    .authorizationCode: AuthorizationCodeGrant(tokens: issuer, grants: grants, clock: clock),
                    .refreshToken: RefreshTokenGrant(tokens: issuer, grants: grants, clock: clock),
                ])
            let revocations = InMemoryRevocations()
            let introspection = IntrospectionEndpoint(
                authenticator: ClientAuthenticator(clients: clients), verifier: signer, revocations: revocations,
                clients: clients, grants: grants, changes: InMemoryChanges(clients: clients, revocations: revocations, grants: grants),
                clock: clock)
            userInfo = UserInfoEndpoint(introspection: introspection, grants: grants, clock: clock)
        }

        var session: BrowserSession {
            BrowserSession(
                digest: [1], sid: "sid-1", userID: user.id, csrfToken: "c", authenticatedAt: clock.now().addingTimeInterval(-100),
                expiresAt: clock.now().addingTimeInterval(3600))
        }

        func request(_ extra: [String: String] = [:]) async throws -> AuthorizationRequest {
            var values = [
                "response_type": "code", "client_id": "rp", "redirect_uri": OpenIDFlowTests.redirect, "scope": "openid profile",
                "state": "st", "nonce": "n-0S6_WzA2Mj", "code_challenge": AuthorizationFlowTests.challenge, "code_challenge_method": "S256",
            ]
            for (key, value) in extra { values[key] = value }
            return try await endpoint.validate(FormBody(values))
        }

        /// The redemption of a code approved in `session` for `request`.
        func tokens(for request: AuthorizationRequest) async throws -> TokenResponse {
            let response = try await endpoint.approve(request, userID: user.id, session: session, rememberConsent: true)
            let code = try #require(response["code"])
            return try await tokens.respond(
                to: FormBody([
                    "grant_type": "authorization_code", "client_id": "rp", "code": code, "redirect_uri": OpenIDFlowTests.redirect,
                    "code_verifier": AuthorizationFlowTests.verifier,
                ]), authorization: nil
            ).response
        }
    }

    /// The error `validate` redirects with.
    func redirectedError(_ world: World, _ extra: [String: String]) async throws -> AuthorizationResponse? {
        do {
            _ = try await world.request(extra)
            return nil
        } catch let AuthorizationFailure.redirect(response) {
            return response
        }
    }

    @Test(
        "bad OpenID parameters are redirected as invalid_request (or request_not_supported), with state and iss",
        arguments: [
            (["nonce": String(repeating: "n", count: 256)], "invalid_request"),
            (["nonce": "tab\there"], "invalid_request"),
            (["prompt": "none login"], "invalid_request"),
            (["prompt": "sometimes"], "invalid_request"),
            (["max_age": "-1"], "invalid_request"),
            (["max_age": "+5"], "invalid_request"),
            (["max_age": "soon"], "invalid_request"),
            (["claims": "{not json"], "invalid_request"),
            (["claims": #"{"userinfo":["email"]}"#], "invalid_request"),
            (["claims": #"{"id_token":{"email":true}}"#], "invalid_request"),
            (["id_token_hint": "not-ours"], "invalid_request"),
            (["request": "eyJhbGciOiJub25lIn0.e30."], "request_not_supported"),
            (["request_uri": "https://rp.example/request.jwt"], "request_uri_not_supported"),
            (["response_mode": "fragment"], "invalid_request"),
        ])
    func badParameters(extra: [String: String], error: String) async throws {
        let world = World()
        let response = try #require(try await redirectedError(world, extra))
        #expect(response["error"] == error)
        #expect(response["state"] == "st" && response["iss"] == Self.issuer)
        #expect(response.mode == .query)
    }

    @Test("with response_mode=form_post, errors go by form_post too")
    func formPostErrors() async throws {
        let response = try #require(try await redirectedError(World(), ["response_mode": "form_post", "prompt": "none consent"]))
        #expect(response.mode == .formPost && response["error"] == "invalid_request")
    }

    @Test("who must sign in or consent: prompt, max_age and id_token_hint")
    func nextStep() async throws {
        let world = World()
        let session = world.session
        func step(_ extra: [String: String], signedIn: Bool = true, justSignedIn: Bool = false) async throws -> AuthorizationStep {
            try await world.endpoint.nextStep(
                try await world.request(extra), userID: signedIn ? world.user.id : nil, session: signedIn ? session : nil,
                justSignedIn: justSignedIn)
        }
        func error(_ step: AuthorizationStep) -> String? { if case .fail(let response) = step { response["error"] } else { nil } }
        #expect(try await step([:], signedIn: false) == .signIn)
        #expect(try await step([:]) == .consent)
        #expect(error(try await step(["prompt": "none"], signedIn: false)) == "login_required")
        #expect(error(try await step(["prompt": "none"])) == "consent_required")
        _ = try await world.endpoint.approve(try await world.request(), userID: world.user.id, session: session, rememberConsent: true)
        #expect(try await step([:]) == .issueCode)
        #expect(try await step(["prompt": "none"]) == .issueCode)
        #expect(try await step(["prompt": "consent"]) == .consent)
        for prompt in ["login", "select_account"] {
            #expect(try await step(["prompt": prompt]) == .signIn)
            #expect(try await step(["prompt": prompt], justSignedIn: true) == .issueCode)
        }
        // The session's password is 100 s old.
        #expect(try await step(["max_age": "200"]) == .issueCode)
        #expect(try await step(["max_age": "99"]) == .signIn)
        #expect(error(try await step(["max_age": "99", "prompt": "none"])) == "login_required")
        #expect(try await step(["max_age": "0"]) == .signIn)
        #expect(try await step(["max_age": "0"], justSignedIn: true) == .issueCode)
        world.idTokens.hints.withLock {
            $0["hint-alice"] = IDTokenHint(subject: "u1", audience: ["rp"], sessionID: "sid-1")
            $0["hint-bob"] = IDTokenHint(subject: "u2", audience: ["rp"], sessionID: "sid-9")
        }
        #expect(try await step(["prompt": "none", "id_token_hint": "hint-alice"]) == .issueCode)
        #expect(error(try await step(["prompt": "none", "id_token_hint": "hint-bob"])) == "login_required")
        #expect(try await step(["id_token_hint": "hint-bob"]) == .signIn)
    }

    @Test("claims asked for through the claims parameter need consent like their scope, remembered with it")
    func claimsNeedConsent() async throws {
        let world = World()
        let emailClaims = ["claims": #"{"userinfo":{"email":null},"id_token":{"email_verified":{"essential":true}}}"#]
        let asking = try await world.request(emailClaims)
        #expect(!asking.scope.tokens.contains("email"))
        #expect(asking.consentScope.tokens.contains("email"))
        #expect(try await world.request().consentScope == (try await world.request()).scope)
        // Consent to the scope alone does not cover the email the claims parameter asks for.
        _ = try await world.endpoint.approve(try await world.request(), userID: world.user.id, session: world.session, rememberConsent: true)
        func step(_ extra: [String: String]) async throws -> AuthorizationStep {
            try await world.endpoint.nextStep(try await world.request(extra), userID: world.user.id, session: world.session, justSignedIn: false)
        }
        #expect(try await step([:]) == .issueCode)
        #expect(try await step(emailClaims) == .consent)
        _ = try await world.endpoint.approve(asking, userID: world.user.id, session: world.session, rememberConsent: true)
        #expect(try await step(emailClaims) == .issueCode)
        // Claims Warden does not keep ask for nothing more.
        #expect(try await world.request(["claims": #"{"userinfo":{"phone_number":null}}"#]).consentScope == (try await world.request()).scope)
    }

    @Test("the code's ID token: nonce, sid, auth_time, at_hash of the access token, amr, azp, in the client's algorithm",
          arguments: [SigningAlgorithm.rs256, .es256, .edDSA])
    func idToken(_ algorithm: SigningAlgorithm) async throws {
        let world = World(algorithm: algorithm)
        let response = try await world.tokens(for: try await world.request())
        let (claims, signedWith) = try #require(world.idTokens.claims(of: response.idToken))
        #expect(signedWith == algorithm)
        #expect(claims.issuer == Self.issuer && claims.subject == "u1" && claims.clientID == "rp")
        #expect(claims.nonce == "n-0S6_WzA2Mj" && claims.sessionID == "sid-1" && claims.authenticationMethods == ["pwd"])
        #expect(claims.authTime == world.session.authenticatedAt)
        #expect(claims.expiresAt == claims.issuedAt.addingTimeInterval(600))
        #expect(claims.accessTokenHash == IDTokenClaims.accessTokenHash(response.accessToken, algorithm: algorithm))
        // Scope claims go to UserInfo, not into the ID token (Core §5.4).
        #expect(claims.userClaims.isEmpty)
    }

    @Test("a refresh gives a new ID token with the same sub, aud, auth_time and sid, and no nonce")
    func refreshedIDToken() async throws {
        let world = World()
        let first = try await world.tokens(for: try await world.request(["scope": "openid offline_access"]))
        world.clock.advance(30)
        let refreshed = try await world.tokens.respond(
            to: FormBody(["grant_type": "refresh_token", "client_id": "rp", "refresh_token": try #require(first.refreshToken)]),
            authorization: nil
        ).response
        let (before, _) = try #require(world.idTokens.claims(of: first.idToken))
        let (after, _) = try #require(world.idTokens.claims(of: refreshed.idToken))
        #expect(after.subject == before.subject && after.clientID == before.clientID)
        #expect(after.authTime == before.authTime && after.sessionID == before.sessionID)
        #expect(after.issuedAt == before.issuedAt.addingTimeInterval(30))
        #expect(after.nonce == nil)
        #expect(after.accessTokenHash == IDTokenClaims.accessTokenHash(refreshed.accessToken, algorithm: .rs256))
    }

    @Test("without openid there is no ID token")
    func notOpenID() async throws {
        let world = World()
        #expect(try await world.tokens(for: try await world.request(["scope": "profile"])).idToken == nil)
    }

    @Test("the claims parameter: id_token names go into the ID token, userinfo names to UserInfo, whatever the scope")
    func claimsParameter() async throws {
        let world = World()
        let request = try await world.request(["scope": "openid", "claims": #"{"id_token":{"email":{"essential":true},"nickname":null},"userinfo":{"name":null}}"#])
        let response = try await world.tokens(for: request)
        let (claims, _) = try #require(world.idTokens.claims(of: response.idToken))
        #expect(claims.userClaims.map(\.name) == ["email"])
        let info = try await world.userInfo.claims(accessToken: response.accessToken)
        #expect(info.map(\.name) == ["sub", "name"])
    }

    @Test("UserInfo: sub and the claims of the token's scopes the user has; no openid is insufficient_scope; a bad token invalid_token")
    func userInfo() async throws {
        let world = World()
        let response = try await world.tokens(for: try await world.request(["scope": "openid profile email"]))
        let info = try await world.userInfo.claims(accessToken: response.accessToken)
        #expect(info.map(\.name) == ["sub", "name", "given_name", "preferred_username", "updated_at", "email", "email_verified"])
        #expect(info.first { $0.name == "updated_at" }?.value == .int(1_700_000_100))
        #expect(info.first { $0.name == "email_verified" }?.value == .bool(true))
        let plain = try await world.tokens(for: try await world.request(["scope": "profile"]))
        let denied = await #expect(throws: OAuthError.self) { try await world.userInfo.claims(accessToken: plain.accessToken) }
        #expect(denied?.code == .insufficientScope)
        let invalid = await #expect(throws: OAuthError.self) { try await world.userInfo.claims(accessToken: "garbage") }
        #expect(invalid?.code == .invalidToken)
        try await world.grants.revokeGrant(id: try #require(await world.signer.verify(response.accessToken)?.grantID), at: world.clock.now())
        let revoked = await #expect(throws: OAuthError.self) { try await world.userInfo.claims(accessToken: response.accessToken) }
        #expect(revoked?.code == .invalidToken)
    }

    @Test("UserInfo remembers a grant's user briefly: a changed profile shows within two seconds, a revoked grant at once")
    func userInfoCache() async throws {
        let world = World()
        let response = try await world.tokens(for: try await world.request(["scope": "openid profile"]))
        let name = { try await world.userInfo.claims(accessToken: response.accessToken).first { $0.name == "name" }?.value }
        #expect(try await name() == .string("Alice Liddell"))
        var renamed = world.user
        renamed.profile.name = "Alice Pleasance Liddell"
        world.grants.add(renamed)
        #expect(try await name() == .string("Alice Liddell"))
        world.clock.advance(2)
        #expect(try await name() == .string("Alice Pleasance Liddell"))
        try await world.grants.revokeGrant(id: try #require(await world.signer.verify(response.accessToken)?.grantID), at: world.clock.now())
        await #expect(throws: OAuthError.self) { try await name() }
    }

    @Test("standard claims: an unset attribute is absent, and email_verified says nothing without an email")
    func standardClaims() {
        let bare = User(id: "u", username: "bob", passwordHash: "x", createdAt: Date(timeIntervalSince1970: 5))
        let claims = StandardClaims.claims(of: bare, scope: Scope(tokens: ["profile", "email"]))
        #expect(claims.map(\.name) == ["preferred_username", "updated_at"])
    }

    @Test("at_hash is the left half of the access token's hash (OpenID Connect Core example, RS256)")
    func accessTokenHash() {
        #expect(IDTokenClaims.accessTokenHash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y", algorithm: .rs256) == "77QmUPtjPfzWtF2AnpK9RQ")
        #expect(IDTokenClaims.accessTokenHash("x", algorithm: .edDSA).count == 43)  // 32 of SHA-512's 64 bytes
    }

    @Test("client credentials never carry openid: asked for, it is invalid_scope; by default it is left out")
    func clientCredentials() async throws {
        let (client, _) = Client.confidential(scope: "openid invoices:read")
        let grant = ClientCredentialsGrant(
            configuration: .init(issuer: Self.issuer, accessTokenLifetime: 60, defaultAudience: "https://api"), signer: RecordingSigner(),
            clock: FixedClock(date: Date()))
        let error = await #expect(throws: OAuthError.self) { try await grant.respond(to: FormBody(["scope": "openid"]), client: client) }
        #expect(error?.code == .invalidScope)
        #expect(try await grant.respond(to: FormBody([:]), client: client).scope == "invoices:read")
    }

    @Test("logout: the redirect URI must be the client's, exactly; the client is the hint's audience or client_id, not both differing")
    func logout() async throws {
        let world = World()
        world.idTokens.hints.withLock { $0["hint"] = IDTokenHint(subject: "u1", audience: ["rp"], sessionID: "sid-1") }
        let logout = LogoutEndpoint(clients: InMemoryClients([world.rp]), idTokens: world.idTokens)
        let ok = try await logout.validate(FormBody(["id_token_hint": "hint", "post_logout_redirect_uri": "https://rp.example/bye", "state": "a b"]))
        #expect(ok.redirect == "https://rp.example/bye?state=a%20b")
        #expect(ok.isFrom(world.session))
        #expect(try await logout.validate(FormBody(["client_id": "rp", "post_logout_redirect_uri": "https://rp.example/bye"])).redirect
            == "https://rp.example/bye")
        #expect(try await logout.validate(FormBody([:])).redirect == nil)
        for bad in [
            ["client_id": "rp", "post_logout_redirect_uri": "https://rp.example/bye/"],
            ["post_logout_redirect_uri": "https://rp.example/bye"],
            ["id_token_hint": "hint", "client_id": "other"],
            ["id_token_hint": "forged"],
            ["client_id": "nobody"],
        ] {
            await #expect(throws: OAuthError.self, "\(bad)") { try await logout.validate(FormBody(bad)) }
        }
    }
}
