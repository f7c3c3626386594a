import Foundation

/// Where grants, codes and refresh tokens are kept. The rules are `GrantLifecycle`'s;
/// a backend reads what they decide on, locked, and applies the writes they return.
public protocol GrantRepository: Sendable {
    /// Stores a new grant with its authorization code.
    func insert(grant: GrantRecord, code: AuthorizationCodeRecord) async throws
    /// In one transaction: reads the code with this digest (nil if there is none),
    /// locked so that no concurrent step changes it before this one ends, hands it to
    /// `step`, and applies the writes `step` returns at `now`. A `step` that throws
    /// changes nothing, and its error comes back.
    func withLockedCode<T: Sendable>(
        digest: [UInt8], at now: Date, _ step: @escaping @Sendable (AuthorizationCodeRecord?) throws -> GrantStep<T>
    ) async throws -> T
    /// As `withLockedCode`, for the refresh token with this digest; once it is rotated,
    /// its live successor is locked and read too.
    func withLockedRefreshToken<T: Sendable>(
        digest: [UInt8], at now: Date, _ step: @escaping @Sendable (RefreshTokenRecord?) throws -> GrantStep<T>
    ) async throws -> T
    /// The refresh token with this digest, with its grant.
    func refreshToken(digest: [UInt8]) async throws -> RefreshTokenRecord?
    /// Revokes the grant (and so every code, refresh and access token of it).
    func revokeGrant(id: String, at now: Date) async throws
    /// When the grant ends, if it exists, is not revoked and has not ended at `now`; else nil.
    func activeGrantEnd(id: String, at now: Date) async throws -> Date?
    /// The user who gave the grant and the grant's `claims` request (UserInfo reads both at once).
    func userAndClaimsRequest(grantID: String) async throws -> (User, String?)?
    /// Deletes at most `limit` expired codes, grants and sessions each; returns how many rows went.
    func purgeExpired(before now: Date, limit: Int) async throws -> Int
}
