import Crypto
import Foundation
import JWTKit
import WardenCore
import _CryptoExtras

/// A private signing key of one of the allowed algorithms.
enum SigningKeyMaterial: Sendable {
    case es256(P256.Signing.PrivateKey)
    case rs256(_RSA.Signing.PrivateKey)
    case edDSA(Curve25519.Signing.PrivateKey)

    /// A fresh key.
    static func generate(_ algorithm: SigningAlgorithm) throws -> SigningKeyMaterial {
        switch algorithm {
        case .es256: .es256(P256.Signing.PrivateKey())
        case .rs256: .rs256(try _RSA.Signing.PrivateKey(keySize: .bits2048))
        case .edDSA: .edDSA(Curve25519.Signing.PrivateKey())
        }
    }

    /// Reads what `serialized` wrote.
    init(serialized data: Data, algorithm: SigningAlgorithm) throws {
        switch algorithm {
        case .es256: self = .es256(try P256.Signing.PrivateKey(rawRepresentation: data))
        case .rs256: self = .rs256(try _RSA.Signing.PrivateKey(derRepresentation: data))
        case .edDSA: self = .edDSA(try Curve25519.Signing.PrivateKey(rawRepresentation: data))
        }
    }

    var algorithm: SigningAlgorithm {
        switch self {
        case .es256: .es256
        case .rs256: .rs256
        case .edDSA: .edDSA
        }
    }

    /// The private key bytes, to be encrypted before storage.
    var serialized: Data {
        switch self {
        case .es256(let key): key.rawRepresentation
        case .rs256(let key): key.derRepresentation
        case .edDSA(let key): key.rawRepresentation
        }
    }

    /// The public JWK for the JWKS.
    func publicJWK(kid: String) throws -> PublicJWK {
        switch self {
        case .es256(let key):
            // X9.63: 0x04 || x || y, 32 bytes each.
            let point = key.publicKey.x963Representation
            return PublicJWK(
                kty: "EC", alg: "ES256", kid: kid, crv: "P-256",
                x: Base64URL.encode(point.dropFirst().prefix(32)), y: Base64URL.encode(point.suffix(32)))
        case .rs256(let key):
            let primitives = try key.publicKey.getKeyPrimitives()
            return PublicJWK(
                kty: "RSA", alg: "RS256", kid: kid, n: Base64URL.encode(primitives.modulus),
                e: Base64URL.encode(primitives.publicExponent))
        case .edDSA(let key):
            return PublicJWK(kty: "OKP", alg: "EdDSA", kid: kid, crv: "Ed25519", x: Base64URL.encode(key.publicKey.rawRepresentation))
        }
    }

    /// A jwt-kit collection holding this key alone, so that verification can never
    /// fall back to another key (jwt-kit tries its default key on an unknown `kid`).
    func keyCollection(kid: String) async throws -> JWTKeyCollection {
        let collection = JWTKeyCollection()
        let serializer = DefaultJWTSerializer(jsonEncoder: Self.encoder)
        let parser = DefaultJWTParser(jsonDecoder: Self.decoder)
        let id = JWKIdentifier(string: kid)
        switch self {
        case .es256(let key):
            await collection.add(ecdsa: try ES256PrivateKey(backing: key), kid: id, parser: parser, serializer: serializer)
        case .rs256(let key):
            await collection.add(rsa: try Insecure.RSA.PrivateKey(backing: key), digestAlgorithm: .sha256, kid: id, parser: parser, serializer: serializer)
        case .edDSA(let key):
            await collection.add(eddsa: EdDSA.PrivateKey(backing: key), kid: id, parser: parser, serializer: serializer)
        }
        return collection
    }

    /// RFC 7519 NumericDate: whole seconds.
    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .integerSecondsSince1970
        return encoder
    }

    static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        return decoder
    }
}
