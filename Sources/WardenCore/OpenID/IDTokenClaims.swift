import Crypto
import Foundation

/// A claim's value as JSON: the standard claims are strings, booleans and numbers.
public enum ClaimValue: Sendable, Equatable {
    case string(String)
    case bool(Bool)
    case int(Int)
}

/// The claims of an OpenID Connect ID token (Core §2, §3.1.3.6).
public struct IDTokenClaims: Sendable {
    public var issuer: String
    public var subject: String
    /// `aud` and `azp`: the client the token is for.
    public var clientID: String
    public var issuedAt: Date
    public var expiresAt: Date
    /// When the user last entered a password in the session.
    public var authTime: Date?
    /// Exactly as the authorization request sent it; never on a refresh.
    public var nonce: String?
    /// `at_hash` (Core §3.1.3.6).
    public var accessTokenHash: String?
    /// The browser session's `sid`.
    public var sessionID: String?
    /// `amr` (RFC 8176): how the user authenticated.
    public var authenticationMethods: [String]
    /// Claims the `claims` parameter's `id_token` member asked for, that the user has.
    public var userClaims: [(name: String, value: ClaimValue)]

    public init(
        issuer: String, subject: String, clientID: String, issuedAt: Date, expiresAt: Date, authTime: Date?, nonce: String?,
        accessTokenHash: String?, sessionID: String?, authenticationMethods: [String] = ["pwd"],
        userClaims: [(name: String, value: ClaimValue)] = []
    ) {
        self.issuer = issuer
        self.subject = subject
        self.clientID = clientID
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
        self.authTime = authTime
        self.nonce = nonce
        self.accessTokenHash = accessTokenHash
        self.sessionID = sessionID
        self.authenticationMethods = authenticationMethods
        self.userClaims = userClaims
    }

    /// Core §3.1.3.6 `at_hash`: the left half of the hash of the access token's ASCII,
    /// base64url; the hash is the one of the ID token's `alg` (SHA-256 for ES256 and
    /// RS256; SHA-512 for EdDSA with Ed25519, as OpenID Connect's errata and
    /// node-oidc-provider have it).
    public static func accessTokenHash(_ accessToken: String, algorithm: SigningAlgorithm) -> String {
        let digest: [UInt8] =
            switch algorithm {
            case .es256, .rs256: Array(SHA256.hash(data: Data(accessToken.utf8)))
            case .edDSA: Array(SHA512.hash(data: Data(accessToken.utf8)))
            }
        return Base64URL.encode(digest.prefix(digest.count / 2))
    }
}

/// The claims of a Back-Channel Logout 1.0 logout token (§2.4).
public struct LogoutTokenClaims: Sendable, Equatable {
    public var issuer: String
    /// `aud`: the client told.
    public var clientID: String
    public var issuedAt: Date
    /// At most two minutes after `issuedAt`.
    public var expiresAt: Date
    public var jwtID: String
    public var subject: String
    public var sessionID: String

    public init(issuer: String, clientID: String, issuedAt: Date, expiresAt: Date, jwtID: String, subject: String, sessionID: String) {
        self.issuer = issuer
        self.clientID = clientID
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
        self.jwtID = jwtID
        self.subject = subject
        self.sessionID = sessionID
    }
}

/// What an `id_token_hint` tells, once its signature and issuer checked out (its expiry
/// does not matter: Core §3.1.2.1, RP-Initiated Logout §2).
public struct IDTokenHint: Sendable, Equatable {
    public var subject: String
    public var audience: [String]
    public var sessionID: String?

    public init(subject: String, audience: [String], sessionID: String?) {
        self.subject = subject
        self.audience = audience
        self.sessionID = sessionID
    }
}

/// Signs ID tokens and logout tokens with the signing key of the algorithm asked for,
/// and reads back ID tokens this server issued.
public protocol OpenIDTokenSigner: Sendable {
    /// The compact JWT (`typ` `JWT`).
    func signIDToken(_ claims: IDTokenClaims, algorithm: SigningAlgorithm) async throws -> String
    /// The compact JWT (`typ` `logout+jwt`).
    func signLogoutToken(_ claims: LogoutTokenClaims, algorithm: SigningAlgorithm) async throws -> String
    /// The hint when `token` is an ID token this server signed with a published key, for
    /// this issuer, expired or not; nil for anything else (an access token included).
    func verifyIDTokenHint(_ token: String) async -> IDTokenHint?
}
