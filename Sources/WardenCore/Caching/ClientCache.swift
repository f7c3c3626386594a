import Synchronization

/// Clients kept in memory for the token, introspection and revocation endpoints, so
/// that authenticating a client reads no table. Exact, not eventually consistent:
/// every lookup first compares the store's client generation, and any change to any
/// client (from this process, the CLI or another instance) empties the cache.
public final class ClientCache: ClientRepository {
    private struct State {
        var generation: Int64?
        var clients: [String: Client] = [:]
        /// Every client, for the metadata document's `scopes_supported`.
        var all: [Client]?
    }

    private let store: any ClientRepository
    private let changes: any ChangeTracking
    private let capacity: Int
    private let state = Mutex(State())

    /// Caches at most `capacity` clients; beyond that it starts again from empty.
    public init(store: any ClientRepository, changes: any ChangeTracking, capacity: Int = 100_000) {
        self.store = store
        self.changes = changes
        self.capacity = capacity
    }

    public func client(id: String) async throws -> Client? {
        let generation = try await currentGenerations().clients
        let cached: Client? = state.withLock { state in
            Self.forget(&state, unless: generation)
            return state.clients[id]
        }
        if let cached { return cached }
        // Unknown ids are not remembered: a flood of made-up ids must not grow memory.
        guard let client = try await store.client(id: id) else { return nil }
        state.withLock { state in
            // Only if nothing changed while reading; otherwise the read may predate the change.
            guard state.generation == generation else { return }
            if state.clients.count >= capacity { state.clients.removeAll(keepingCapacity: true) }
            state.clients[id] = client
        }
        return client
    }

    public func allClients() async throws -> [Client] {
        let generation = try await currentGenerations().clients
        if let all = state.withLock({ state in
            Self.forget(&state, unless: generation)
            return state.all
        }) {
            return all
        }
        let all = try await store.allClients()
        state.withLock { state in
            if state.generation == generation { state.all = all }
        }
        return all
    }

    private func currentGenerations() async throws -> ChangeGenerations {
        if let current = ChangeGenerations.current { return current }
        return try await changes.currentGenerations()
    }

    /// Empties the cache when the store's client generation is no longer the one it holds.
    private static func forget(_ state: inout State, unless generation: Int64) {
        guard state.generation != generation else { return }
        state.generation = generation
        state.clients.removeAll(keepingCapacity: true)
        state.all = nil
    }
    public func insert(_ client: Client) async throws { try await store.insert(client) }

    public func updateSecret(clientID: String, digest: ClientSecretDigest) async throws -> Bool {
        try await store.updateSecret(clientID: clientID, digest: digest)
    }

    public func updateKeys(clientID: String, jwks: String?, jwksURI: String?) async throws -> Bool {
        try await store.updateKeys(clientID: clientID, jwks: jwks, jwksURI: jwksURI)
    }

    public func delete(clientID: String) async throws -> Bool { try await store.delete(clientID: clientID) }

    public func replaceRegisteredClient(_ client: Client, presented: [UInt8]) async throws -> Bool {
        try await store.replaceRegisteredClient(client, presented: presented)
    }

    public func saveMetadataDocumentClient(_ client: Client) async throws { try await store.saveMetadataDocumentClient(client) }

    public func deleteRegisteredClient(id: String, presented: [UInt8]) async throws -> Bool {
        try await store.deleteRegisteredClient(id: id, presented: presented)
    }
}
