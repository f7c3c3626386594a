/// How many times each kind of cached data has changed in the store, by anyone:
/// this server, the CLI, or another instance. Equal generations mean a cached copy
/// is still exact.
public struct ChangeGenerations: Sendable, Equatable {
    /// Clients created, changed (secret rotation) or deleted.
    public var clients: Int64
    /// Access tokens revoked, grants revoked or deleted.
    public var revocations: Int64
    /// Signing keys added, retired or removed.
    public var signingKeys: Int64

    public init(clients: Int64, revocations: Int64, signingKeys: Int64) {
        self.clients = clients
        self.revocations = revocations
        self.signingKeys = signingKeys
    }
}

extension ChangeGenerations {
    /// The generations the current request already read: caches consulted within it
    /// use them rather than reading the counters again (one read per request).
    @TaskLocal public static var current: ChangeGenerations?
}

/// Reads the current `ChangeGenerations`. Called on hot paths, so it must be cheap:
/// the SQLite store answers from `PRAGMA data_version` without reading a table unless
/// something was committed since the last call; the PostgreSQL store reads one small
/// table, so that a change made through any instance shows at every instance at once.
public protocol ChangeTracking: Sendable {
    func currentGenerations() async throws -> ChangeGenerations
}
