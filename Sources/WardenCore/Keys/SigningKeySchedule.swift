import Foundation

/// Which key signs, which are published and which may retire, at a given moment: one
/// staged-rotation ring per algorithm (access tokens sign with one algorithm, each
/// client's ID tokens with the one it registered; every ring is in the JWKS).
///
/// Resource servers cache the JWKS, so a new key is published before it signs
/// (the lead time), and an old key stays published until every token it signed
/// has expired.
public struct SigningKeySchedule: Sendable {
    /// The life cycle of one key.
    public enum State: String, Sendable, Codable, CaseIterable {
        /// Published, not yet signing.
        case pending
        /// The key new tokens of its algorithm are signed with.
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

    /// The algorithms that have a published key.
    public var algorithms: [SigningAlgorithm] {
        SigningAlgorithm.allCases.filter { algorithm in published.contains { $0.algorithm == algorithm } }
    }

    /// The published key of `algorithm` with the latest activation time that has come;
    /// on a tie (times are whole seconds) the one stored last, as `keys` is oldest first.
    public func signer(for algorithm: SigningAlgorithm) -> SigningKeyRecord? {
        published.filter { $0.algorithm == algorithm && $0.activatesAt <= now }.reduce(nil) { best, key in
            best.map { key.activatesAt >= $0.activatesAt ? key : $0 } ?? key
        }
    }

    /// The state of `key` now.
    public func state(of key: SigningKeyRecord) -> State {
        if isRetired(key) { return .retired }
        if key.kid == signer(for: key.algorithm)?.kid { return .signing }
        return key.activatesAt > now ? .pending : .verifying
    }

    /// Superseded keys whose last token has expired: their algorithm's signer took over
    /// more than `tokenLifetime` (plus a minute of clock skew) ago.
    public func keysDueForRetirement(tokenLifetime: TimeInterval) -> [SigningKeyRecord] {
        algorithms.flatMap { algorithm -> [SigningKeyRecord] in
            guard let signer = signer(for: algorithm), now >= signer.activatesAt.addingTimeInterval(tokenLifetime + 60) else { return [] }
            return published.filter { $0.algorithm == algorithm && $0.kid != signer.kid && $0.activatesAt <= signer.activatesAt }
        }
    }

    /// Whether an automatic rotation of `algorithm` is due: its newest key is older than `interval`.
    public func isRotationDue(interval: TimeInterval, algorithm: SigningAlgorithm) -> Bool {
        guard let newest = published.filter({ $0.algorithm == algorithm }).max(by: { $0.createdAt < $1.createdAt }) else { return true }
        return now.timeIntervalSince(newest.createdAt) >= interval
    }

    private func isRetired(_ key: SigningKeyRecord) -> Bool {
        key.retiredAt.map { $0 <= now } ?? false
    }
}
