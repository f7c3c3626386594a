import Foundation
import Testing
import WardenCore
import WardenTestSupport

/// RFC 8693 as DEVICES-AND-REGISTRATION.md narrows it: a service exchanges tokens sent
/// to its own audience, for its exchange audiences, never for more scope or life.
@Suite("Token exchange (RFC 8693)")
struct TokenExchangeTests {
    static let accessTokenType = TokenExchangeGrant.accessTokenType

    struct World {
        let clients: InMemoryClients
        let signer = RecordingSigner()
        let grant: TokenExchangeGrant
        let service: Client
        let secret: ClientSecret

        init() {
            var (service, secret) = Client.confidential(id: "orders", audiences: ["https://orders.example"])
            service.grantTypes = [.tokenExchange]
            service.exchangeAudiences = ["https://billing.example", "https://stock.example"]
            (self.service, self.secret) = (service, secret)
            clients = InMemoryClients([service])
            let revocations = InMemoryRevocations()
            let grants = InMemoryGrants()
            let introspection = IntrospectionEndpoint(
                authenticator: ClientAuthenticator(clients: clients), verifier: signer, revocations: revocations, clients: clients,
                grants: grants, changes: InMemoryChanges(clients: clients, revocations: revocations, grants: grants), clock: SystemClock())
            grant = TokenExchangeGrant(issuer: "https://issuer", introspection: introspection, signer: signer, clock: SystemClock())
        }

        /// A live token of client `orders` (which is registered), for `audience`, with `actors`.
        func subjectToken(audience: String = "https://orders.example", scope: String = "invoices:read invoices:write",
                          lifetime: TimeInterval = 300, actors: [String] = []) async throws -> String {
            var claims = AccessTokenClaims(
                issuer: "https://issuer", subject: "user-1", audience: [audience], clientID: "orders",
                scope: Scope(tokens: scope.split(separator: " ").map(String.init)), issuedAt: Date(),
                expiresAt: Date().addingTimeInterval(lifetime), jwtID: RandomToken.make(byteCount: 8))
            claims.actors = actors
            return try await signer.sign(claims)
        }

        func exchange(_ fields: [String: String]) async throws -> (TokenResponse, AccessTokenClaims?) {
            let response = try await grant.respond(to: FormBody(fields), client: service)
            return (response, await signer.verify(response.accessToken))
        }
    }

    @Test("the exchanged token keeps the subject, narrows to the target and never outlives the subject token")
    func exchange() async throws {
        let world = World()
        let subject = try await world.subjectToken(lifetime: 120)
        let (response, claims) = try await world.exchange([
            "subject_token": subject, "subject_token_type": Self.accessTokenType, "audience": "https://stock.example", "scope": "invoices:read",
        ])
        #expect(response.issuedTokenType == Self.accessTokenType && response.refreshToken == nil && response.tokenType == "Bearer")
        #expect(response.expiresIn <= 120 && response.expiresIn >= 118)
        #expect(claims?.subject == "user-1" && claims?.clientID == "orders" && claims?.audience == ["https://stock.example"])
        #expect(claims?.scope.description == "invoices:read" && claims?.actors == [])
        // Without a target: the first exchange audience.
        let (_, fallback) = try await world.exchange(["subject_token": subject, "subject_token_type": Self.accessTokenType])
        #expect(fallback?.audience == ["https://billing.example"])
        // One target named both ways is one audience.
        let (_, same) = try await world.exchange([
            "subject_token": subject, "subject_token_type": Self.accessTokenType, "resource": "https://stock.example",
            "audience": "https://stock.example",
        ])
        #expect(same?.audience == ["https://stock.example"])
    }

    @Test("an actor token adds act, nesting the subject token's own")
    func actor() async throws {
        let world = World()
        let subject = try await world.subjectToken(actors: ["gateway"])
        let actor = try await world.subjectToken()
        let (_, claims) = try await world.exchange([
            "subject_token": subject, "subject_token_type": Self.accessTokenType, "actor_token": actor, "actor_token_type": Self.accessTokenType,
        ])
        #expect(claims?.actors == ["user-1", "gateway"])
        #expect(claims?.actorJSON == #"{"sub":"user-1","act":{"sub":"gateway"}}"#)
    }

    @Test("every refused request changes nothing and names the RFC's error", arguments: [
        ("no subject token", OAuthError.Code.invalidRequest), ("no token type", .invalidRequest), ("another token type", .invalidRequest),
        ("a dead subject token", .invalidRequest), ("another audience's token", .invalidRequest), ("a dead actor token", .invalidRequest),
        ("actor type alone", .invalidRequest), ("an audience not registered", .invalidTarget), ("more scope", .invalidScope),
    ])
    func refused(_ case: String, expected: OAuthError.Code) async throws {
        let world = World()
        let subject = try await world.subjectToken()
        var fields = ["subject_token": subject, "subject_token_type": Self.accessTokenType]
        switch `case` {
        case "no subject token": fields["subject_token"] = nil
        case "no token type": fields["subject_token_type"] = nil
        case "another token type": fields["subject_token_type"] = "urn:ietf:params:oauth:token-type:refresh_token"
        case "a dead subject token": fields["subject_token"] = "not-a-token"
        case "another audience's token": fields["subject_token"] = try await world.subjectToken(audience: "https://elsewhere.example")
        case "a dead actor token": (fields["actor_token"], fields["actor_token_type"]) = ("nope", Self.accessTokenType)
        case "actor type alone": fields["actor_token_type"] = Self.accessTokenType
        case "an audience not registered": fields["resource"] = "https://elsewhere.example"
        default: fields["scope"] = "invoices:read admin"
        }
        let issued = world.signer.issued.withLock { $0.count }
        let error = await #expect(throws: OAuthError.self) { try await world.exchange(fields) }
        #expect(error?.code == expected)
        #expect(world.signer.issued.withLock { $0.count } == issued, "a refused exchange signed a token")
    }

    @Test("registration: confidential only, exchange audiences required with the grant and refused without it")
    func registration() {
        var registration = ClientRegistration(name: "svc", grantTypes: [.tokenExchange])
        #expect(throws: ClientRegistration.Invalid.self) { try registration.makeClient(now: Date()) }
        registration.exchangeAudiences = ["https://billing.example"]
        #expect((try? registration.makeClient(now: Date()))?.client.exchangeAudiences == ["https://billing.example"])
        registration.authMethod = ClientAuthMethod.none
        #expect(throws: ClientRegistration.Invalid.self) { try registration.makeClient(now: Date()) }
        var plain = ClientRegistration(name: "svc", grantTypes: [.clientCredentials])
        plain.exchangeAudiences = ["https://billing.example"]
        #expect(throws: ClientRegistration.Invalid.self) { try plain.makeClient(now: Date()) }
        #expect(GrantType(argument: "token_exchange") == .tokenExchange)
    }
}
