import Foundation
import Testing
import WardenCore

@Suite("Client registration")
struct ClientRegistrationTests {
    @Test("a confidential client gets a 256-bit secret stored only as its digest")
    func confidential() throws {
        let (client, secret) = try ClientRegistration(name: "billing", grantTypes: [.clientCredentials], scope: "a b")
            .makeClient(now: Date())
        let plain = try #require(secret)
        #expect(client.secretDigest == plain.digest)
        #expect(client.authMethod == .clientSecretBasic)
        #expect(client.scope.tokens == ["a", "b"])
    }

    @Test("a public client with client_credentials is refused")
    func publicClientCredentials() {
        #expect(throws: ClientRegistration.Invalid.self) {
            try ClientRegistration(name: "spa", grantTypes: [.clientCredentials], authMethod: ClientAuthMethod.none).makeClient(now: Date())
        }
    }

    @Test("a public client has no secret")
    func publicClient() throws {
        let (client, secret) = try ClientRegistration(
            name: "spa", grantTypes: [.authorizationCode], redirectURIs: ["http://127.0.0.1:8765/callback"], authMethod: ClientAuthMethod.none
        ).makeClient(now: Date())
        #expect(secret == nil)
        #expect(client.secretDigest == nil)
    }

    @Test("bad registrations are refused", arguments: [
        ClientRegistration(name: " ", grantTypes: [.clientCredentials]),
        ClientRegistration(name: "x", grantTypes: [GrantType(rawValue: "password")]),
        ClientRegistration(name: "x", grantTypes: [.authorizationCode]),
        ClientRegistration(name: "x", grantTypes: [.clientCredentials], audiences: ["not a uri"]),
        ClientRegistration(name: "x", grantTypes: [.clientCredentials], scope: "caf\u{e9}"),
        ClientRegistration(name: "x", grantTypes: [.authorizationCode], redirectURIs: ["https://a/cb#frag"]),
    ])
    func refused(registration: ClientRegistration) {
        #expect(throws: ClientRegistration.Invalid.self) { try registration.makeClient(now: Date()) }
    }

    @Test("ids are lowercase hex, so they never look like a command-line option")
    func hexIDs() throws {
        let id = try ClientRegistration(name: "x", grantTypes: [.clientCredentials]).makeClient(now: Date()).client.id
        #expect(id.count == 32)
        #expect(id.allSatisfy { "0123456789abcdef".contains($0) })
    }

    @Test("ids are unique")
    func uniqueIDs() throws {
        let registration = ClientRegistration(name: "x", grantTypes: [.clientCredentials])
        let ids = try (0..<50).map { _ in try registration.makeClient(now: Date()).client.id }
        #expect(Set(ids).count == 50)
    }

    @Test("redirect URIs: https, loopback http, or a private-use scheme; nothing else", arguments: [
        ("https://app.example.com/cb", true), ("http://127.0.0.1:8765/callback", true), ("http://[::1]/cb", true),
        ("http://localhost:3000/cb", true), ("com.example.app:/oauth", true),
        ("localhost:3000/cb", false), ("http://app.example.com/cb", false), ("myapp:/cb", false), ("https:///cb", false),
        ("https://app.example.com/cb#x", false), ("/relative/cb", false),
    ])
    func redirectURIPolicy(uri: String, accepted: Bool) {
        #expect((RedirectURIPolicy.problem(with: uri) == nil) == accepted, "\(uri)")
    }
}
