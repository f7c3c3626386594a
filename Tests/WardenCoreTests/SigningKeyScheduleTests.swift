import Foundation
import Testing
import WardenCore

@Suite("Signing key schedule")
struct SigningKeyScheduleTests {
    func key(_ kid: String, created: TimeInterval, activates: TimeInterval, retired: TimeInterval? = nil) -> SigningKeyRecord {
        SigningKeyRecord(
            kid: kid, algorithm: .es256, publicJWK: "{}", encryptedPrivateKey: Data(),
            createdAt: Date(timeIntervalSince1970: created), activatesAt: Date(timeIntervalSince1970: activates),
            retiredAt: retired.map(Date.init(timeIntervalSince1970:)))
    }

    @Test("a rotated key is published at once but signs only after its lead time")
    func leadTime() {
        let keys = [key("old", created: 0, activates: 0), key("new", created: 1000, activates: 1600)]
        let before = SigningKeySchedule(keys: keys, now: Date(timeIntervalSince1970: 1200))
        #expect(before.signer(for: .es256)?.kid == "old")
        #expect(before.published.map(\.kid) == ["old", "new"])
        #expect(before.state(of: keys[1]) == .pending)
        let after = SigningKeySchedule(keys: keys, now: Date(timeIntervalSince1970: 1600))
        #expect(after.signer(for: .es256)?.kid == "new")
        #expect(after.state(of: keys[0]) == .verifying)
    }

    @Test("an old key retires only once every token it signed has expired")
    func retirement() {
        let keys = [key("old", created: 0, activates: 0), key("new", created: 1000, activates: 1000)]
        let lifetime: TimeInterval = 3600
        #expect(SigningKeySchedule(keys: keys, now: Date(timeIntervalSince1970: 1000 + lifetime)).keysDueForRetirement(tokenLifetime: lifetime).isEmpty)
        #expect(SigningKeySchedule(keys: keys, now: Date(timeIntervalSince1970: 1000 + lifetime + 61)).keysDueForRetirement(tokenLifetime: lifetime).map(\.kid) == ["old"])
    }

    @Test("a pending key is never due for retirement")
    func pendingStays() {
        let keys = [key("old", created: 0, activates: 0), key("next", created: 10, activates: 999_999)]
        #expect(SigningKeySchedule(keys: keys, now: Date(timeIntervalSince1970: 90_000)).keysDueForRetirement(tokenLifetime: 60).isEmpty)
    }

    @Test("retired keys are neither published nor signing")
    func retired() {
        let keys = [key("a", created: 0, activates: 0, retired: 50)]
        let schedule = SigningKeySchedule(keys: keys, now: Date(timeIntervalSince1970: 100))
        #expect(schedule.published.isEmpty)
        #expect(schedule.signer(for: .es256) == nil)
        #expect(schedule.state(of: keys[0]) == .retired)
    }

    @Test("automatic rotation is due when the newest key is older than the interval")
    func rotationDue() {
        let keys = [key("a", created: 0, activates: 0)]
        #expect(!SigningKeySchedule(keys: keys, now: Date(timeIntervalSince1970: 86_399)).isRotationDue(interval: 86_400, algorithm: .es256))
        #expect(SigningKeySchedule(keys: keys, now: Date(timeIntervalSince1970: 86_400)).isRotationDue(interval: 86_400, algorithm: .es256))
    }
}

extension SigningKeyScheduleTests {
    @Test("each algorithm is its own ring: a newer key of another algorithm supersedes nothing")
    func ringsPerAlgorithm() {
        var rsa = key("rsa", created: 100, activates: 100)
        rsa.algorithm = .rs256
        let keys = [key("ec", created: 0, activates: 0), rsa]
        let schedule = SigningKeySchedule(keys: keys, now: Date(timeIntervalSince1970: 999_999))
        #expect(schedule.signer(for: .es256)?.kid == "ec")
        #expect(schedule.signer(for: .rs256)?.kid == "rsa")
        #expect(schedule.signer(for: .edDSA) == nil)
        #expect(schedule.state(of: keys[0]) == .signing && schedule.state(of: rsa) == .signing)
        #expect(schedule.keysDueForRetirement(tokenLifetime: 60).isEmpty)
        #expect(schedule.isRotationDue(interval: 86_400, algorithm: .edDSA))
    }
}

@Suite("Signing key schedule ties")
struct SigningKeyScheduleTieTests {
    @Test("of keys activated in the same second, the one stored last signs")
    func tie() {
        let keys = ["a", "b", "c"].map {
            SigningKeyRecord(kid: $0, algorithm: .es256, publicJWK: "{}", encryptedPrivateKey: Data(), createdAt: Date(timeIntervalSince1970: 5), activatesAt: Date(timeIntervalSince1970: 5))
        }
        #expect(SigningKeySchedule(keys: keys, now: Date(timeIntervalSince1970: 5)).signer(for: .es256)?.kid == "c")
    }
}
