import Foundation

/// A security event that happened outside a request (OPERATIONS.md): an administrator's
/// command (`client_created`, `key_retired`...). The CLI stores it and a running server
/// logs it, so that it reaches the same log pipeline as the requests' events, and the
/// CLI's standard output stays its results.
public struct AuditEvent: Sendable, Equatable {
    /// The event's name: `client_created`, `user_deleted`...
    public var name: String
    /// `client_id`, `username`, `sub`, `kid`, `sid`...; never a secret.
    public var fields: [String: String]
    public var occurredAt: Date

    public init(name: String, fields: [String: String], occurredAt: Date) {
        self.name = name
        self.fields = fields
        self.occurredAt = occurredAt
    }
}

/// Where audit events wait for a server to log them.
public protocol AuditLog: Sendable {
    /// Keeps `event` until a server takes it.
    func recordAuditEvent(_ event: AuditEvent) async throws
    /// Removes and returns up to `limit` events, oldest first; of several instances
    /// taking at once, each event goes to exactly one.
    func takeAuditEvents(limit: Int) async throws -> [AuditEvent]
}
