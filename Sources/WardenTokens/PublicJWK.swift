/// The public half of a signing key as a JWK (RFC 7517), as published in the JWKS.
public struct PublicJWK: Codable, Sendable, Equatable {
    public var kty: String
    public var use: String = "sig"
    public var alg: String
    public var kid: String
    public var crv: String?
    public var x: String?
    public var y: String?
    public var n: String?
    public var e: String?
}

/// A JWK Set document (RFC 7517 §5).
public struct JWKSet: Codable, Sendable, Equatable {
    public var keys: [PublicJWK]
}
