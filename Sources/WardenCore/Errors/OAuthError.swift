/// The one error type of the protocol: an RFC 6749 §5.2 error code, a description
/// safe to show the client, and an internal cause that is logged but never sent.
public struct OAuthError: Error, Sendable, Equatable, CustomStringConvertible {
    /// An RFC error code. Extensible: grants and extensions add their own.
    public struct Code: RawRepresentable, Hashable, Sendable {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }

        /// RFC 6749 §5.2
        public static let invalidRequest = Code(rawValue: "invalid_request")
        /// RFC 6749 §5.2
        public static let invalidClient = Code(rawValue: "invalid_client")
        /// RFC 6749 §5.2
        public static let invalidGrant = Code(rawValue: "invalid_grant")
        /// RFC 6749 §5.2
        public static let unauthorizedClient = Code(rawValue: "unauthorized_client")
        /// RFC 6749 §5.2
        public static let unsupportedGrantType = Code(rawValue: "unsupported_grant_type")
        /// RFC 6749 §5.2
        public static let invalidScope = Code(rawValue: "invalid_scope")
        /// RFC 8707 §2
        public static let invalidTarget = Code(rawValue: "invalid_target")
        /// RFC 6749 §4.1.2.1
        public static let accessDenied = Code(rawValue: "access_denied")
        /// RFC 6749 §4.1.2.1
        public static let unsupportedResponseType = Code(rawValue: "unsupported_response_type")
        /// RFC 8628 §3.5 (registered for the token endpoint): too many failed attempts, retry later.
        public static let slowDown = Code(rawValue: "slow_down")
        /// RFC 8628 §3.5: the user has not decided yet; poll again.
        public static let authorizationPending = Code(rawValue: "authorization_pending")
        /// RFC 8628 §3.5: the device code has expired.
        public static let expiredToken = Code(rawValue: "expired_token")
        /// RFC 9449 §5: the DPoP proof is invalid.
        public static let invalidDPoPProof = Code(rawValue: "invalid_dpop_proof")
        /// RFC 9449 §8: the proof must carry the server's nonce (given in `DPoP-Nonce`).
        public static let useDPoPNonce = Code(rawValue: "use_dpop_nonce")
        /// RFC 7591 §3.2.2
        public static let invalidRedirectURI = Code(rawValue: "invalid_redirect_uri")
        /// RFC 7591 §3.2.2
        public static let invalidClientMetadata = Code(rawValue: "invalid_client_metadata")
        /// RFC 6749 §4.1.2.1: the server cannot answer now (its database is unreachable or full).
        public static let temporarilyUnavailable = Code(rawValue: "temporarily_unavailable")
    }

    /// The RFC error code.
    public let code: Code
    /// Human-readable text for the client, restricted to the RFC 6749 §5.2 character set.
    public let publicDescription: String?
    /// What really went wrong, for the log only.
    public let internalCause: String?
    /// Seconds after which a rate-limited client may try again (HTTP 429, `Retry-After`).
    public var retryAfter: Int?
    /// The security event this failure is (OPERATIONS.md), logged apart: `code_reuse_detected`...
    public var securityEvent: String?
    /// For `invalid_client`: the authentication method the client tried, when it was readable.
    public var clientAuthenticationMethod: ClientAuthMethod?
    /// RFC 9449 §8: the nonce to send back in `DPoP-Nonce`.
    public var dpopNonce: String?
    /// For a resource's errors: challenge with the `DPoP` scheme (RFC 9449 §7.1), not `Bearer`.
    public var dpopChallenge = false

    /// Makes an error; `description` is filtered to the characters RFC 6749 allows.
    public init(_ code: Code, _ description: String? = nil, cause: String? = nil) {
        self.code = code
        self.publicDescription = description.map(Self.sanitized)
        self.internalCause = cause
    }

    /// The RFC 6749 §5.2 response members.
    public var responseFields: [String: String] {
        var fields = ["error": code.rawValue]
        if let publicDescription { fields["error_description"] = publicDescription }
        return fields
    }

    public var description: String {
        "\(code.rawValue): \(publicDescription ?? "")" + (internalCause.map { " (\($0))" } ?? "")
    }

    /// RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E.
    static func sanitized(_ text: String) -> String {
        String(text.unicodeScalars.map { scalar in
            let v = scalar.value
            let allowed = (0x20...0x21).contains(v) || (0x23...0x5B).contains(v) || (0x5D...0x7E).contains(v)
            return allowed ? Character(scalar) : "?"
        })
    }
}

extension OAuthError {
    /// `invalid_request` with a description.
    public static func invalidRequest(_ description: String) -> OAuthError { OAuthError(.invalidRequest, description) }
    /// `slow_down` after too many failures: answered with 429 and `Retry-After`.
    public static func rateLimited(retryAfter: Int) -> OAuthError {
        var error = OAuthError(.slowDown, "Too many failed attempts; retry later")
        error.retryAfter = retryAfter
        return error
    }

    /// `temporarily_unavailable` when something below the protocol failed: `cause` is logged, never sent.
    public static func temporarilyUnavailable(cause: String) -> OAuthError {
        OAuthError(.temporarilyUnavailable, "The service is temporarily unavailable; retry later", cause: cause)
    }

    /// `invalid_dpop_proof`; `cause` is logged, never sent.
    public static func invalidDPoPProof(cause: String) -> OAuthError {
        OAuthError(.invalidDPoPProof, "The DPoP proof is invalid", cause: cause)
    }

    /// `invalid_client`; the description never tells an unknown client from a wrong secret.
    public static func invalidClient(cause: String) -> OAuthError {
        OAuthError(.invalidClient, "Client authentication failed", cause: cause)
    }
}
