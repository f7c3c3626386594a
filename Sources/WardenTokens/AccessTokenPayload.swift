import Foundation
import JWTKit
import WardenCore

/// The RFC 9068 claims as jwt-kit decodes and checks them (`JWTPayloads` writes them).
struct AccessTokenPayload: JWTPayload {
    var iss: IssuerClaim
    var sub: SubjectClaim
    var aud: AudienceClaim
    var client_id: String
    var scope: String
    var iat: IssuedAtClaim
    var exp: ExpirationClaim
    var jti: IDClaim
    var gid: String?
    var cnf: Confirmation?
    var act: Actor?

    /// RFC 7800 `cnf`, with RFC 9449's `jkt`.
    struct Confirmation: Codable {
        var jkt: String?
    }

    /// RFC 8693 §4.1 `act`, nested for each earlier actor.
    final class Actor: Codable, Sendable {
        let sub: String
        let act: Actor?

        /// The actors' subjects, the current one first.
        var chain: [String] { [sub] + (act?.chain ?? []) }
    }

    var claims: AccessTokenClaims {
        var claims = AccessTokenClaims(
            issuer: iss.value, subject: sub.value, audience: aud.value, clientID: client_id,
            scope: Scope(tokens: scope.split(separator: " ").map(String.init)), issuedAt: iat.value,
            expiresAt: exp.value, jwtID: jti.value, grantID: gid, confirmationThumbprint: cnf?.jkt)
        claims.actors = act?.chain ?? []
        return claims
    }

    func verify(using _: some JWTAlgorithm) throws {
        try exp.verifyNotExpired()
    }
}
