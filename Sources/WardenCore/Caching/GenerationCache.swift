import Foundation
import Synchronization

/// Answers worth remembering while nothing that could change them has changed: an
/// entry holds only while the store's client, revocation and signing-key generations
/// are those it was found under, so a revocation shows at once, and only until its own
/// end. Introspection keeps live access tokens here (what resource servers ask again
/// and again costs no signature check and no query), keyed by the token's SHA-256
/// digest so that a full cache stays a few megabytes; UserInfo keeps the user of a grant.
final class GenerationCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    struct Entry: Sendable {
        let value: Value
        let until: Date
        let generations: ChangeGenerations
    }

    private let capacity: Int
    private let entries = Mutex<[Key: Entry]>([:])

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// The value remembered for `key` under `generations`, while `now` is before its end.
    func value(for key: Key, generations: ChangeGenerations, now: Date) -> Value? {
        entries.withLock { entries in
            guard let entry = entries[key] else { return nil }
            guard entry.generations == generations, now < entry.until else {
                entries[key] = nil
                return nil
            }
            return entry.value
        }
    }

    func remember(_ value: Value, for key: Key, until: Date, generations: ChangeGenerations) {
        entries.withLock { entries in
            // A full cache starts again rather than tracking recency: entries are cheap to rebuild.
            if entries.count >= capacity { entries.removeAll() }
            entries[key] = Entry(value: value, until: until, generations: generations)
        }
    }
}
