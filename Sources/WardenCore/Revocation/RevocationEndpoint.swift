import Foundation

/// Token revocation (RFC 7009).
public struct RevocationEndpoint: Sendable {
    let authenticator: ClientAuthenticator
    let verifier: any AccessTokenVerifier
    let revocations: any RevocationRepository
    let grants: any GrantRepository
    let clock: any WardenClock

    public init(
        authenticator: ClientAuthenticator, verifier: any AccessTokenVerifier, revocations: any RevocationRepository,
        grants: any GrantRepository, clock: any WardenClock
    ) {
        self.authenticator = authenticator
        self.verifier = verifier
        self.revocations = revocations
        self.grants = grants
        self.clock = clock
    }

    /// Revokes `token` if it is a live token of this client: an access token by its
    /// `jti`, a refresh token by revoking its whole grant (§2.1). An unknown, invalid
    /// or expired token is answered with success (§2.2). A token of another client is
    /// refused (§2.1) and stays valid. `token_type_hint` is only a hint, and ignored.
    public func revoke(form: FormBody, authorization: String?, address: String? = nil) async throws -> (client: Client, revoked: Revoked) {
        let client = try await authenticator.authenticate(authorization: authorization, form: form, address: address, endpoint: "/revoke")
        guard let token = form["token"] else { throw OAuthError.invalidRequest("token is required") }
        if let claims = await verifier.verify(token) {
            guard claims.clientID == client.id else { throw notIssuedToCaller }
            try await revocations.revoke(jwtID: claims.jwtID, clientID: client.id, expiresAt: claims.expiresAt)
            return (client, .accessToken(subject: claims.subject))
        } else if let record = try await grants.refreshToken(digest: OpaqueToken(token).digest) {
            guard record.grant.clientID == client.id else { throw notIssuedToCaller }
            try await grants.revokeGrant(id: record.grant.id, at: clock.now())
            return (client, .grant(subject: record.grant.userID))
        }
        return (client, .nothing)
    }

    /// What a revocation ended, for the security log (`token_revoked`, `grant_revoked`).
    public enum Revoked: Sendable, Equatable {
        case accessToken(subject: String)
        /// A refresh token, and with it its grant; the user, if the grant has one.
        case grant(subject: String?)
        /// Unknown, invalid or expired: answered with success all the same (§2.2).
        case nothing
    }

    private var notIssuedToCaller: OAuthError { OAuthError(.unauthorizedClient, "The token was not issued to this client") }
}
