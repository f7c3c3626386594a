/// Everything Warden keeps, in one database. One implementation per backend: the
/// embedded SQLite store, and the PostgreSQL store that several instances share.
/// The server and the CLI hold it as `any Storage` and never learn which it is.
public protocol Storage: ClientRepository, UserRepository, GrantRepository, ConsentRepository, SessionRepository,
    RevocationRepository, SigningKeyRepository, ChangeTracking, BackchannelLogoutQueue, AuditLog, ProofOfPossessionRepository,
    DeviceAuthorizationRepository, InitialAccessTokenRepository
{
    /// Applies pending schema migrations (safe when several processes start at once).
    func migrate() async throws
    /// Every migration with whether it has been applied, oldest first.
    func migrationStatus() async throws -> [MigrationState]
    /// Counts failed sign-ins for one kind of key (`scope`: account, address) against
    /// `limit` per `window` seconds. Where the database is shared, so is the count.
    func signInFailures(scope: String, limit: Int, window: Double) -> any FailureCounting
    /// Whether the database answers.
    func isHealthy() async -> Bool
    /// Releases the database; the store must not be used afterwards.
    func close() async throws
}

/// One schema migration and whether it has been applied.
public struct MigrationState: Sendable, Equatable {
    public let id: String
    public let applied: Bool

    public init(id: String, applied: Bool) {
        self.id = id
        self.applied = applied
    }
}
