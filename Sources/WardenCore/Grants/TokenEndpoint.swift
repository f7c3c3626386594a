/// The token endpoint (RFC 6749 §3.2): authenticates the client, then hands the
/// request to the handler registered for its `grant_type`.
public struct TokenEndpoint: Sendable {
    let authenticator: ClientAuthenticator
    let handlers: [GrantType: any GrantHandler]

    /// Makes the endpoint from its grant handlers, keyed by grant type.
    public init(authenticator: ClientAuthenticator, handlers: [GrantType: any GrantHandler]) {
        self.authenticator = authenticator
        self.handlers = handlers
    }

    /// Handles a token request. The result carries the client for logging.
    public func respond(to form: FormBody, authorization: String?, address: String? = nil) async throws -> (client: Client, response: TokenResponse) {
        let client = try await authenticator.authenticate(authorization: authorization, form: form, address: address)
        guard let grantValue = form["grant_type"] else {
            throw OAuthError.invalidRequest("grant_type is required")
        }
        let grant = GrantType(rawValue: grantValue)
        guard let handler = handlers[grant] else {
            throw OAuthError(.unsupportedGrantType, "This server does not support that grant_type")
        }
        guard client.grantTypes.contains(grant) else {
            throw OAuthError(.unauthorizedClient, "This client is not registered for that grant_type")
        }
        return (client, try await handler.respond(to: form, client: client))
    }
}
