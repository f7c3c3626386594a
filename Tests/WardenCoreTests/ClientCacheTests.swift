import Foundation
import Synchronization
import Testing
import WardenCore
import WardenTestSupport

@Suite("Client cache")
struct ClientCacheTests {
    /// Counts the reads that reach the store.
    final class CountingClients: ClientRepository {
        let inner: InMemoryClients
        let reads = Mutex(0)
        init(_ clients: [Client]) { inner = InMemoryClients(clients) }
        func client(id: String) async throws -> Client? {
            reads.withLock { $0 += 1 }
            return try await inner.client(id: id)
        }
        func allClients() async throws -> [Client] {
            reads.withLock { $0 += 1 }
            return try await inner.allClients()
        }
        func insert(_ client: Client) async throws { try await inner.insert(client) }
        func updateSecret(clientID: String, digest: ClientSecretDigest) async throws -> Bool {
            try await inner.updateSecret(clientID: clientID, digest: digest)
        }
        func updateKeys(clientID: String, jwks: String?, jwksURI: String?) async throws -> Bool {
            try await inner.updateKeys(clientID: clientID, jwks: jwks, jwksURI: jwksURI)
        }
        func delete(clientID: String) async throws -> Bool { try await inner.delete(clientID: clientID) }
        func replaceRegisteredClient(_ client: Client, presented: [UInt8]) async throws -> Bool {
            try await inner.replaceRegisteredClient(client, presented: presented)
        }
        func saveMetadataDocumentClient(_ client: Client) async throws { try await inner.saveMetadataDocumentClient(client) }
        func deleteRegisteredClient(id: String, presented: [UInt8]) async throws -> Bool {
            try await inner.deleteRegisteredClient(id: id, presented: presented)
        }
    }

    struct World {
        let store: CountingClients
        let cache: ClientCache
        init(_ clients: [Client]) {
            store = CountingClients(clients)
            cache = ClientCache(
                store: store,
                changes: InMemoryChanges(clients: store.inner, revocations: InMemoryRevocations(), grants: InMemoryGrants()))
        }
    }

    @Test("repeated lookups read the store once; unknown ids are never remembered")
    func hits() async throws {
        let (client, _) = Client.confidential()
        let world = World([client])
        for _ in 0..<5 { #expect(try await world.cache.client(id: client.id) == client) }
        #expect(world.store.reads.withLock { $0 } == 1)
        for _ in 0..<3 { #expect(try await world.cache.client(id: "nobody") == nil) }
        #expect(world.store.reads.withLock { $0 } == 4)
    }

    @Test("a rotated secret or a deleted client is seen at the next lookup")
    func changes() async throws {
        let (client, _) = Client.confidential()
        let world = World([client])
        _ = try await world.cache.client(id: client.id)
        let replacement = ClientSecret.generate()
        #expect(try await world.store.updateSecret(clientID: client.id, digest: replacement.digest))
        #expect(try await world.cache.client(id: client.id)?.secretDigest == replacement.digest)
        #expect(try await world.store.delete(clientID: client.id))
        #expect(try await world.cache.client(id: client.id) == nil)
    }

    @Test("the list of all clients is cached the same way")
    func all() async throws {
        let (first, _) = Client.confidential(id: "first")
        let world = World([first])
        #expect(try await world.cache.allClients().map(\.id) == ["first"])
        #expect(try await world.cache.allClients().map(\.id) == ["first"])
        #expect(world.store.reads.withLock { $0 } == 1)
        try await world.store.insert(Client.confidential(id: "second").0)
        #expect(try await world.cache.allClients().map(\.id).sorted() == ["first", "second"])
    }
}
