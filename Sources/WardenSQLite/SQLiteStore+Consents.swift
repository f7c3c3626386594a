import Foundation
import GRDB
import WardenCore
import WardenMigrations

extension SQLiteStore: ConsentRepository {
    public func consentedScope(userID: String, clientID: String) async throws -> Scope? {
        try await read { db in
            try String.fetchOne(
                db.cachedStatement(sql: "SELECT scope FROM consents WHERE user_id = ? AND client_id = ?"), arguments: [userID, clientID]
            ).map(StoredForm.scope)
        }
    }

    public func rememberConsent(userID: String, clientID: String, scope: Scope, at now: Date) async throws {
        try await write { db in
            let previous = try String.fetchOne(
                db.cachedStatement(sql: "SELECT scope FROM consents WHERE user_id = ? AND client_id = ?"), arguments: [userID, clientID]
            ).map(StoredForm.scope)
            let merged = Scope(tokens: (previous?.tokens ?? []) + scope.tokens)
            try db.executeCached(
                sql: """
                    INSERT INTO consents (user_id, client_id, scope, granted_at) VALUES (?, ?, ?, ?)
                    ON CONFLICT (user_id, client_id) DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at
                    """,
                arguments: [userID, clientID, merged.description, now.unixSeconds])
        }
    }
}
