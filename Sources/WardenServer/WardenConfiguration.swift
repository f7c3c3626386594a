import Foundation
import Logging
import WardenCore
import WardenMigrations

/// Everything a Warden process is configured with, as one typed value.
/// Read from `config/warden.yaml` (or the file given), then the environment,
/// then command-line flags; `buildApplication` takes this, never the command.
public struct WardenConfiguration: Sendable, Equatable {
    /// Interface to listen on.
    public var host = "127.0.0.1"
    /// Port to listen on; 0 lets the system choose.
    public var port = 8080
    /// The exact `iss`; nil means `http://localhost:<port>`.
    public var issuer: String?
    /// The database: a SQLite file (a path, or `sqlite:PATH`), or a PostgreSQL URL
    /// (`postgres://user@host:5432/warden`) that several instances share.
    public var database = "data/warden.sqlite"
    /// SQLite: when a write counts as committed; `full` fsyncs every (group) commit.
    public var databaseDurability: Durability = .full
    /// PostgreSQL: at most this many connections per instance.
    public var databasePoolSize = 10
    /// PostgreSQL: seconds after which the server cancels a statement (0: never).
    public var databaseStatementTimeout = 5
    /// Access token lifetime in seconds (SECURITY.md: an hour or less).
    public var accessTokenLifetime = 3600
    /// ID token lifetime in seconds (OpenID Connect).
    public var idTokenLifetime = 3600
    /// `aud` for clients without a registered audience; nil means the issuer.
    public var defaultAudience: String?
    /// Scopes to list in `scopes_supported` besides those of registered clients.
    public var scopes: [String] = []
    /// The algorithm access tokens are signed with (its key ring is made at startup).
    public var signingAlgorithm: SigningAlgorithm = .es256
    /// Seconds between publishing a rotated key and signing with it.
    public var keyRotationLeadTime = 600
    /// Rotate automatically every this many days; nil: only by hand.
    public var keyRotationIntervalDays: Int?
    /// A file holding the base64 key-encryption key.
    public var keyEncryptionKeyFile: String?
    /// Log level of the server's log.
    public var logLevel: Logger.Level = .info
    /// How log lines are written: `text` (swift-log's) or `json` (one object per line).
    public var logFormat: LogFormat = .text
    /// Seconds a refresh token may go unused before it dies.
    public var refreshTokenIdleLifetime = 14 * 86_400
    /// Seconds a refresh chain may live at most, from the code's redemption.
    public var refreshTokenAbsoluteLifetime = 90 * 86_400
    /// Seconds in which a just-rotated refresh token may be replayed once (0: off).
    public var refreshTokenGracePeriod = 0
    /// Seconds a browser login lasts before the user must sign in again.
    public var sessionLifetime = 8 * 3600
    /// Accept RFC 7636 `plain` code challenges (off: S256 only).
    public var allowPlainPKCE = false
    /// The operator's name, shown at the top of every page.
    public var brandName = "Warden"
    /// A PNG, SVG, JPEG or WebP logo shown beside the name, served same-origin.
    public var brandLogoFile: String?
    /// Words for scopes on the consent page, over the built-in ones for the standard scopes.
    public var scopeDescriptions: [String: String] = [:]
    /// A directory whose `login.mustache`, `consent.mustache`, `error.mustache`,
    /// `header.mustache`, `footer.mustache` replace the built-in pages.
    public var templatesDirectory: String?
    /// Failed logins allowed per username from one address per minute.
    public var loginFailuresPerAccount = 10
    /// Failed logins allowed per username from all addresses together per minute.
    public var loginFailuresPerAccountAnyAddress = 100
    /// Failed logins allowed per client address per minute.
    public var loginFailuresPerAddress = 100
    /// Failed client authentications allowed per client id from one address per minute.
    public var clientAuthenticationFailuresPerClient = 10
    /// Failed client authentications allowed per client address per minute.
    public var clientAuthenticationFailuresPerAddress = 100
    /// Seconds a connection may send nothing before it is closed.
    public var connectionIdleTimeout = 30
    /// Seconds in which a request must arrive whole, headers and body, counted from the
    /// connection's start or the previous response: a slow drip does not hold a connection.
    public var requestTimeout = 30
    /// Open connections at most; past it a new connection is closed at once.
    public var maxConnections = 4096
    /// Where `GET /metrics` (Prometheus) listens, apart from the public port; nil: off.
    public var metricsAddress: ListenAddress?
    /// Accept `http` `jwks_uri`s for private_key_jwt clients (development only).
    public var allowHTTPJWKSURI = false
    /// Whether DPoP proofs at the token and PAR endpoints must carry the server's nonce (RFC 9449 §8).
    public var dpopNonce: DPoPNonceMode = .off
    /// Seconds a DPoP proof's `iat` may be from now.
    public var dpopProofLifetime = 60
    /// RFC 9126 §5: every authorization request must be pushed to `/par` first.
    public var requirePushedAuthorizationRequests = false
    /// Seconds a device code (RFC 8628) waits for its person.
    public var deviceCodeLifetime = 600
    /// RFC 7591: who may register clients over HTTP.
    public var registration: DynamicClientRegistration.Mode = .off
    /// The scopes clients registered over HTTP may have; nil: `scopes` and OpenID Connect's.
    public var registrationScopes: [String]?
    /// Client ID Metadata Documents: a client id that is an https URL names its metadata.
    public var clientIDMetadataDocuments = false
    /// Fetch them over http from loopback and from private addresses (development only).
    public var allowHTTPClientMetadata = false

    /// The scopes in force for registration over HTTP.
    public var effectiveRegistrationScopes: [String] {
        registrationScopes ?? Array(Set(scopes + ["openid", "profile", "email", "offline_access"])).sorted()
    }

    public init() {}

    /// The issuer URL in force.
    public var effectiveIssuer: String { issuer ?? "http://localhost:\(port)" }

    /// The key rings the server always keeps: access tokens' algorithm, and RS256, the
    /// ID tokens' default (OpenID Connect Core §15.1). Others are made when a client needs them.
    public var requiredSigningAlgorithms: [SigningAlgorithm] {
        signingAlgorithm == .rs256 ? [.rs256] : [signingAlgorithm, .rs256]
    }

    /// The default audience in force.
    public var effectiveDefaultAudience: String { defaultAudience ?? effectiveIssuer }

    /// How long resource servers may cache the JWKS: half the lead time, so a
    /// rotated key is in every cache before it signs; at most an hour.
    public var jwksMaxAge: Int { max(0, min(3600, keyRotationLeadTime / 2)) }
}

/// `dpop_nonce`: whether the server hands out DPoP nonces and requires them.
public enum DPoPNonceMode: String, Sendable {
    case off, required
}

/// A `host:port` to listen on (`[::1]:9464` for an IPv6 address).
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Reads `host:port`; nil if it is not one.
    public init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            return nil
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, !host.contains(where: { $0 == "[" || $0 == "]" || $0 == "/" || $0.isWhitespace }) else { return nil }
        self.init(host: host, port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// `log_format` values.
public enum LogFormat: String, Sendable {
    case text
    case json
}

/// A configuration value that cannot be used; the message names the value.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
