import Foundation
import Testing
import WardenCore
import WardenServer

/// The CLI's security events wait in the store for a server to log them: every backend
/// keeps them in order, hands each out once, and even to takers at once, exactly once.
@Suite("Audit events storage")
struct AuditLogStoreTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test("events come back oldest first with their fields, once", arguments: Backend.allCases)
    func takenInOrderOnce(_ backend: Backend) async throws {
        try await withTemporaryStore(backend) { store in
            #expect(try await store.takeAuditEvents(limit: 10).isEmpty)
            let events = (0..<5).map { index in
                AuditEvent(name: "client_created", fields: ["client_id": "c\(index)", "note": "ü \"quoted\""], occurredAt: now.addingTimeInterval(Double(index)))
            }
            for event in events.reversed() { try await store.recordAuditEvent(event) }
            #expect(try await store.takeAuditEvents(limit: 3) == Array(events.prefix(3)))
            #expect(try await store.takeAuditEvents(limit: 10) == Array(events.suffix(2)))
            #expect(try await store.takeAuditEvents(limit: 10).isEmpty)
        }
    }

    @Test("takers at once share the events without a duplicate or a loss", arguments: Backend.allCases)
    func concurrentTakers(_ backend: Backend) async throws {
        try await withTemporaryStore(backend) { store in
            for index in 0..<60 {
                try await store.recordAuditEvent(AuditEvent(name: "user_created", fields: ["sub": "u\(index)"], occurredAt: now))
            }
            let taken = try await withThrowingTaskGroup(of: [AuditEvent].self) { group in
                for _ in 0..<4 { group.addTask { try await store.takeAuditEvents(limit: 7) + store.takeAuditEvents(limit: 7) } }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            let rest = try await store.takeAuditEvents(limit: 100)
            let subjects = (taken + rest).compactMap { $0.fields["sub"] }
            #expect(subjects.count == 60 && Set(subjects).count == 60)
        }
    }
}
