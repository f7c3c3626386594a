import Foundation
import WardenCore

extension AuditLog {
    /// Records that the operator did `name` (OPERATIONS.md's security events), right after
    /// the change, for a running server to log; standard output stays the command's result.
    func audit(_ name: String, _ fields: [String: String]) async throws {
        try await recordAuditEvent(AuditEvent(name: name, fields: fields, occurredAt: Date()))
    }
}
