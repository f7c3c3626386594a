/// Token introspection (RFC 7662), authoritative: a revoked token, or one of a
/// deleted client, is inactive at once even though its JWT is still good.
public struct IntrospectionEndpoint: Sendable {
    let authenticator: ClientAuthenticator
    let verifier: any AccessTokenVerifier
    let revocations: any RevocationRepository
    let clients: any ClientRepository

    public init(
        authenticator: ClientAuthenticator, verifier: any AccessTokenVerifier, revocations: any RevocationRepository,
        clients: any ClientRepository
    ) {
        self.authenticator = authenticator
        self.verifier = verifier
        self.revocations = revocations
        self.clients = clients
    }

    /// Introspects `token` for an authenticated confidential client (RFC 7662 §2.1).
    public func introspect(form: FormBody, authorization: String?) async throws -> (client: Client, response: IntrospectionResponse) {
        let presented = try PresentedClientCredentials.parse(authorization: authorization, form: form)
        let client = try await authenticator.authenticate(presented)
        guard client.isConfidential else {
            throw OAuthError.invalidClient(cause: "public clients may not introspect")
        }
        guard let token = form["token"] else { throw OAuthError.invalidRequest("token is required") }
        guard let claims = await verifier.verify(token),
            try await !revocations.isRevoked(jwtID: claims.jwtID),
            try await clients.client(id: claims.clientID) != nil
        else {
            return (client, .inactive)
        }
        return (client, IntrospectionResponse(claims: claims))
    }
}
