import Foundation
import PostgresNIO
import WardenCore
import WardenMigrations

extension PostgresStore {
    public func recordAuditEvent(_ event: AuditEvent) async throws {
        let fields = try StoredForm.json(event.fields)
        try await query(
            """
            INSERT INTO audit_events (id, name, fields, occurred_at)
            VALUES (\(RandomToken.identifier(byteCount: 12)), \(event.name), \(fields), \(event.occurredAt.unixSeconds))
            """)
    }

    public func takeAuditEvents(limit: Int) async throws -> [AuditEvent] {
        // SKIP LOCKED: instances taking at once get different events.
        let rows = try await query(
            """
            DELETE FROM audit_events WHERE id IN (
                SELECT id FROM audit_events ORDER BY occurred_at, id LIMIT \(limit) FOR UPDATE SKIP LOCKED)
            RETURNING name, fields, occurred_at, id
            """)
        var taken: [(event: AuditEvent, id: String)] = []
        for try await (name, fields, occurredAt, id) in rows.decode((String, String, Int64, String).self) {
            taken.append((AuditEvent(name: name, fields: try StoredForm.fields(fields), occurredAt: Date(unixSeconds: occurredAt)), id))
        }
        return taken.sorted { ($0.event.occurredAt, $0.id) < ($1.event.occurredAt, $1.id) }.map(\.event)
    }
}
