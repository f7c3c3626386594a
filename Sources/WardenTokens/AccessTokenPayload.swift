import Foundation
import JWTKit
import WardenCore

/// The RFC 9068 claims as jwt-kit encodes and checks them.
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

    init(_ claims: AccessTokenClaims) {
        iss = IssuerClaim(value: claims.issuer)
        sub = SubjectClaim(value: claims.subject)
        aud = AudienceClaim(value: claims.audience)
        client_id = claims.clientID
        scope = claims.scope.description
        iat = IssuedAtClaim(value: claims.issuedAt)
        exp = ExpirationClaim(value: claims.expiresAt)
        jti = IDClaim(value: claims.jwtID)
        gid = claims.grantID
    }

    var claims: AccessTokenClaims {
        AccessTokenClaims(
            issuer: iss.value, subject: sub.value, audience: aud.value, clientID: client_id,
            scope: Scope(tokens: scope.split(separator: " ").map(String.init)), issuedAt: iat.value,
            expiresAt: exp.value, jwtID: jti.value, grantID: gid)
    }

    func verify(using _: some JWTAlgorithm) throws {
        try exp.verifyNotExpired()
    }
}
