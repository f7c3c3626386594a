import Foundation

/// A validated `/authorize` request (RFC 6749 §4.1.1, RFC 7636 §4.3, RFC 8707).
public struct AuthorizationRequest: Sendable, Equatable {
    public var client: Client
    /// Where the response goes, as the request gave it: a registered redirect URI, or a
    /// loopback one differing from a registered one in its port only (RFC 8252 §7.3);
    /// the registered URI when the request named none.
    public var redirectURI: String
    /// Whether the request named it (RFC 6749 §4.1.3: then the token request must repeat it).
    public var redirectURIExplicit: Bool
    public var scope: Scope
    /// Echoed exactly in the response.
    public var state: String?
    public var codeChallenge: String?
    public var codeChallengeMethod: PKCE.Method?
    public var audience: [String]
}

/// Why an authorization request fails, and so where the error goes.
public enum AuthorizationFailure: Error, Sendable, Equatable {
    /// The client or redirect URI cannot be trusted: show an error page, never redirect (RFC 6749 §4.1.2.1).
    case page(OAuthError)
    /// Any other error: redirect to the client with `error`, `state` and `iss`.
    case redirect(String)
}
