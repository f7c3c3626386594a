import Crypto
import Foundation
import _CryptoExtras

/// A public key a client supplied as a JWK (RFC 7517): in its registered JWKS, or in a
/// DPoP proof's header. Only the kinds Warden verifies with (P-256, RSA ≥ 2048 bits,
/// Ed25519); a private member is refused, so a client never hands over its private key
/// by mistake and have it kept.
public struct ClientJWK: Sendable {
    enum Key: Sendable {
        case p256(P256.Signing.PublicKey)
        case rsa(_RSA.Signing.PublicKey)
        case ed25519(Curve25519.Signing.PublicKey)
    }

    let key: Key
    /// `kid`, when the JWK has one.
    public let keyID: String?
    /// `alg`, when the JWK names one: then it is the only algorithm the key verifies.
    public let algorithm: JWSAlgorithm?
    /// RFC 7638 SHA-256 thumbprint, base64url: what DPoP binds tokens to (`cnf.jkt`).
    public let thumbprint: String

    /// Why a JWK was refused; phrased for an operator (the CLI), logged for requests.
    public struct Invalid: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    /// Members that only a private or symmetric key has.
    static let privateMembers: Set<String> = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"]

    /// Reads a JWK from its decoded JSON object.
    public init(json object: [String: Any]) throws(Invalid) {
        if let member = Self.privateMembers.first(where: { object[$0] != nil }) {
            throw Invalid(description: "the key has the private member '\(member)': give public keys only")
        }
        keyID = object["kid"] as? String
        if let name = object["alg"] {
            guard let name = name as? String, let algorithm = JWSAlgorithm(rawValue: name) else {
                throw Invalid(description: "the key's alg is not one of \(JWSAlgorithm.names.joined(separator: ", "))")
            }
            self.algorithm = algorithm
        } else {
            algorithm = nil
        }
        if let use = object["use"] as? String, use != "sig" { throw Invalid(description: "the key's use is not sig") }
        func member(_ name: String) throws(Invalid) -> Data {
            guard let text = object[name] as? String, let bytes = Base64URL.decodeCanonical(text) else {
                throw Invalid(description: "the key's '\(name)' is missing or not base64url")
            }
            return bytes
        }
        let canonical: String
        switch object["kty"] as? String {
        case "EC":
            guard object["crv"] as? String == "P-256" else { throw Invalid(description: "an EC key must be on the curve P-256") }
            let (x, y) = (try member("x"), try member("y"))
            guard x.count == 32, y.count == 32, let key = try? P256.Signing.PublicKey(x963Representation: [0x04] + x + y) else {
                throw Invalid(description: "the EC key is not a point on P-256")
            }
            self.key = .p256(key)
            canonical = #"{"crv":"P-256","kty":"EC","x":"\#(Base64URL.encode(x))","y":"\#(Base64URL.encode(y))"}"#
        case "RSA":
            let (n, e) = (try member("n"), try member("e"))
            // swift-crypto refuses moduli under 2048 bits.
            guard let key = try? _RSA.Signing.PublicKey(n: n, e: e) else {
                throw Invalid(description: "the RSA key is malformed or shorter than 2048 bits")
            }
            self.key = .rsa(key)
            canonical = #"{"e":"\#(Base64URL.encode(e))","kty":"RSA","n":"\#(Base64URL.encode(n))"}"#
        case "OKP":
            guard object["crv"] as? String == "Ed25519" else { throw Invalid(description: "an OKP key must be on the curve Ed25519") }
            let x = try member("x")
            guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: x) else {
                throw Invalid(description: "the Ed25519 key is malformed")
            }
            self.key = .ed25519(key)
            canonical = #"{"crv":"Ed25519","kty":"OKP","x":"\#(Base64URL.encode(x))"}"#
        default:
            throw Invalid(description: "the key's kty must be EC, RSA or OKP")
        }
        thumbprint = Base64URL.encode(SHA256.hash(data: Data(canonical.utf8)))
    }

    /// Whether this key can verify `algorithm`: the kind of key fits, and the JWK's own `alg`, if any, agrees.
    public func fits(_ algorithm: JWSAlgorithm) -> Bool {
        if let own = self.algorithm, own != algorithm { return false }
        switch (algorithm, key) {
        case (.es256, .p256), (.rs256, .rsa), (.ps256, .rsa), (.edDSA, .ed25519): return true
        default: return false
        }
    }

    /// Whether `signature` is this key's signature of `input` under `algorithm`. An
    /// algorithm that does not fit the key is refused, never coerced.
    public func verifies(_ signature: Data, of input: some DataProtocol, algorithm: JWSAlgorithm) -> Bool {
        guard fits(algorithm) else { return false }
        switch (algorithm, key) {
        case (.es256, .p256(let key)):
            // JWS carries r ‖ s (RFC 7518 §3.4). High-S is not refused: clients' libraries emit it.
            guard let parsed = try? P256.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
            return key.isValidSignature(parsed, for: input)
        case (.rs256, .rsa(let key)):
            return key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: SHA256.hash(data: input), padding: .insecurePKCS1v1_5)
        case (.ps256, .rsa(let key)):
            return key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: SHA256.hash(data: input), padding: .PSS)
        case (.edDSA, .ed25519(let key)):
            return key.isValidSignature(signature, for: input)
        default:
            return false
        }
    }
}

/// A client's registered keys (RFC 7517 §5 JWK Set).
public struct ClientJWKS: Sendable {
    public let keys: [ClientJWK]

    /// Reads a JWK Set; every key must be a usable public key, and there must be one.
    public init(json bytes: some DataProtocol) throws(ClientJWK.Invalid) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
            let members = object["keys"] as? [Any]
        else { throw ClientJWK.Invalid(description: "a JWK Set is a JSON object with a \"keys\" array") }
        guard !members.isEmpty else { throw ClientJWK.Invalid(description: "the JWK Set has no keys") }
        guard members.count <= Self.maximumKeyCount else {
            throw ClientJWK.Invalid(description: "the JWK Set has more than \(Self.maximumKeyCount) keys")
        }
        var keys: [ClientJWK] = []
        for member in members {
            guard let key = member as? [String: Any] else { throw ClientJWK.Invalid(description: "a JWK is a JSON object") }
            keys.append(try ClientJWK(json: key))
        }
        self.keys = keys
    }

    /// More keys than this is not a client's key set (each one may be tried on a request).
    public static let maximumKeyCount = 20

    /// The keys that may have made a signature: the one with `kid`, else every key
    /// that fits the algorithm (OpenID Connect Core §10.1).
    public func candidates(keyID: String?, algorithm: JWSAlgorithm) -> [ClientJWK] {
        keys.filter { key in key.fits(algorithm) && (keyID == nil || key.keyID == keyID) }
    }
}
