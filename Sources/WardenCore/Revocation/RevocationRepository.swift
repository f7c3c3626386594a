import Foundation

/// Where revoked access tokens are remembered until they would have expired anyway.
public protocol RevocationRepository: Sendable {
    /// Records a revocation; revoking twice is not an error.
    func revoke(jwtID: String, clientID: String, expiresAt: Date) async throws
    /// Whether the token with this `jti` was revoked.
    func isRevoked(jwtID: String) async throws -> Bool
    /// Forgets revocations of tokens expired before `date`, at most `limit` of them; returns how many.
    func purgeRevocations(expiredBefore date: Date, limit: Int) async throws -> Int
}
