import Crypto
import Foundation

/// DPoP nonces (RFC 9449 §8) that every instance issues and accepts alike, with no write
/// per request: an HMAC of the current 30-second step under a secret kept in the
/// database. The current step is issued and the steps either side accepted, so a nonce
/// lives 30–60 s, and a little clock skew between instances does no harm.
public struct DPoPNonces: Sendable {
    let key: SymmetricKey
    static let step: TimeInterval = 30

    /// `secret`: 32 bytes shared by the instances.
    public init(secret: [UInt8]) { key = SymmetricKey(data: secret) }

    /// The nonce to hand out at `now`.
    public func nonce(at now: Date) -> String { Base64URL.encode(code(step: Self.stepNumber(now))) }

    /// Whether `nonce` is one handed out in the current step or the one either side.
    public func accepts(_ nonce: String, at now: Date) -> Bool {
        guard let bytes = Base64URL.decodeCanonical(nonce) else { return false }
        let current = Self.stepNumber(now)
        var accepted = false
        for step in current - 1...current + 1 where ConstantTime.equals(code(step: step), Array(bytes)) { accepted = true }
        return accepted
    }

    static func stepNumber(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 / step).rounded(.down)) }

    func code(step: Int64) -> [UInt8] {
        var message = Array("warden-dpop-nonce".utf8)
        withUnsafeBytes(of: step.bigEndian) { message.append(contentsOf: $0) }
        return Array(HMAC<SHA256>.authenticationCode(for: message, using: key))
    }
}
