import Foundation

/// A `client_assertion` (RFC 7523 §2.2) as read from the request, once: its header's
/// `alg` and `kid`, the claims the checks need, and what was signed. Nothing in it is
/// trusted until `ClientAssertionVerifier` has checked it.
public struct ClientAssertion: Sendable, Equatable {
    /// A NumericDate claim: absent, a date, or something else (refused).
    enum DateClaim: Sendable, Equatable {
        case absent, invalid
        case date(Date)

        var date: Date? { if case .date(let date) = self { date } else { nil } }
    }

    /// The assertion as sent.
    public let text: String
    let algorithm: JWSAlgorithm?
    let keyID: String?
    /// `iss`: the client id, unverified until the signature is.
    public let issuer: String?
    let subject: String?
    let audiences: [String]
    let expiresAt: DateClaim
    let issuedAt: DateClaim
    let notBefore: DateClaim
    let jwtID: String?
    let signingInput: [UInt8]
    let signature: Data

    /// Reads `text`; a JWS that cannot be read is refused here.
    public init(_ text: String) throws(CompactJWS.Malformed) {
        let jws = try CompactJWS(text)
        self.text = text
        algorithm = jws.algorithm
        keyID = jws.header["kid"] as? String
        issuer = jws.string("iss")
        subject = jws.string("sub")
        audiences = (jws.payload["aud"] as? [Any])?.compactMap { $0 as? String } ?? [jws.string("aud")].compactMap { $0 }
        func date(_ name: String) -> DateClaim {
            guard jws.payload[name] != nil else { return .absent }
            return jws.date(name).map(DateClaim.date) ?? .invalid
        }
        (expiresAt, issuedAt, notBefore) = (date("exp"), date("iat"), date("nbf"))
        jwtID = jws.string("jti")
        signingInput = jws.signingInput
        signature = jws.signature
    }

    /// Whether `key` signed it with its `alg`.
    func isSigned(by key: ClientJWK) -> Bool {
        guard let algorithm else { return false }
        return key.verifies(signature, of: signingInput, algorithm: algorithm)
    }
}
