import Crypto
import Foundation

/// Proof Key for Code Exchange (RFC 7636).
public enum PKCE {
    /// `code_challenge_method` values.
    public enum Method: String, Sendable, Codable {
        /// RFC 7636 §4.2: BASE64URL(SHA256(ASCII(code_verifier))).
        case s256 = "S256"
        /// The verifier itself; refused unless explicitly enabled.
        case plain
    }

    /// RFC 7636 §4.1: 43 to 128 characters of `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"`.
    public static func isValidVerifier(_ verifier: String) -> Bool {
        (43...128).contains(verifier.utf8.count) && verifier.utf8.allSatisfy(isUnreserved)
    }

    /// A challenge has the verifier's alphabet and length (an S256 challenge is 43 characters).
    public static func isValidChallenge(_ challenge: String, method: Method) -> Bool {
        switch method {
        case .s256: challenge.utf8.count == 43 && challenge.utf8.allSatisfy(isUnreserved)
        case .plain: isValidVerifier(challenge)
        }
    }

    /// Whether `verifier` answers `challenge`, compared in constant time.
    public static func verify(verifier: String, challenge: String, method: Method) -> Bool {
        guard isValidVerifier(verifier) else { return false }
        return ConstantTime.equals(Array(self.challenge(for: verifier, method: method).utf8), Array(challenge.utf8))
    }

    /// The challenge that `verifier` answers with `method`.
    public static func challenge(for verifier: String, method: Method = .s256) -> String {
        switch method {
        case .s256: Base64URL.encode(SHA256.hash(data: Data(verifier.utf8)))
        case .plain: verifier
        }
    }

    static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            true
        default: false
        }
    }
}
