import Foundation
import Testing
import WardenCore
import WardenTestSupport

/// RFC 8628 as DEVICES-AND-REGISTRATION.md has it: a device asks, its person finds the
/// request by user code and decides, the device polls until exactly one poll gets tokens.
@Suite("Device authorization grant (RFC 8628)")
struct DeviceFlowTests {
    struct World {
        let clock = MovableClock()
        let grants = InMemoryGrants()
        let signer = RecordingSigner()
        let failures = FailureRateLimiter(limit: 3)
        let tv: Client
        let billing = Client.confidential()
        let endpoint: DeviceAuthorizationEndpoint
        let verification: DeviceVerification
        let tokens: TokenEndpoint

        init() {
            tv = Client(
                id: "tv", name: "TV", secretDigest: nil, authMethod: .none, grantTypes: [.deviceCode, .refreshToken], redirectURIs: [],
                scope: Scope(tokens: ["profile", "videos"]), audiences: ["https://videos.example"], skipConsent: false,
                pkceOptional: false, createdAt: Date(timeIntervalSince1970: 0))
            let clients = InMemoryClients([tv, billing.0])
            endpoint = DeviceAuthorizationEndpoint(
                configuration: .init(issuer: "https://issuer.example/", defaultAudience: "https://issuer.example"),
                authenticator: ClientAuthenticator(clients: clients), store: grants, clock: clock)
            verification = DeviceVerification(store: grants, clients: clients, perAddress: failures, clock: clock)
            let issuer = UserTokenIssuer(
                configuration: .init(
                    issuer: "https://issuer.example", accessTokenLifetime: 300, refreshTokenIdleLifetime: 3600,
                    refreshTokenAbsoluteLifetime: 86_400, refreshTokenGracePeriod: 0),
                signer: signer)
            tokens = TokenEndpoint(
                authenticator: ClientAuthenticator(clients: clients),
                handlers: [.deviceCode: DeviceCodeGrant(tokens: issuer, store: grants, clock: clock)])
        }

        func start(_ fields: [String: String] = [:]) async throws -> DeviceAuthorizationResponse {
            try await endpoint.authorize(form: FormBody(["client_id": "tv"].merging(fields) { $1 }), authorization: nil).response
        }

        func poll(_ deviceCode: String) async throws -> TokenResponse {
            let form = FormBody(["client_id": "tv", "grant_type": GrantType.deviceCode.rawValue, "device_code": deviceCode])
            return try await tokens.respond(to: form, authorization: nil).response
        }

        func found(_ typed: String) async throws -> DeviceAuthorizationRecord? {
            if case .found(let record, _) = try await verification.lookup(typed, address: "203.0.113.9") { return record }
            return nil
        }
    }

    func code(of call: () async throws -> TokenResponse) async -> OAuthError.Code? {
        do { _ = try await call() } catch let error as OAuthError { return error.code } catch { return nil }
        return nil
    }

    @Test("the response names the device and user codes, where to go, and how long and how often to poll")
    func response() async throws {
        let world = World()
        let started = try await world.start(["scope": "videos"])
        #expect(started.verificationURI == "https://issuer.example/device")
        #expect(started.verificationURIComplete == "https://issuer.example/device?user_code=" + started.userCode)
        #expect(started.expiresIn == 600 && started.interval == 5 && started.deviceCode.count == 43)
        #expect(started.userCode.count == 9 && started.userCode.filter { $0 != "-" }.allSatisfy(UserCode.alphabet.contains))
        let record = try #require(try await world.found(started.userCode.lowercased().replacingOccurrences(of: "-", with: " ")))
        #expect(record.scope.description == "videos" && record.audience == ["https://videos.example"])
    }

    @Test("a client without the grant, a scope or a resource it is not registered for is refused")
    func refusals() async throws {
        let world = World()
        let (billing, secret) = world.billing
        await #expect(throws: OAuthError(.unauthorizedClient, "This client is not registered for the device_code grant")) {
            try await world.endpoint.authorize(form: FormBody([:]), authorization: basic(billing.id, secret.value))
        }
        await #expect { try await world.start(["scope": "admin"]) } throws: { ($0 as? OAuthError)?.code == .invalidScope }
        await #expect { try await world.start(["resource": "https://elsewhere.example"]) } throws: {
            ($0 as? OAuthError)?.code == .invalidTarget
        }
    }

    @Test("polling: pending, too fast, pending again at the slowed interval, then one redemption")
    func polling() async throws {
        let world = World()
        let started = try await world.start()
        #expect(await code { try await world.poll(started.deviceCode) } == .authorizationPending)
        world.clock.advance(2)
        #expect(await code { try await world.poll(started.deviceCode) } == .slowDown)
        world.clock.advance(10)
        #expect(await code { try await world.poll(started.deviceCode) } == .authorizationPending)
        let record = try #require(try await world.found(started.userCode))
        #expect(try await world.verification.approve(record, userID: "user-1", session: nil))
        #expect(try await !world.verification.deny(record))
        world.clock.advance(10)
        let tokens = try await world.poll(started.deviceCode)
        let claims = await world.signer.verify(tokens.accessToken)
        #expect(claims?.subject == "user-1" && claims?.clientID == "tv" && claims?.grantID != nil)
        #expect(tokens.refreshToken != nil && tokens.scope == "profile videos")
        world.clock.advance(10)
        #expect(await code { try await world.poll(started.deviceCode) } == .invalidGrant)
    }

    @Test("denied is access_denied; expired is expired_token; a made-up code is invalid_grant")
    func endings() async throws {
        let world = World()
        let denied = try await world.start()
        let record = try #require(try await world.found(denied.userCode))
        #expect(try await world.verification.deny(record))
        #expect(await code { try await world.poll(denied.deviceCode) } == .accessDenied)
        let expiring = try await world.start()
        world.clock.advance(600)
        #expect(await code { try await world.poll(expiring.deviceCode) } == .expiredToken)
        #expect(try await world.found(expiring.userCode) == nil)
        #expect(await code { try await world.poll("not-a-device-code") } == .invalidGrant)
    }

    @Test("typed codes that find nothing spend the address's budget; one that finds a request is forgiven")
    func guessing() async throws {
        let world = World()
        let started = try await world.start()
        for guess in ["BCDF-GHJK", "no", "BCDF-GHJL"] { #expect(try await world.found(guess) == nil) }
        guard case .rateLimited(let wait) = try await world.verification.lookup(started.userCode, address: "203.0.113.9") else {
            Issue.record("a fourth lookup from the address was not rate limited")
            return
        }
        #expect(wait > 0 && wait <= 60)
        // Another address is not affected, and a hit costs nothing.
        for _ in 0..<5 {
            guard case .found = try await world.verification.lookup(started.userCode, address: "198.51.100.1") else {
                Issue.record("a correct code was refused")
                return
            }
        }
    }

    @Test("user codes: eight consonants shown as XXXX-XXXX; typing is forgiving of case, dashes and spaces")
    func userCodes() {
        let code = UserCode.generate()
        #expect(code.count == 8 && code.allSatisfy(UserCode.alphabet.contains))
        #expect(UserCode.display("BCDFGHJK") == "BCDF-GHJK")
        #expect(UserCode.normalized(" bcdf-ghjk ") == "BCDFGHJK" && UserCode.normalized("bc df gh jk") == "BCDFGHJK")
        for bad in ["BCDF-GHJ", "BCDF-GHJKL", "ABCD-EFGH", "BCDF-GHJ1", ""] { #expect(UserCode.normalized(bad) == nil) }
    }
}
