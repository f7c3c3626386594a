/// Token revocation (RFC 7009).
public struct RevocationEndpoint: Sendable {
    let authenticator: ClientAuthenticator
    let verifier: any AccessTokenVerifier
    let revocations: any RevocationRepository

    public init(authenticator: ClientAuthenticator, verifier: any AccessTokenVerifier, revocations: any RevocationRepository) {
        self.authenticator = authenticator
        self.verifier = verifier
        self.revocations = revocations
    }

    /// Revokes `token` if it is a live token of this client. RFC 7009 §2.2: an
    /// unknown, invalid or expired token is answered with success. A token of
    /// another client is refused (§2.1) and stays valid.
    public func revoke(form: FormBody, authorization: String?) async throws -> Client {
        let presented = try PresentedClientCredentials.parse(authorization: authorization, form: form)
        let client = try await authenticator.authenticate(presented)
        guard let token = form["token"] else { throw OAuthError.invalidRequest("token is required") }
        // token_type_hint is only a hint (§2.1); unknown values are ignored.
        guard let claims = await verifier.verify(token) else { return client }
        guard claims.clientID == client.id else {
            throw OAuthError(.unauthorizedClient, "The token was not issued to this client")
        }
        try await revocations.revoke(jwtID: claims.jwtID, clientID: client.id, expiresAt: claims.expiresAt)
        return client
    }
}
