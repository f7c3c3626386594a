import Foundation
import Testing
import WardenCore
import WardenServer

@Suite("Client storage")
struct ClientStoreTests {
    func registration(_ name: String = "billing") -> ClientRegistration {
        ClientRegistration(
            name: name, grantTypes: [.clientCredentials], scope: "invoices:read invoices:write",
            audiences: ["https://api.example.com", "https://reports.example.com"])
    }

    @Test("create, read, list and delete", arguments: Backend.allCases)
    func crud(_ backend: Backend) async throws {
        try await withTemporaryStore(backend) { store in
            let (client, _) = try registration().makeClient(now: Date(timeIntervalSince1970: 1_800_000_000))
            try await store.insert(client)
            #expect(try await store.client(id: client.id) == client)
            let (second, _) = try registration("second").makeClient(now: Date(timeIntervalSince1970: 1_800_000_001))
            try await store.insert(second)
            #expect(try await store.allClients().map(\.id) == [client.id, second.id])
            #expect(try await store.delete(clientID: client.id))
            #expect(try await store.client(id: client.id) == nil)
            #expect(try await !store.delete(clientID: client.id))
        }
    }

    @Test("a metadata document's client is saved and replaced as the document changes, never over a registered client", arguments: Backend.allCases)
    func metadataDocumentClients(_ backend: Backend) async throws {
        try await withTemporaryStore(backend) { store in
            let url = "https://agent.example/client.json"
            let policy = ClientMetadataPolicy.metadataDocument(scopes: Scope(tokens: ["openid", "profile"]), idTokenAlgorithms: [.rs256], allowHTTPJWKSURI: false)
            func document(_ redirect: String) throws -> Client {
                try ClientIDMetadataDocuments.client(
                    url: url, document: Array(#"{"client_id":"\#(url)","redirect_uris":["\#(redirect)"]}"#.utf8), policy: policy,
                    now: Date(timeIntervalSince1970: 1_800_000_000))
            }
            try await store.saveMetadataDocumentClient(try document("https://agent.example/a"))
            try await store.saveMetadataDocumentClient(try document("https://agent.example/b"))
            let saved = try #require(try await store.client(id: url))
            #expect(saved.redirectURIs == ["https://agent.example/b"] && saved.fromMetadataDocument && saved.origin == "metadata_document")
            // An operator's client with a URL-shaped id is not the document's to change.
            var (registered, _) = try registration().makeClient(now: Date(timeIntervalSince1970: 1_800_000_000))
            registered.id = "https://agent.example/registered.json"
            try await store.insert(registered)
            var imposter = try document("https://evil.example/cb")
            imposter.id = registered.id
            try await store.saveMetadataDocumentClient(imposter)
            #expect(try await store.client(id: registered.id) == registered)
        }
    }

    @Test("the secret is stored only as its SHA-256 digest and verifies", arguments: Backend.allCases)
    func secretDigest(_ backend: Backend) async throws {
        try await withTemporaryStore(backend) { store in
            let (client, secret) = try registration().makeClient(now: Date())
            let plain = try #require(secret)
            try await store.insert(client)
            let loaded = try #require(try await store.client(id: client.id))
            #expect(loaded.secretDigest?.matches(plain) == true)
            #expect(loaded.secretDigest?.matches(ClientSecret("wrong")) == false)
            // Nothing stored holds the secret: only its 32-byte digest.
            let stored = try await rows("clients", in: store)
            #expect(stored.first?["secret_digest"] == .bytes(try #require(client.secretDigest).bytes))
            #expect(!stored.flatMap(\.values).contains { value in
                switch value {
                case .text(let text): text.contains(plain.value)
                case .bytes(let bytes): Data(bytes).range(of: Data(plain.value.utf8)) != nil
                default: false
                }
            })
        }
    }

    @Test("rotating a secret replaces the digest", arguments: Backend.allCases)
    func rotate(_ backend: Backend) async throws {
        try await withTemporaryStore(backend) { store in
            let (client, secret) = try registration().makeClient(now: Date())
            try await store.insert(client)
            let fresh = ClientSecret.generate()
            #expect(try await store.updateSecret(clientID: client.id, digest: fresh.digest))
            let loaded = try #require(try await store.client(id: client.id))
            #expect(loaded.secretDigest?.matches(fresh) == true)
            #expect(loaded.secretDigest?.matches(try #require(secret)) == false)
            #expect(try await !store.updateSecret(clientID: "nobody", digest: fresh.digest))
        }
    }

    @Test("a duplicate id is refused and changes nothing", arguments: Backend.allCases)
    func duplicate(_ backend: Backend) async throws {
        try await withTemporaryStore(backend) { store in
            let (client, _) = try registration().makeClient(now: Date())
            try await store.insert(client)
            var copy = client
            copy.name = "impostor"
            await #expect(throws: (any Error).self) { try await store.insert(copy) }
            #expect(try await store.client(id: client.id)?.name == "billing")
        }
    }

    @Test("a public client round-trips without a secret", arguments: Backend.allCases)
    func publicClient(_ backend: Backend) async throws {
        try await withTemporaryStore(backend) { store in
            let (client, _) = try ClientRegistration(
                name: "spa", grantTypes: [.authorizationCode, .refreshToken], redirectURIs: ["http://127.0.0.1:8765/callback"],
                scope: "profile offline_access", authMethod: ClientAuthMethod.none, skipConsent: true
            ).makeClient(now: Date(timeIntervalSince1970: 5))
            try await store.insert(client)
            #expect(try await store.client(id: client.id) == client)
        }
    }
}
