import Hummingbird
import Synchronization
import WardenCore

/// The request context of every Warden route. It carries a small shared record so
/// that the request log can name the client a handler authenticated.
public struct WardenRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Facts a handler learns that the request log reports.
    public let outcome: RequestOutcome
    /// The peer's IP address, for per-address rate limits.
    public let remoteAddress: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        outcome = RequestOutcome()
        remoteAddress = source.channel.remoteAddress?.ipAddress
    }
}

/// What the request log and the metrics report beyond method, path and status.
public final class RequestOutcome: Sendable {
    private struct State {
        var clientID: String?
        var errorCause: String?
        var failure: OAuthError?
        var event: SecurityEvent?
        var issued: IssuedTokens?
        var introspection: Introspection?
    }

    private let state = Mutex(State())

    /// A security event the request was (OPERATIONS.md): logged on a line of its own.
    public struct SecurityEvent: Sendable {
        public var name: String
        /// `username` or `sub`, and their values; never a secret.
        public var fields: [String: String]
    }

    /// The tokens a token request issued, by kind (`access_token`, `refresh_token`, `id_token`).
    public struct IssuedTokens: Sendable {
        public var grantType: String
        public var tokenTypes: [String]
    }

    /// What an introspection found, and whether it was answered from the cache.
    public struct Introspection: Sendable {
        public var active: Bool
        public var cached: Bool
    }

    /// The security event the request was, if any.
    public var event: SecurityEvent? {
        get { state.withLock { $0.event } }
        set { state.withLock { $0.event = newValue } }
    }

    /// The authenticated client, if any.
    public var clientID: String? {
        get { state.withLock { $0.clientID } }
        set { state.withLock { $0.clientID = newValue } }
    }

    /// Why a request failed when no `OAuthError` says it (a failed login), for the log only.
    public var errorCause: String? {
        get { state.withLock { $0.errorCause } }
        set { state.withLock { $0.errorCause = newValue } }
    }

    /// The OAuth error a request was answered with: its code, public description and
    /// internal cause all go to the log.
    public var failure: OAuthError? {
        get { state.withLock { $0.failure } }
        set { state.withLock { $0.failure = newValue } }
    }

    /// The tokens issued, for `warden_tokens_issued_total`.
    public var issued: IssuedTokens? {
        get { state.withLock { $0.issued } }
        set { state.withLock { $0.issued = newValue } }
    }

    /// The introspection's answer, for `warden_introspections_total`.
    public var introspection: Introspection? {
        get { state.withLock { $0.introspection } }
        set { state.withLock { $0.introspection = newValue } }
    }
}
