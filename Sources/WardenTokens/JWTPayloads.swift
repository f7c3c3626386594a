import Foundation
import WardenCore

/// The JSON payloads of the JWTs Warden signs: NumericDates in whole seconds (RFC 7519
/// §2), a single audience as a string.
enum JWTPayloads {
    static func accessToken(_ claims: AccessTokenClaims) -> [UInt8] {
        var writer = JSONObjectWriter(capacity: 384)
        writer.add("iss", claims.issuer)
        writer.add("sub", claims.subject)
        if claims.audience.count == 1 { writer.add("aud", claims.audience[0]) } else { writer.add("aud", claims.audience) }
        writer.add("client_id", claims.clientID)
        writer.add("scope", claims.scope.description)
        writer.add("iat", seconds(claims.issuedAt))
        writer.add("exp", seconds(claims.expiresAt))
        writer.add("jti", claims.jwtID)
        if let grantID = claims.grantID { writer.add("gid", grantID) }
        // RFC 9449 §6.1; a thumbprint is base64url, so it needs no escaping.
        if let thumbprint = claims.confirmationThumbprint { writer.addRaw("cnf", #"{"jkt":"\#(thumbprint)"}"#) }
        if let actor = claims.actorJSON { writer.addRaw("act", actor) }
        return writer.finish()
    }

    /// OpenID Connect Core §2.
    static func idToken(_ claims: IDTokenClaims) -> [UInt8] {
        var writer = JSONObjectWriter(capacity: 512)
        writer.add("iss", claims.issuer)
        writer.add("sub", claims.subject)
        writer.add("aud", claims.clientID)
        writer.add("azp", claims.clientID)
        writer.add("iat", seconds(claims.issuedAt))
        writer.add("exp", seconds(claims.expiresAt))
        if let authTime = claims.authTime { writer.add("auth_time", seconds(authTime)) }
        if let nonce = claims.nonce { writer.add("nonce", nonce) }
        if let hash = claims.accessTokenHash { writer.add("at_hash", hash) }
        if let sid = claims.sessionID { writer.add("sid", sid) }
        writer.add("amr", claims.authenticationMethods)
        for (name, value) in claims.userClaims { writer.add(claim: name, value) }
        return writer.finish()
    }

    /// Back-Channel Logout 1.0 §2.4: never a `nonce`.
    static func logoutToken(_ claims: LogoutTokenClaims) -> [UInt8] {
        var writer = JSONObjectWriter(capacity: 384)
        writer.add("iss", claims.issuer)
        writer.add("sub", claims.subject)
        writer.add("aud", claims.clientID)
        writer.add("iat", seconds(claims.issuedAt))
        writer.add("exp", seconds(claims.expiresAt))
        writer.add("jti", claims.jwtID)
        writer.add("sid", claims.sessionID)
        writer.addRaw("events", #"{"http://schemas.openid.net/event/backchannel-logout":{}}"#)
        return writer.finish()
    }

    static func seconds(_ date: Date) -> Int { Int(date.timeIntervalSince1970.rounded(.down)) }
}
