import Crypto
import Foundation

/// The cookie of a browser that has not signed in yet: it carries the login form's
/// anti-CSRF token, signed and short-lived, so that nothing is stored for anonymous
/// visitors (SECURITY.md: unauthenticated requests write nothing durable). The MAC key
/// is derived from the key-encryption key, so every instance accepts every other's.
///
/// The value is `<expiry>.<csrf token>.<HMAC-SHA-256 of both, base64url>`.
public struct PreLoginCookies: Sendable {
    let key: SymmetricKey
    let clock: any WardenClock
    /// How long a login form may wait to be posted.
    let lifetime: TimeInterval

    public init(key: [UInt8], clock: any WardenClock, lifetime: TimeInterval = 3600) {
        self.key = SymmetricKey(data: key)
        self.clock = clock
        self.lifetime = lifetime
    }

    /// A new cookie value and the CSRF token it carries.
    public func issue() -> (value: String, csrfToken: String) {
        let csrf = RandomToken.make(byteCount: 32)
        let signed = "\(Int64(clock.now().addingTimeInterval(lifetime).timeIntervalSince1970)).\(csrf)"
        return (signed + "." + mac(signed), csrf)
    }

    /// The CSRF token `value` carries when it is genuine and unexpired; else nil.
    public func csrfToken(from value: String?) -> String? {
        guard let value, value.utf8.count <= 200 else { return nil }
        let parts = value.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let expiry = Int64(parts[0]) else { return nil }
        let signed = "\(parts[0]).\(parts[1])"
        guard ConstantTime.equals(Array(mac(signed).utf8), Array(parts[2].utf8)),
            clock.now().timeIntervalSince1970 < TimeInterval(expiry)
        else { return nil }
        return String(parts[1])
    }

    private func mac(_ text: String) -> String {
        Base64URL.encode(HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: key))
    }
}
