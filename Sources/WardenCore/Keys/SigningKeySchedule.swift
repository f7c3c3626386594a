import Foundation

/// Which key signs, which are published and which may retire, at a given moment.
///
/// Resource servers cache the JWKS, so a new key is published before it signs
/// (the lead time), and an old key stays published until every token it signed
/// has expired.
public struct SigningKeySchedule: Sendable {
    /// The life cycle of one key.
    public enum State: String, Sendable, Codable {
        /// Published, not yet signing.
        case pending
        /// The key new tokens are signed with.
        case signing
        /// Superseded; published until its tokens have expired.
        case verifying
        /// Unpublished; its tokens are inactive.
        case retired
    }

    /// Every key, oldest first.
    public let keys: [SigningKeyRecord]
    public let now: Date

    /// A schedule over `keys`, which must be ordered oldest first.
    public init(keys: [SigningKeyRecord], now: Date) {
        self.keys = keys
        self.now = now
    }

    /// Keys that are published: not retired.
    public var published: [SigningKeyRecord] { keys.filter { !isRetired($0) } }

    /// The published key with the latest activation time that has come; on a tie
    /// (times are whole seconds) the one stored last, as `keys` is oldest first.
    public var signer: SigningKeyRecord? {
        published.filter { $0.activatesAt <= now }.reduce(nil) { best, key in
            best.map { key.activatesAt >= $0.activatesAt ? key : $0 } ?? key
        }
    }

    /// The state of `key` now.
    public func state(of key: SigningKeyRecord) -> State {
        if isRetired(key) { return .retired }
        if key.kid == signer?.kid { return .signing }
        return key.activatesAt > now ? .pending : .verifying
    }

    /// Superseded keys whose last token has expired: the current signer took over more
    /// than `tokenLifetime` (plus a minute of clock skew) ago.
    public func keysDueForRetirement(tokenLifetime: TimeInterval) -> [SigningKeyRecord] {
        guard let signer else { return [] }
        let cutoff = signer.activatesAt.addingTimeInterval(tokenLifetime + 60)
        guard now >= cutoff else { return [] }
        return published.filter { $0.kid != signer.kid && $0.activatesAt <= signer.activatesAt }
    }

    /// Whether an automatic rotation is due: the newest key is older than `interval`.
    public func isRotationDue(interval: TimeInterval) -> Bool {
        guard let newest = published.max(by: { $0.createdAt < $1.createdAt }) else { return true }
        return now.timeIntervalSince(newest.createdAt) >= interval
    }

    private func isRetired(_ key: SigningKeyRecord) -> Bool {
        key.retiredAt.map { $0 <= now } ?? false
    }
}
