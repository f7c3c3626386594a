import Foundation
import GRDB
import Testing
import WardenCore
import WardenStore

@Suite("Client storage")
struct ClientStoreTests {
    func registration(_ name: String = "billing") -> ClientRegistration {
        ClientRegistration(
            name: name, grantTypes: [.clientCredentials], scope: "invoices:read invoices:write",
            audiences: ["https://api.example.com", "https://reports.example.com"])
    }

    @Test("create, read, list and delete")
    func crud() async throws {
        try await withTemporaryStore { store, _ in
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

    @Test("the secret is stored only as its SHA-256 digest and verifies")
    func secretDigest() async throws {
        try await withTemporaryStore { store, path in
            let (client, secret) = try registration().makeClient(now: Date())
            let plain = try #require(secret)
            try await store.insert(client)
            let loaded = try #require(try await store.client(id: client.id))
            #expect(loaded.secretDigest?.matches(plain) == true)
            #expect(loaded.secretDigest?.matches(ClientSecret("wrong")) == false)
            try store.close()
            let bytes = try Data(contentsOf: URL(fileURLWithPath: path)) + ((try? Data(contentsOf: URL(fileURLWithPath: path + "-wal"))) ?? Data())
            #expect(bytes.range(of: Data(plain.value.utf8)) == nil)
        }
    }

    @Test("rotating a secret replaces the digest")
    func rotate() async throws {
        try await withTemporaryStore { store, _ in
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

    @Test("a duplicate id is refused and changes nothing")
    func duplicate() async throws {
        try await withTemporaryStore { store, _ in
            let (client, _) = try registration().makeClient(now: Date())
            try await store.insert(client)
            var copy = client
            copy.name = "impostor"
            await #expect(throws: DatabaseError.self) { try await store.insert(copy) }
            #expect(try await store.client(id: client.id)?.name == "billing")
        }
    }

    @Test("a public client round-trips without a secret")
    func publicClient() async throws {
        try await withTemporaryStore { store, _ in
            let (client, _) = try ClientRegistration(
                name: "spa", grantTypes: [.authorizationCode, .refreshToken], redirectURIs: ["http://127.0.0.1:8765/callback"],
                scope: "profile offline_access", authMethod: ClientAuthMethod.none, skipConsent: true
            ).makeClient(now: Date(timeIntervalSince1970: 5))
            try await store.insert(client)
            #expect(try await store.client(id: client.id) == client)
        }
    }
}
