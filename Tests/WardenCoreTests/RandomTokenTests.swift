import Foundation
import Testing
import WardenCore

@Suite("Random identifiers")
struct RandomTokenTests {
    @Test("time-ordered ids sort by time to the millisecond, and differ at the same instant")
    func timeOrdered() {
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let times = [0.0, 0.0015, 0.0025, 1, 86_400, 86_400 * 365 * 50].map { start.addingTimeInterval($0) }
        let ids = times.map(RandomToken.timeOrderedIdentifier(at:))
        #expect(ids == ids.sorted())
        #expect(ids.allSatisfy { $0.count == 32 && $0.allSatisfy { "0123456789abcdef".contains($0) } })
        let sameInstant = (0..<100).map { _ in RandomToken.timeOrderedIdentifier(at: start) }
        #expect(Set(sameInstant).count == 100)
        #expect(sameInstant.allSatisfy { $0.prefix(12) == ids[0].prefix(12) })
    }
}
