import Foundation
import GRDB
import WardenCore
import WardenMigrations

extension SQLiteStore {
    public func recordAuditEvent(_ event: AuditEvent) async throws {
        let fields = try StoredForm.json(event.fields)
        try await write { db in
            try db.executeCached(
                sql: "INSERT INTO audit_events (id, name, fields, occurred_at) VALUES (?, ?, ?, ?)",
                arguments: [RandomToken.identifier(byteCount: 12), event.name, fields, event.occurredAt.unixSeconds])
        }
    }

    public func takeAuditEvents(limit: Int) async throws -> [AuditEvent] {
        let rows = try await write { db in
            try Row.fetchAll(
                db,
                sql: """
                    DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events ORDER BY occurred_at, rowid LIMIT ?)
                    RETURNING name, fields, occurred_at, rowid
                    """,
                arguments: [limit]
            ).map { (name: $0[0] as String, fields: $0[1] as String, occurredAt: $0[2] as Int64, order: $0[3] as Int64) }
        }
        return try rows.sorted { ($0.occurredAt, $0.order) < ($1.occurredAt, $1.order) }.map {
            AuditEvent(name: $0.name, fields: try StoredForm.fields($0.fields), occurredAt: Date(unixSeconds: $0.occurredAt))
        }
    }
}
