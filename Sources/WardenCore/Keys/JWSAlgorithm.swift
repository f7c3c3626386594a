/// The algorithms Warden accepts on JWTs that clients sign: client assertions
/// (RFC 7523) and DPoP proofs (RFC 9449). Asymmetric only: never `none`, never HMAC.
public enum JWSAlgorithm: String, Sendable, CaseIterable {
    case es256 = "ES256"
    case rs256 = "RS256"
    case ps256 = "PS256"
    case edDSA = "EdDSA"

    /// The names, as metadata lists them.
    public static let names = allCases.map(\.rawValue)
}
