/// One grant type's handling of a token request, after the client is authenticated.
public protocol GrantHandler: Sendable {
    /// The token response, or an `OAuthError`. `dpopKey`: the thumbprint of the request's
    /// checked DPoP proof (RFC 9449), to which the access token is bound; nil: a bearer token.
    func respond(to form: FormBody, client: Client, dpopKey: String?) async throws -> TokenResponse
}

extension GrantHandler {
    /// A request without a DPoP proof.
    public func respond(to form: FormBody, client: Client) async throws -> TokenResponse {
        try await respond(to: form, client: client, dpopKey: nil)
    }
}
