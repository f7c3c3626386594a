import Foundation
import Synchronization

/// Access tokens already verified and found live, so that introspecting the same
/// token again (what resource servers do) costs no signature check and no query.
/// An entry holds only while the store's client, revocation and signing-key
/// generations are those it was checked under, so a revocation shows at once;
/// and only until the token or its grant expires. Entries are keyed by the token's
/// SHA-256 digest, not the token, so that a full cache stays a few megabytes.
final class IntrospectionCache: Sendable {
    struct Entry: Sendable {
        let claims: AccessTokenClaims
        /// The earlier of the token's `exp` and its grant's end.
        let liveUntil: Date
        let generations: ChangeGenerations
    }

    private let capacity: Int
    private let entries = Mutex<[[UInt8]: Entry]>([:])

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// The claims of `token` if it was found live under `generations` and is still before its end.
    func claims(ofTokenWithDigest digest: [UInt8], generations: ChangeGenerations, now: Date) -> AccessTokenClaims? {
        entries.withLock { entries in
            guard let entry = entries[digest] else { return nil }
            guard entry.generations == generations, now < entry.liveUntil else {
                entries[digest] = nil
                return nil
            }
            return entry.claims
        }
    }

    func remember(tokenWithDigest digest: [UInt8], _ entry: Entry) {
        entries.withLock { entries in
            // A full cache starts again rather than tracking recency: entries are cheap to rebuild.
            if entries.count >= capacity { entries.removeAll() }
            entries[digest] = entry
        }
    }
}
