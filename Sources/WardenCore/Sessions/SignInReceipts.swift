import Crypto
import Foundation

/// Proof, carried by a short-lived cookie from the login form's redirect back to
/// `/authorize`, that the user just signed in for this very request: then `prompt=login`
/// and `max_age` are satisfied instead of asking again forever. It is an HMAC of the
/// session's `sid` and the request's query, so it fits no other session or request.
public struct SignInReceipts: Sendable {
    let key: SymmetricKey

    public init(key: [UInt8]) {
        self.key = SymmetricKey(data: key)
    }

    /// The receipt for signing in to `sid` for the authorization request `query`.
    public func receipt(sid: String, query: String) -> String {
        Base64URL.encode(HMAC<SHA256>.authenticationCode(for: Data("\(sid)\n\(query)".utf8), using: key))
    }

    /// Whether `value` is that receipt.
    public func accepts(_ value: String?, sid: String, query: String) -> Bool {
        guard let value else { return false }
        return ConstantTime.equals(Array(value.utf8), Array(receipt(sid: sid, query: query).utf8))
    }
}
