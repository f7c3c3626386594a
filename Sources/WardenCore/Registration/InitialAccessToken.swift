import Foundation

/// An initial access token (RFC 7591 §3): what `registration: token` asks of whoever
/// registers a client, made by `warden registration-tokens create`. Only its digest is
/// kept; it may expire, be limited to a number of registrations, and be revoked.
public struct InitialAccessTokenRecord: Sendable, Equatable {
    /// A short public id, for listing and revoking.
    public var id: String
    public var digest: [UInt8]
    public var createdAt: Date
    public var expiresAt: Date?
    public var maxUses: Int?
    public var uses: Int
    public var revokedAt: Date?

    public init(
        id: String, digest: [UInt8], createdAt: Date, expiresAt: Date? = nil, maxUses: Int? = nil, uses: Int = 0, revokedAt: Date? = nil
    ) {
        self.id = id
        self.digest = digest
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.maxUses = maxUses
        self.uses = uses
        self.revokedAt = revokedAt
    }

    /// Whether it may register one more client at `now`.
    public func isUsable(at now: Date) -> Bool {
        revokedAt == nil && expiresAt.map { now < $0 } != false && maxUses.map { uses < $0 } != false
    }
}

/// Where initial access tokens are kept.
public protocol InitialAccessTokenRepository: Sendable {
    func insertInitialAccessToken(_ token: InitialAccessTokenRecord) async throws
    /// Every token, oldest first.
    func initialAccessTokens() async throws -> [InitialAccessTokenRecord]
    /// Revokes the token with this id; false when there is none or it was revoked already.
    func revokeInitialAccessToken(id: String, at now: Date) async throws -> Bool
    /// Counts one use of the token with this digest if it is usable at `now` (one atomic
    /// step, so `max_uses` holds under concurrent registrations); false otherwise.
    func spendInitialAccessToken(digest: [UInt8], at now: Date) async throws -> Bool
}
