import Foundation

/// OpenID Connect RP-Initiated Logout 1.0 (§2, §3): which client asks, where the browser
/// may go afterwards, and whether the request may end the session without asking.
public struct LogoutEndpoint: Sendable {
    let clients: any ClientRepository
    let idTokens: any OpenIDTokenSigner

    public init(clients: any ClientRepository, idTokens: any OpenIDTokenSigner) {
        self.clients = clients
        self.idTokens = idTokens
    }

    /// A validated logout request.
    public struct Request: Sendable, Equatable {
        /// The client asking, when known (the hint's `aud` or `client_id`).
        public var client: Client?
        /// The verified `id_token_hint`.
        public var hint: IDTokenHint?
        /// Where to send the browser once signed out, `state` added; nil: the signed-out page.
        public var redirect: String?

        /// Whether the request proves it comes from a client of `session` (its ID token's
        /// `sid` is the session's): then the session ends without asking (§2).
        public func isFrom(_ session: BrowserSession) -> Bool {
            guard let sid = hint?.sessionID else { return false }
            return ConstantTime.equals(Array(sid.utf8), Array(session.sid.utf8))
        }
    }

    /// Validates the request; any problem is an `invalid_request` for an error page,
    /// never a redirect (§3: the URI must be one the client registered).
    public func validate(_ form: FormBody) async throws -> Request {
        var request = Request()
        if let token = form["id_token_hint"] {
            guard let hint = await idTokens.verifyIDTokenHint(token) else {
                throw OAuthError.invalidRequest("id_token_hint is not an ID token of this server")
            }
            request.hint = hint
        }
        if let clientID = form["client_id"], let hint = request.hint, !hint.audience.contains(clientID) {
            throw OAuthError.invalidRequest("client_id is not the audience of id_token_hint")
        }
        if let clientID = form["client_id"] ?? request.hint?.audience.first {
            guard let client = try await clients.client(id: clientID) else { throw OAuthError.invalidRequest("Unknown client") }
            request.client = client
        }
        if let uri = form["post_logout_redirect_uri"] {
            guard let client = request.client else {
                throw OAuthError.invalidRequest("post_logout_redirect_uri needs client_id or id_token_hint")
            }
            guard client.postLogoutRedirectURIs.contains(uri) else {
                throw OAuthError.invalidRequest("post_logout_redirect_uri is not registered for this client")
            }
            let state = form["state"].map { [("state", $0)] } ?? []
            request.redirect = AuthorizationResponse(redirectURI: uri, parameters: state, mode: .query).location
        }
        return request
    }
}
