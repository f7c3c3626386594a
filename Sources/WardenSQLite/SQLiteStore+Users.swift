import Foundation
import GRDB
import WardenCore
import WardenMigrations

extension SQLiteStore: UserRepository {
    public func user(username: String) async throws -> User? {
        try await read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM users WHERE username = ?"), arguments: [username]).map(Self.user(from:))
        }
    }

    public func user(id: String) async throws -> User? {
        try await read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM users WHERE id = ?"), arguments: [id]).map(Self.user(from:))
        }
    }

    public func allUsers() async throws -> [User] {
        try await read { db in try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM users ORDER BY username")).map(Self.user(from:)) }
    }

    public func insert(_ user: User) async throws {
        try await write { db in
            try db.executeCached(
                sql: """
                    INSERT INTO users (id, username, password_hash, created_at, name, given_name, family_name, email,
                        email_verified, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: StatementArguments([user.id, user.username, user.passwordHash, user.createdAt.unixSeconds] + Self.arguments(user.profile)))
        }
    }

    public func updatePasswordHash(username: String, hash: String, at now: Date) async throws -> Bool {
        try await write { db in
            guard let id = try String.fetchOne(db, sql: "SELECT id FROM users WHERE username = ?", arguments: [username]) else { return false }
            try db.execute(sql: "UPDATE users SET password_hash = ? WHERE id = ?", arguments: [hash, id])
            _ = try Self.endSessions(.user(id: id), at: now, in: db)
            try db.execute(
                sql: "UPDATE grants SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL", arguments: [now.unixSeconds, id])
            return true
        }
    }

    public func updateProfile(username: String, _ profile: UserProfile) async throws -> Bool {
        try await write { db in
            try db.execute(
                sql: """
                    UPDATE users SET name = ?, given_name = ?, family_name = ?, email = ?, email_verified = ?, updated_at = ?
                    WHERE username = ?
                    """,
                arguments: StatementArguments(Self.arguments(profile)) + [username])
            return db.changesCount == 1
        }
    }

    public func delete(username: String) async throws -> Bool {
        try await write { db in
            guard let id = try String.fetchOne(db, sql: "SELECT id FROM users WHERE username = ?", arguments: [username]) else { return false }
            _ = try Self.endSessions(.user(id: id), at: Date(), in: db)
            try db.executeCached(sql: "DELETE FROM users WHERE id = ?", arguments: [id])
            return db.changesCount == 1
        }
    }

    public func userAndClaimsRequest(grantID: String) async throws -> (User, String?)? {
        try await read { db in
            try Row.fetchOne(
                db.cachedStatement(sql: "SELECT u.*, g.claims AS grant_claims FROM grants g JOIN users u ON u.id = g.user_id WHERE g.id = ?"),
                arguments: [grantID]
            ).map { (Self.user(from: $0), $0["grant_claims"]) }
        }
    }

    static func arguments(_ profile: UserProfile) -> [(any DatabaseValueConvertible)?] {
        [profile.name, profile.givenName, profile.familyName, profile.email, profile.emailVerified, profile.updatedAt.unixSeconds]
    }

    static func user(from row: Row) -> User {
        User(
            id: row["id"], username: row["username"], passwordHash: row["password_hash"], createdAt: Date(unixSeconds: row["created_at"]),
            profile: UserProfile(
                name: row["name"], givenName: row["given_name"], familyName: row["family_name"], email: row["email"],
                emailVerified: row["email_verified"], updatedAt: Date(unixSeconds: row["updated_at"])))
    }
}
