import Foundation
import Testing
import WardenCore

@Suite("Token endpoint and client credentials")
struct TokenEndpointTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func endpoint(_ clients: [Client], signer: RecordingSigner) -> TokenEndpoint {
        let grant = ClientCredentialsGrant(
            configuration: .init(issuer: "https://issuer", accessTokenLifetime: 600, defaultAudience: "https://issuer"),
            signer: signer, clock: FixedClock(date: now))
        return TokenEndpoint(authenticator: ClientAuthenticator(clients: InMemoryClients(clients)), handlers: [.clientCredentials: grant])
    }

    @Test("issues a token with the RFC 9068 claims")
    func issues() async throws {
        let (client, secret) = Client.confidential()
        let signer = RecordingSigner()
        let (_, response) = try await endpoint([client], signer: signer).respond(
            to: FormBody(["grant_type": "client_credentials", "scope": "invoices:read"]), authorization: basic(client.id, secret.value))
        #expect(response.tokenType == "Bearer")
        #expect(response.expiresIn == 600)
        #expect(response.scope == "invoices:read")
        let claims = try #require(await signer.verify(response.accessToken))
        #expect(claims.issuer == "https://issuer")
        #expect(claims.subject == client.id)
        #expect(claims.clientID == client.id)
        #expect(claims.audience == ["https://api.example.com"])
        #expect(claims.issuedAt == now)
        #expect(claims.expiresAt == now.addingTimeInterval(600))
        #expect(!claims.jwtID.isEmpty)
    }

    @Test("every token has its own jti")
    func uniqueJTI() async throws {
        let (client, secret) = Client.confidential()
        let signer = RecordingSigner()
        let endpoint = endpoint([client], signer: signer)
        for _ in 0..<10 {
            _ = try await endpoint.respond(to: FormBody(["grant_type": "client_credentials"]), authorization: basic(client.id, secret.value))
        }
        #expect(Set(signer.issued.withLock { $0.values.map(\.jwtID) }).count == 10)
    }

    @Test("errors in the order a client would expect", arguments: [
        (["scope": "invoices:read"], OAuthError.Code.invalidRequest),
        (["grant_type": "password"], .unsupportedGrantType),
        (["grant_type": "authorization_code"], .unsupportedGrantType),
        (["grant_type": "client_credentials", "scope": "admin"], .invalidScope),
        (["grant_type": "client_credentials", "resource": "https://elsewhere"], .invalidTarget),
    ])
    func errors(form: [String: String], expected: OAuthError.Code) async throws {
        let (client, secret) = Client.confidential()
        let error = await #expect(throws: OAuthError.self) {
            try await endpoint([client], signer: RecordingSigner()).respond(to: FormBody(form), authorization: basic(client.id, secret.value))
        }
        #expect(error?.code == expected)
    }

    @Test("a client not registered for the grant is unauthorized_client")
    func unauthorizedClient() async throws {
        var (client, secret) = Client.confidential()
        client.grantTypes = [.refreshToken]
        let error = await #expect(throws: OAuthError.self) {
            try await endpoint([client], signer: RecordingSigner()).respond(
                to: FormBody(["grant_type": "client_credentials"]), authorization: basic(client.id, secret.value))
        }
        #expect(error?.code == .unauthorizedClient)
    }

    @Test("client authentication comes before anything else")
    func authenticationFirst() async {
        let (client, _) = Client.confidential()
        let error = await #expect(throws: OAuthError.self) {
            try await endpoint([client], signer: RecordingSigner()).respond(
                to: FormBody(["grant_type": "password"]), authorization: basic(client.id, "wrong"))
        }
        #expect(error?.code == .invalidClient)
    }
}
