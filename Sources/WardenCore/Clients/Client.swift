import Foundation

/// A registered OAuth client (RFC 6749 §2).
public struct Client: Sendable, Equatable {
    /// The public identifier.
    public var id: String
    /// A display name, shown on consent pages.
    public var name: String
    /// SHA-256 of the client secret; nil for public clients.
    public var secretDigest: ClientSecretDigest?
    /// The one way this client authenticates (RFC 7591 `token_endpoint_auth_method`).
    public var authMethod: ClientAuthMethod
    /// The grants this client may use.
    public var grantTypes: [GrantType]
    /// Exactly registered redirect URIs.
    public var redirectURIs: [String]
    /// The most a client may ask for; also the default when it asks for nothing.
    public var scope: Scope
    /// Resource servers (RFC 8707) this client may get tokens for; the first is the default.
    public var audiences: [String]
    /// Never show the consent page for this client.
    public var skipConsent: Bool
    /// A confidential client may use the code flow without PKCE.
    public var pkceOptional: Bool
    /// When the client was registered.
    public var createdAt: Date
    /// OpenID Connect Registration `id_token_signed_response_alg` (RS256 unless registered).
    public var idTokenSigningAlgorithm: SigningAlgorithm
    /// RP-Initiated Logout 1.0: where `/logout` may send the browser afterwards, exactly.
    public var postLogoutRedirectURIs: [String]
    /// Back-Channel Logout 1.0: where logout tokens are posted when a session ends.
    public var backchannelLogoutURI: String?
    /// `private_key_jwt`: the client's public keys, as a JWK Set's JSON text (RFC 7591 `jwks`)...
    public var jwks: String?
    /// ...or where to fetch them (RFC 7591 `jwks_uri`).
    public var jwksURI: String?
    /// RFC 9449 §5.2 `dpop_bound_access_tokens`: every token request needs a DPoP proof.
    public var dpopBoundAccessTokens = false
    /// RFC 9126 §6 `require_pushed_authorization_requests`.
    public var requirePushedAuthorizationRequests = false
    /// RFC 8693: the audiences this client may get tokens for by exchanging another's.
    public var exchangeAudiences: [String] = []
    /// RFC 7592: for a client registered over HTTP, the SHA-256 of its current registration
    /// access token; nil for clients the CLI made (which `/register/...` cannot manage).
    public var registrationAccessTokenDigest: [UInt8]?
    /// RFC 7591's descriptive metadata (`client_uri`, `logo_uri`, `contacts`, `software_id`,
    /// `software_version`) as registered over HTTP: a JSON object's text.
    public var registeredMetadata: String?
    /// A client whose id is the URL of its Client ID Metadata Document: never stored, read
    /// from the document; always asked about on the consent page.
    public var fromMetadataDocument = false

    /// Makes a client.
    public init(
        id: String, name: String, secretDigest: ClientSecretDigest?, authMethod: ClientAuthMethod,
        grantTypes: [GrantType], redirectURIs: [String], scope: Scope, audiences: [String],
        skipConsent: Bool, pkceOptional: Bool, createdAt: Date, idTokenSigningAlgorithm: SigningAlgorithm = .rs256,
        postLogoutRedirectURIs: [String] = [], backchannelLogoutURI: String? = nil
    ) {
        self.idTokenSigningAlgorithm = idTokenSigningAlgorithm
        self.postLogoutRedirectURIs = postLogoutRedirectURIs
        self.backchannelLogoutURI = backchannelLogoutURI
        self.id = id
        self.name = name
        self.secretDigest = secretDigest
        self.authMethod = authMethod
        self.grantTypes = grantTypes
        self.redirectURIs = redirectURIs
        self.scope = scope
        self.audiences = audiences
        self.skipConsent = skipConsent
        self.pkceOptional = pkceOptional
        self.createdAt = createdAt
    }

    /// A client that holds a secret (RFC 6749 §2.1).
    public var isConfidential: Bool { authMethod != .none }

    /// Where the client came from, as `warden clients list` shows it.
    public var origin: String {
        fromMetadataDocument ? "metadata_document" : registrationAccessTokenDigest == nil ? "cli" : "registration"
    }
}

/// RFC 7591 §2 `token_endpoint_auth_method` values Warden supports.
public enum ClientAuthMethod: String, Sendable, CaseIterable, Codable {
    /// RFC 6749 §2.3.1, HTTP Basic.
    case clientSecretBasic = "client_secret_basic"
    /// RFC 6749 §2.3.1, credentials in the body.
    case clientSecretPost = "client_secret_post"
    /// A public client.
    case none
    /// RFC 7523 §2.2 with OpenID Connect Core §9: an assertion signed with the client's key.
    case privateKeyJWT = "private_key_jwt"

    /// Whether the client holds a shared secret.
    public var usesSecret: Bool { self == .clientSecretBasic || self == .clientSecretPost }
}

/// An OAuth grant type (RFC 7591 `grant_types`).
public struct GrantType: RawRepresentable, Hashable, Sendable, Codable {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    /// RFC 6749 §4.1
    public static let authorizationCode = GrantType(rawValue: "authorization_code")
    /// RFC 6749 §6
    public static let refreshToken = GrantType(rawValue: "refresh_token")
    /// RFC 6749 §4.4
    public static let clientCredentials = GrantType(rawValue: "client_credentials")
    /// RFC 8693 §2.1
    public static let tokenExchange = GrantType(rawValue: "urn:ietf:params:oauth:grant-type:token-exchange")
    /// RFC 8628 §3.4
    public static let deviceCode = GrantType(rawValue: "urn:ietf:params:oauth:grant-type:device_code")
    /// The grants a client may be registered for.
    public static let registrable: [GrantType] = [.authorizationCode, .refreshToken, .clientCredentials, .tokenExchange, .deviceCode]
    /// Short names the CLI accepts for the URN grant types.
    public static let aliases: [String: GrantType] = ["token_exchange": .tokenExchange, "device_code": .deviceCode]

    /// The grant a CLI argument names: its registered value or its alias.
    public init(argument: String) { self = Self.aliases[argument] ?? GrantType(rawValue: argument) }
}
