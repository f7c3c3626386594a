import Foundation
import Testing
import WardenCore

@Suite("Client authentication")
struct ClientAuthenticationTests {
    @Test("Basic credentials are form-url-decoded after base64 (RFC 6749 §2.3.1)")
    func basicIsFormDecoded() throws {
        let presented = try PresentedClientCredentials.parse(authorization: basic("my%20client", "p%3Ass+word"), form: FormBody([:]))
        #expect(presented == .basic(clientID: "my client", secret: ClientSecret("p:ss word")))
    }

    @Test("the secret may contain colons after the first")
    func colonInSecret() throws {
        let presented = try PresentedClientCredentials.parse(authorization: basic("id", "a:b"), form: FormBody([:]))
        #expect(presented == .basic(clientID: "id", secret: ClientSecret("a:b")))
    }

    @Test("client_secret_post reads the body")
    func post() throws {
        let presented = try PresentedClientCredentials.parse(authorization: nil, form: FormBody(["client_id": "id", "client_secret": "s"]))
        #expect(presented == .post(clientID: "id", secret: ClientSecret("s")))
        #expect(presented.method == .clientSecretPost)
    }

    @Test("client_id alone is a public client")
    func publicClient() throws {
        let presented = try PresentedClientCredentials.parse(authorization: nil, form: FormBody(["client_id": "spa"]))
        #expect(presented == .none(clientID: "spa"))
    }

    @Test("Basic and client_secret at once is invalid_request")
    func twoMethods() {
        let error = #expect(throws: OAuthError.self) {
            try PresentedClientCredentials.parse(authorization: basic("id", "s"), form: FormBody(["client_secret": "s"]))
        }
        #expect(error?.code == .invalidRequest)
    }

    @Test("a body client_id that differs from Basic is invalid_request")
    func differingIDs() {
        let error = #expect(throws: OAuthError.self) {
            try PresentedClientCredentials.parse(authorization: basic("id", "s"), form: FormBody(["client_id": "other"]))
        }
        #expect(error?.code == .invalidRequest)
    }

    @Test("malformed Authorization headers are invalid_client",
          arguments: ["Bearer abc", "Basic !!!", "Basic " + Data("nocolon".utf8).base64EncodedString(), "Basic", "Basic " + Data(":s".utf8).base64EncodedString()])
    func malformed(header: String) {
        let error = #expect(throws: OAuthError.self) { try PresentedClientCredentials.parse(authorization: header, form: FormBody([:])) }
        #expect(error?.code == .invalidClient)
    }

    @Test("no credentials at all is invalid_client")
    func missing() {
        let error = #expect(throws: OAuthError.self) { try PresentedClientCredentials.parse(authorization: nil, form: FormBody([:])) }
        #expect(error?.code == .invalidClient)
    }

    @Test("the right secret with the registered method authenticates")
    func authenticates() async throws {
        let (client, secret) = Client.confidential()
        let authenticator = ClientAuthenticator(clients: InMemoryClients([client]))
        #expect(try await authenticator.authenticate(.basic(clientID: client.id, secret: secret)) == client)
    }

    @Test("unknown client, wrong secret and another method all fail the same way")
    func failures() async throws {
        let (client, secret) = Client.confidential()
        let authenticator = ClientAuthenticator(clients: InMemoryClients([client]))
        let attempts: [PresentedClientCredentials] = [
            .basic(clientID: "nobody", secret: secret),
            .basic(clientID: client.id, secret: ClientSecret("wrong")),
            .post(clientID: client.id, secret: secret),
            .none(clientID: client.id),
        ]
        for attempt in attempts {
            let error = await #expect(throws: OAuthError.self) { try await authenticator.authenticate(attempt) }
            #expect(error?.code == .invalidClient)
            #expect(error?.publicDescription == "Client authentication failed")
            // The method tried, for the failure metric's label; never sent to the client.
            #expect(error?.clientAuthenticationMethod == attempt.method)
            #expect(error?.responseFields == ["error": "invalid_client", "error_description": "Client authentication failed"])
        }
    }

    @Test("secret digests compare by value")
    func digest() {
        let secret = ClientSecret.generate()
        #expect(secret.digest.matches(secret))
        #expect(!secret.digest.matches(ClientSecret(secret.value + "x")))
        #expect(secret.digest.bytes.count == 32)
        #expect(secret.value.count >= 43)
    }

    @Test("constant-time equality")
    func constantTime() {
        #expect(ConstantTime.equals([1, 2, 3], [1, 2, 3]))
        #expect(!ConstantTime.equals([1, 2, 3], [1, 2, 4]))
        #expect(!ConstantTime.equals([1, 2], [1, 2, 3]))
    }
}

@Suite("Client authentication rate limits")
struct ClientAuthenticationLimitTests {
    @Test("failures are limited per client id from one address, then per address; the right secret is never refused")
    func limits() async throws {
        let (client, secret) = Client.confidential()
        let authenticator = ClientAuthenticator(
            clients: InMemoryClients([client]), failuresPerClient: FailureRateLimiter(limit: 2),
            failuresPerAddress: FailureRateLimiter(limit: 3), clock: FixedClock(date: Date(timeIntervalSince1970: 1000)))
        for _ in 0..<5 { _ = try await authenticator.authenticate(.basic(clientID: client.id, secret: secret), address: "a") }
        for _ in 0..<2 {
            let error = await #expect(throws: OAuthError.self) {
                try await authenticator.authenticate(.basic(clientID: client.id, secret: ClientSecret("x")), address: "a")
            }
            #expect(error?.code == .invalidClient)
        }
        let limited = await #expect(throws: OAuthError.self) {
            try await authenticator.authenticate(.basic(clientID: client.id, secret: ClientSecret("x")), address: "a")
        }
        #expect(limited?.code == .slowDown)
        #expect(limited?.retryAfter == 60)
        // Someone else's failures refuse neither the right secret nor another address's attempts.
        #expect(try await authenticator.authenticate(.basic(clientID: client.id, secret: secret), address: "a").id == client.id)
        let fromB = await #expect(throws: OAuthError.self) {
            try await authenticator.authenticate(.basic(clientID: client.id, secret: ClientSecret("x")), address: "b")
        }
        #expect(fromB?.code == .invalidClient)
        // A third failure from address "a" (another client id) reaches the address limit.
        await #expect(throws: OAuthError.self) { try await authenticator.authenticate(.basic(clientID: "nobody", secret: secret), address: "a") }
        let byAddress = await #expect(throws: OAuthError.self) {
            try await authenticator.authenticate(.basic(clientID: "someone-else", secret: secret), address: "a")
        }
        #expect(byAddress?.code == .slowDown)
    }

    @Test("a client id longer than 255 bytes is invalid_request before any lookup or count")
    func longClientID() throws {
        let long = String(repeating: "c", count: PresentedClientCredentials.maximumClientIDLength + 1)
        #expect(throws: OAuthError.invalidRequest("client_id is longer than 255 bytes")) {
            try PresentedClientCredentials.parse(authorization: nil, form: FormBody(["client_id": long]))
        }
    }
}
