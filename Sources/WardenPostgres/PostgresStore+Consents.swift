import Foundation
import PostgresNIO
import WardenCore
import WardenMigrations

extension PostgresStore: ConsentRepository {
    public func consentedScope(userID: String, clientID: String) async throws -> Scope? {
        let rows = try await query("SELECT scope FROM consents WHERE user_id = \(userID) AND client_id = \(clientID)")
        for try await scope in rows.decode(String.self) { return StoredForm.scope(scope) }
        return nil
    }

    public func rememberConsent(userID: String, clientID: String, scope: Scope, at now: Date) async throws {
        try await transaction { [self] connection in
            // Locks the row (when there is one), so that two consents at once both count.
            let rows = try await connection.query(
                "SELECT scope FROM consents WHERE user_id = \(userID) AND client_id = \(clientID) FOR UPDATE", logger: logger)
            var previous: [String] = []
            for try await text in rows.decode(String.self) { previous = StoredForm.scope(text).tokens }
            let merged = Scope(tokens: previous + scope.tokens)
            try await connection.query(
                """
                INSERT INTO consents (user_id, client_id, scope, granted_at)
                VALUES (\(userID), \(clientID), \(merged.description), \(now.unixSeconds))
                ON CONFLICT (user_id, client_id) DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at
                """, logger: logger)
        }
    }
}
