import Foundation

/// The rules of a grant's codes and refresh tokens, once for every backend: what
/// presenting a code or a refresh token does, decided from the stored record as the
/// backend read it under its lock. The backend then applies the returned writes in the
/// same transaction, so every race has exactly one winner.
///
/// - A code is redeemed once. Presented again, it revokes its grant (RFC 6749 §4.1.2).
/// - A refresh token is rotated on every use. A rotated token presented again revokes
///   the grant (RFC 9700 §4.14), unless a grace period is set, the token's grace is
///   unspent, it was rotated within that period and its successor is still unused: then
///   the successor dies and a new one is issued, once.
/// - Reuse is detected before anything else about the request is checked, so a stolen
///   code or token cannot be probed without revoking its grant.
public enum GrantLifecycle {
    /// Presenting the code `record` (nil: no such code) as `clientID`; redeemed, it stores
    /// the refresh token with digest `refreshToken` (if any), of the grant's scope.
    /// `check` validates the rest of the request (expiry, redirect URI, PKCE) and throws
    /// an `OAuthError` if it fails, which changes nothing.
    /// `dpopKey`: a DPoP key to bind the grant's refresh tokens to, if it is not bound yet.
    public static func presentCode(
        _ record: AuthorizationCodeRecord?, clientID: String, grantExpiresAt: Date, refreshToken: [UInt8]?, idleExpiresAt: Date,
        dpopKey: String? = nil, check: (AuthorizationCodeRecord) throws -> Void
    ) throws -> GrantStep<CredentialUse<AuthorizationCodeRecord>> {
        // Another client's code is none of its business: it neither redeems nor revokes it.
        guard let record, record.grant.clientID == clientID else { return GrantStep(.unknown) }
        guard record.consumedAt == nil else { return GrantStep(.reused(record), [.revokeGrant(id: record.grant.id)]) }
        try check(record)
        let writes = [GrantWrite.consumeCode(digest: record.digest)]
            + redemption(of: record.grant, until: grantExpiresAt, refreshToken: refreshToken, idleExpiresAt: idleExpiresAt, dpopKey: dpopKey)
        return GrantStep(.accepted(record), writes)
    }

    /// What handing `grant` to its client does once its code (or device code) is redeemed:
    /// the grant lasts until `until`, is bound to `dpopKey` if it is not bound yet, and gets
    /// its first refresh token (digest `refreshToken`, of the grant's scope), if any.
    public static func redemption(
        of grant: GrantRecord, until: Date, refreshToken: [UInt8]?, idleExpiresAt: Date, dpopKey: String?
    ) -> [GrantWrite] {
        var writes: [GrantWrite] = [.extendGrant(id: grant.id, until: until)]
        if let dpopKey, grant.dpopKey == nil { writes.append(.bindGrant(id: grant.id, dpopKey: dpopKey)) }
        if let refreshToken {
            let token = NewRefreshToken(digest: refreshToken, scope: grant.scope, idleExpiresAt: idleExpiresAt)
            writes.append(.insertRefreshToken(token, grantID: grant.id))
        }
        return writes
    }

    /// Presenting the refresh token `record` (nil: no such token) as `clientID` at `now`,
    /// to be replaced by the token with digest `successor`, which keeps its scope (RFC 6749
    /// §6: narrowing applies to the access token only). `check` validates the rest of the
    /// request (scope).
    /// `dpopKey`: a DPoP key to bind the grant's refresh tokens to, if it is not bound yet.
    public static func presentRefreshToken(
        _ record: RefreshTokenRecord?, clientID: String, at now: Date, gracePeriod: TimeInterval, successor digest: [UInt8],
        idleExpiresAt: Date, dpopKey: String? = nil, check: (RefreshTokenRecord) throws -> Void
    ) throws -> GrantStep<CredentialUse<RefreshTokenRecord>> {
        guard let record, record.isUsable(byClient: clientID, at: now) else { return GrantStep(.unknown) }
        let grantID = record.grant.id
        let successor = NewRefreshToken(digest: digest, scope: record.scope, idleExpiresAt: idleExpiresAt)
        if let rotatedAt = record.rotatedAt {
            // A lost response may be retried once within the grace period, while the
            // successor it would have delivered is unused; anything else is theft.
            guard gracePeriod > 0, !record.graceUsed, now.timeIntervalSince(rotatedAt) <= gracePeriod,
                let previous = record.liveSuccessor
            else { return GrantStep(.reused(record), [.revokeGrant(id: grantID)]) }
            try check(record)
            return GrantStep(
                .accepted(record),
                [
                    .retireRefreshToken(digest: previous), .spendGrace(digest: record.digest, successor: successor.digest),
                    .insertRefreshToken(successor, grantID: grantID),
                ])
        }
        try check(record)
        var writes: [GrantWrite] = [
            .rotateRefreshToken(digest: record.digest, successor: successor.digest), .insertRefreshToken(successor, grantID: grantID),
        ]
        if let dpopKey, record.grant.dpopKey == nil { writes.append(.bindGrant(id: grantID, dpopKey: dpopKey)) }
        return GrantStep(.accepted(record), writes)
    }
}

/// What one step of the lifecycle decided: its result, and the writes that make it so.
public struct GrantStep<Result: Sendable>: Sendable {
    public let result: Result
    public let writes: [GrantWrite]

    public init(_ result: Result, _ writes: [GrantWrite] = []) {
        self.result = result
        self.writes = writes
    }
}

/// How presenting a code or refresh token ended, with the record it was found as.
public enum CredentialUse<Record: Sendable>: Sendable {
    /// No such code or token (or not the presenting client's, or no longer usable).
    case unknown
    /// Redeemed or rotated: the caller may issue tokens.
    case accepted(Record)
    /// Presented again after its use: its grant is revoked.
    case reused(Record)
}

/// One change to stored grants, codes and refresh tokens: the atomic operations every
/// backend offers. A backend applies them in order, at the step's time, in the
/// transaction that read the record they were decided from.
public enum GrantWrite: Sendable, Equatable {
    /// Marks the code consumed.
    case consumeCode(digest: [UInt8])
    /// Moves the end of the grant, if it is not revoked, to `until`.
    case extendGrant(id: String, until: Date)
    /// Stores a new, unrotated refresh token of the grant.
    case insertRefreshToken(NewRefreshToken, grantID: String)
    /// Marks an unrotated refresh token rotated, pointing at its successor.
    case rotateRefreshToken(digest: [UInt8], successor: [UInt8])
    /// Spends the grace of a rotated refresh token, pointing it at a new successor.
    case spendGrace(digest: [UInt8], successor: [UInt8])
    /// Ends an unused successor cut off by a grace replay: rotated, with its grace
    /// spent, so that presenting it counts as reuse.
    case retireRefreshToken(digest: [UInt8])
    /// Revokes the grant, and so every code, refresh and access token of it.
    case revokeGrant(id: String)
    /// Binds the grant to a DPoP key (RFC 9449): its refresh tokens need proofs of it.
    case bindGrant(id: String, dpopKey: String)
    /// RFC 8628: notes a device's poll at the step's time, with its (maybe slowed) interval.
    case recordDevicePoll(digest: [UInt8], interval: Int)
    /// RFC 8628: marks an approved device code redeemed, so no other poll gets tokens.
    case redeemDeviceCode(digest: [UInt8])
}
