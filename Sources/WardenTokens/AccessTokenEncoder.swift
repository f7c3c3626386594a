import Crypto
import WardenCore
import _CryptoExtras

/// Signs RFC 9068 access tokens with one key, writing the compact JWS by hand:
/// the header segment is encoded once per key, the claims straight into bytes,
/// and the signature comes from swift-crypto directly. jwt-kit (an actor and a
/// `JSONEncoder` per token) cost more than the signature on the token route; it
/// still verifies tokens, so every token this writes is checked by jwt-kit in the tests.
struct AccessTokenEncoder: Sendable {
    private let key: SigningKeyMaterial
    /// base64url of `{"alg":…,"kid":…,"typ":"at+jwt"}` followed by `.`.
    private let headerSegment: [UInt8]

    init(key: SigningKeyMaterial, kid: String) {
        self.key = key
        var header = JSONObjectWriter(capacity: 96)
        header.add("alg", key.algorithm.rawValue)
        header.add("kid", kid)
        header.add("typ", "at+jwt")
        var segment: [UInt8] = []
        Base64URL.append(header.finish(), to: &segment)
        segment.append(UInt8(ascii: "."))
        headerSegment = segment
    }

    /// The compact JWT of `claims`.
    func encode(_ claims: AccessTokenClaims) throws -> String {
        var token = headerSegment
        token.reserveCapacity(headerSegment.count + 512)
        Base64URL.append(Self.payload(claims), to: &token)
        let signature = try sign(token)
        token.append(UInt8(ascii: "."))
        Base64URL.append(signature, to: &token)
        return String(decoding: token, as: UTF8.self)
    }

    /// The claims as JWT NumericDates (whole seconds, RFC 7519 §2); a single audience as a string.
    static func payload(_ claims: AccessTokenClaims) -> [UInt8] {
        var writer = JSONObjectWriter(capacity: 384)
        writer.add("iss", claims.issuer)
        writer.add("sub", claims.subject)
        if claims.audience.count == 1 { writer.add("aud", claims.audience[0]) } else { writer.add("aud", claims.audience) }
        writer.add("client_id", claims.clientID)
        writer.add("scope", claims.scope.description)
        writer.add("iat", Int(claims.issuedAt.timeIntervalSince1970.rounded(.down)))
        writer.add("exp", Int(claims.expiresAt.timeIntervalSince1970.rounded(.down)))
        writer.add("jti", claims.jwtID)
        if let grantID = claims.grantID { writer.add("gid", grantID) }
        return writer.finish()
    }

    /// RFC 7518 §3: ES256 as raw r‖s (in low-S form), RS256 as PKCS #1 v1.5 over SHA-256; RFC 8037 for EdDSA.
    private func sign(_ input: [UInt8]) throws -> [UInt8] {
        switch key {
        case .es256(let privateKey): LowS.normalized(Array(try privateKey.signature(for: input).rawRepresentation))
        case .edDSA(let privateKey): Array(try privateKey.signature(for: input))
        case .rs256(let privateKey):
            Array(try privateKey.signature(for: SHA256.hash(data: input), padding: .insecurePKCS1v1_5).rawRepresentation)
        }
    }
}
