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

    /// RFC 7800 `cnf`, with RFC 9449's `jkt`.
    struct Confirmation: Codable {
        var jkt: String?
    }

    var claims: AccessTokenClaims {
        AccessTokenClaims(
            issuer: iss.value, subject: sub.value, audience: aud.value, clientID: client_id,
            scope: Scope(tokens: scope.split(separator: " ").map(String.init)), issuedAt: iat.value,
            expiresAt: exp.value, jwtID: jti.value, grantID: gid, confirmationThumbprint: cnf?.jkt)
    }

    func verify(using _: some JWTAlgorithm) throws {
        try exp.verifyNotExpired()
    }
}
