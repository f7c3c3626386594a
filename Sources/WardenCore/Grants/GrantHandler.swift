/// One grant type's handling of a token request, after the client is authenticated.
public protocol GrantHandler: Sendable {
    /// The token response, or an `OAuthError`.
    func respond(to form: FormBody, client: Client) async throws -> TokenResponse
}
