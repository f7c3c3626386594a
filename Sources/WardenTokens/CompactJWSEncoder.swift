import Crypto
import WardenCore
import _CryptoExtras

/// The kinds of JWT Warden signs, told apart by their `typ` header so that none can
/// pass for another (RFC 8725 §3.11): an ID token is never accepted as an access token.
enum JWTKind: CaseIterable {
    /// RFC 9068 access tokens.
    case accessToken
    /// OpenID Connect ID tokens.
    case idToken
    /// Back-Channel Logout 1.0 logout tokens.
    case logoutToken

    var type: String {
        switch self {
        case .accessToken: "at+jwt"
        case .idToken: "JWT"
        case .logoutToken: "logout+jwt"
        }
    }
}

/// Signs JWTs with one key, writing the compact JWS by hand: each kind's header
/// segment is encoded once per key, the claims straight into bytes, and the signature
/// comes from swift-crypto directly. jwt-kit (an actor and a `JSONEncoder` per token)
/// cost more than the signature on the token route; it still verifies tokens, so every
/// token this writes is checked by jwt-kit in the tests.
struct CompactJWSEncoder: Sendable {
    private let key: SigningKeyMaterial
    /// base64url of `{"alg":…,"kid":…,"typ":…}` followed by `.`, by `JWTKind`.
    private let headerSegments: [[UInt8]]

    init(key: SigningKeyMaterial, kid: String) {
        self.key = key
        headerSegments = JWTKind.allCases.map { kind in
            var header = JSONObjectWriter(capacity: 96)
            header.add("alg", key.algorithm.rawValue)
            header.add("kid", kid)
            header.add("typ", kind.type)
            var segment: [UInt8] = []
            Base64URL.append(header.finish(), to: &segment)
            segment.append(UInt8(ascii: "."))
            return segment
        }
    }

    /// The compact JWT of `payload`, a JSON object.
    func encode(_ payload: [UInt8], as kind: JWTKind) throws -> String {
        var token = headerSegments[JWTKind.allCases.firstIndex(of: kind) ?? 0]
        token.reserveCapacity(token.count + payload.count * 4 / 3 + 360)
        Base64URL.append(payload, to: &token)
        let signature = try sign(token)
        token.append(UInt8(ascii: "."))
        Base64URL.append(signature, to: &token)
        return String(decoding: token, as: UTF8.self)
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
