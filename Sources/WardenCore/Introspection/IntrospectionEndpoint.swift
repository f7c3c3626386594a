import Foundation

/// Token introspection (RFC 7662), authoritative: a revoked token, a token of a
/// revoked grant, or one of a deleted client is inactive at once even though its
/// JWT is still good. A refresh token is active only to the client it was issued to.
public struct IntrospectionEndpoint: Sendable {
    let authenticator: ClientAuthenticator
    let verifier: any AccessTokenVerifier
    let revocations: any RevocationRepository
    let clients: any ClientRepository
    let grants: any GrantRepository
    let clock: any WardenClock

    public init(
        authenticator: ClientAuthenticator, verifier: any AccessTokenVerifier, revocations: any RevocationRepository,
        clients: any ClientRepository, grants: any GrantRepository, clock: any WardenClock
    ) {
        self.authenticator = authenticator
        self.verifier = verifier
        self.revocations = revocations
        self.clients = clients
        self.grants = grants
        self.clock = clock
    }

    /// Introspects `token` for an authenticated confidential client (RFC 7662 §2.1).
    public func introspect(form: FormBody, authorization: String?, address: String? = nil) async throws -> (client: Client, response: IntrospectionResponse) {
        let client = try await authenticator.authenticate(authorization: authorization, form: form, address: address)
        guard client.isConfidential else {
            throw OAuthError.invalidClient(cause: "public clients may not introspect")
        }
        guard let token = form["token"] else { throw OAuthError.invalidRequest("token is required") }
        if let claims = await verifier.verify(token) {
            return (client, try await isLive(claims) ? IntrospectionResponse(claims: claims) : .inactive)
        }
        return (client, try await refreshTokenResponse(token, caller: client))
    }

    private func isLive(_ claims: AccessTokenClaims) async throws -> Bool {
        if try await revocations.isRevoked(jwtID: claims.jwtID) { return false }
        if try await clients.client(id: claims.clientID) == nil { return false }
        if let grantID = claims.grantID { return try await grants.isGrantActive(id: grantID, at: clock.now()) }
        return true
    }

    private func refreshTokenResponse(_ token: String, caller: Client) async throws -> IntrospectionResponse {
        let now = clock.now()
        guard let record = try await grants.refreshToken(digest: OpaqueToken(token).digest),
            record.isUsable(byClient: caller.id, at: now), record.rotatedAt == nil
        else { return .inactive }
        return IntrospectionResponse(refreshToken: record)
    }
}
