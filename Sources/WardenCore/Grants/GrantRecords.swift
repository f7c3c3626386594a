import Foundation

/// One authorization a user gave a client: the root that its code, refresh tokens
/// and access tokens hang from. Revoking it kills them all.
public struct GrantRecord: Sendable, Equatable {
    public var id: String
    public var clientID: String
    public var userID: String
    public var scope: Scope
    public var audience: [String]
    public var createdAt: Date
    /// Until the code is redeemed, the code's expiry; then the refresh chain's absolute end.
    public var expiresAt: Date
    public var revokedAt: Date?

    public init(
        id: String, clientID: String, userID: String, scope: Scope, audience: [String], createdAt: Date, expiresAt: Date,
        revokedAt: Date? = nil
    ) {
        self.id = id
        self.clientID = clientID
        self.userID = userID
        self.scope = scope
        self.audience = audience
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
    }

    /// Live: not revoked and not past its end.
    public func isActive(at now: Date) -> Bool { revokedAt == nil && now < expiresAt }
}

/// An authorization code as stored: bound to its grant (client, user, scope),
/// redirect URI and PKCE challenge.
public struct AuthorizationCodeRecord: Sendable, Equatable {
    public var digest: [UInt8]
    public var grant: GrantRecord
    public var redirectURI: String
    /// Whether the authorization request named `redirect_uri` (then the token request must too).
    public var redirectURIExplicit: Bool
    public var codeChallenge: String?
    public var codeChallengeMethod: PKCE.Method?
    public var expiresAt: Date
    public var consumedAt: Date?

    public init(
        digest: [UInt8], grant: GrantRecord, redirectURI: String, redirectURIExplicit: Bool, codeChallenge: String?,
        codeChallengeMethod: PKCE.Method?, expiresAt: Date, consumedAt: Date? = nil
    ) {
        self.digest = digest
        self.grant = grant
        self.redirectURI = redirectURI
        self.redirectURIExplicit = redirectURIExplicit
        self.codeChallenge = codeChallenge
        self.codeChallengeMethod = codeChallengeMethod
        self.expiresAt = expiresAt
        self.consumedAt = consumedAt
    }
}

/// A refresh token as stored.
public struct RefreshTokenRecord: Sendable, Equatable {
    public var digest: [UInt8]
    public var grant: GrantRecord
    /// RFC 6749 §6: a rotated token keeps the scope of the one it replaces.
    public var scope: Scope
    public var issuedAt: Date
    public var idleExpiresAt: Date
    /// Set when this token was exchanged for its successor.
    public var rotatedAt: Date?
    /// Whether the grace window was already spent on this token.
    public var graceUsed: Bool

    public init(
        digest: [UInt8], grant: GrantRecord, scope: Scope, issuedAt: Date, idleExpiresAt: Date, rotatedAt: Date? = nil,
        graceUsed: Bool = false
    ) {
        self.digest = digest
        self.grant = grant
        self.scope = scope
        self.issuedAt = issuedAt
        self.idleExpiresAt = idleExpiresAt
        self.rotatedAt = rotatedAt
        self.graceUsed = graceUsed
    }
}

extension RefreshTokenRecord {
    /// Whether `clientID` may still use this token at `now`: its own client, a live grant,
    /// not idle too long. Rotation is checked apart, since a grace window may allow a replay.
    public func isUsable(byClient clientID: String, at now: Date) -> Bool {
        grant.clientID == clientID && grant.isActive(at: now) && now < idleExpiresAt
    }
}

/// A successor refresh token to store in the same transaction as the step that issues it.
public struct NewRefreshToken: Sendable, Equatable {
    public var digest: [UInt8]
    public var scope: Scope
    public var idleExpiresAt: Date

    public init(digest: [UInt8], scope: Scope, idleExpiresAt: Date) {
        self.digest = digest
        self.scope = scope
        self.idleExpiresAt = idleExpiresAt
    }
}

/// What the code grant decided about a presented code, from its stored record.
public enum CodeUse: Sendable, Equatable {
    /// Consume it: extend the grant to `grantExpiresAt`, store the first refresh token.
    case redeem(grantExpiresAt: Date, refreshToken: NewRefreshToken?)
    /// It was already used: revoke its grant (RFC 6749 §4.1.2).
    case reuse
}

/// What the refresh grant decided about a presented refresh token, from its stored record.
public enum RefreshTokenUse: Sendable, Equatable {
    /// Rotate it, storing `successor`.
    case rotate(successor: NewRefreshToken)
    /// Replay a rotated token within its grace window, storing `successor`.
    case replayWithinGrace(successor: NewRefreshToken)
    /// It was already rotated: revoke its grant (RFC 9700 §4.14).
    case reuse
}

/// How a presented code or refresh token ended, with the record it was found as.
public enum TokenExchange<Record: Sendable>: Sendable {
    /// No such code or token.
    case unknown
    /// Consumed or rotated; the caller may issue tokens.
    case exchanged(Record)
    /// Reuse (or a lost race): the grant is now revoked.
    case reused(Record)
}

/// Where grants, codes and refresh tokens are kept. Each method that changes state
/// is one transaction, and each conditional step has exactly one winner under concurrency.
public protocol GrantRepository: Sendable {
    /// Stores a new grant with its authorization code.
    func insert(grant: GrantRecord, code: AuthorizationCodeRecord) async throws
    /// Finds the code with this digest and, in the same transaction, does what `decide`
    /// says: redeem it (only if nobody has; a lost race counts as reuse) or revoke its
    /// grant. A `decide` that throws changes nothing, and the error comes back.
    func exchangeCode(
        digest: [UInt8], at now: Date, decide: @escaping @Sendable (AuthorizationCodeRecord) throws -> CodeUse
    ) async throws -> TokenExchange<AuthorizationCodeRecord>
    /// The refresh token with this digest, with its grant.
    func refreshToken(digest: [UInt8]) async throws -> RefreshTokenRecord?
    /// Finds the refresh token with this digest and, in the same transaction, does what
    /// `decide` says: rotate it (only if not yet rotated), replay it within its grace
    /// window (only if the grace is unspent and its successor unused, which that
    /// successor does not survive), or revoke its grant. Whatever cannot be done as
    /// decided revokes the grant. A `decide` that throws changes nothing.
    func exchangeRefreshToken(
        digest: [UInt8], at now: Date, decide: @escaping @Sendable (RefreshTokenRecord) throws -> RefreshTokenUse
    ) async throws -> TokenExchange<RefreshTokenRecord>
    /// Revokes the grant (and so every code, refresh and access token of it).
    func revokeGrant(id: String, at now: Date) async throws
    /// When the grant ends, if it exists, is not revoked and has not ended at `now`; else nil.
    func activeGrantEnd(id: String, at now: Date) async throws -> Date?
    /// Deletes at most `limit` expired codes, grants and sessions each; returns how many rows went.
    func purgeExpired(before now: Date, limit: Int) async throws -> Int
}

/// Remembered consent: the scope a user has allowed a client.
public protocol ConsentRepository: Sendable {
    func consentedScope(userID: String, clientID: String) async throws -> Scope?
    /// Adds `scope` to what the user has allowed the client.
    func rememberConsent(userID: String, clientID: String, scope: Scope, at now: Date) async throws
}
