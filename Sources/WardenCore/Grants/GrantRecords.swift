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
    /// OpenID Connect, for grants whose scope has `openid`: the browser session's `sid`
    /// (back-channel logout finds the session's clients by it), when the user last
    /// entered a password (`auth_time`), and the `claims` request (Core §5.5) as sent.
    public var sessionID: String?
    public var authTime: Date?
    public var claimsRequest: String?
    /// RFC 9449: the thumbprint of the DPoP key the grant is bound to: by `dpop_jkt` at the
    /// authorization request (its code), or by a public client's proof at redemption (its refresh tokens).
    public var dpopKey: String?

    public init(
        id: String, clientID: String, userID: String, scope: Scope, audience: [String], createdAt: Date, expiresAt: Date,
        revokedAt: Date? = nil, sessionID: String? = nil, authTime: Date? = nil, claimsRequest: String? = nil, dpopKey: String? = nil
    ) {
        self.dpopKey = dpopKey
        self.sessionID = sessionID
        self.authTime = authTime
        self.claimsRequest = claimsRequest
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
    /// OpenID Connect's `nonce`, echoed in the ID token this code's redemption gives.
    public var nonce: String?

    public init(
        digest: [UInt8], grant: GrantRecord, redirectURI: String, redirectURIExplicit: Bool, codeChallenge: String?,
        codeChallengeMethod: PKCE.Method?, expiresAt: Date, consumedAt: Date? = nil, nonce: String? = nil
    ) {
        self.nonce = nonce
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
    /// Once rotated: its successor, while that successor is itself unrotated.
    public var liveSuccessor: [UInt8]?

    public init(
        digest: [UInt8], grant: GrantRecord, scope: Scope, issuedAt: Date, idleExpiresAt: Date, rotatedAt: Date? = nil,
        graceUsed: Bool = false, liveSuccessor: [UInt8]? = nil
    ) {
        self.digest = digest
        self.grant = grant
        self.scope = scope
        self.issuedAt = issuedAt
        self.idleExpiresAt = idleExpiresAt
        self.rotatedAt = rotatedAt
        self.graceUsed = graceUsed
        self.liveSuccessor = liveSuccessor
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

