/// The JWS algorithms access tokens may be signed with (RFC 7518). Never `none`,
/// never HMAC: a resource server must be able to verify from public keys alone.
public enum SigningAlgorithm: String, Sendable, CaseIterable, Codable {
    /// ECDSA P-256 with SHA-256, the default.
    case es256 = "ES256"
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys.
    case rs256 = "RS256"
    /// Ed25519 (RFC 8037).
    case edDSA = "EdDSA"
}
