import Foundation
import GRDB
import WardenCore
import WardenMigrations

extension SQLiteStore: UserRepository {
    public func user(username: String) async throws -> User? {
        try await pool.read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM users WHERE username = ?"), arguments: [username]).map(Self.user(from:))
        }
    }

    public func user(id: String) async throws -> User? {
        try await pool.read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM users WHERE id = ?"), arguments: [id]).map(Self.user(from:))
        }
    }

    public func allUsers() async throws -> [User] {
        try await pool.read { db in try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM users ORDER BY username")).map(Self.user(from:)) }
    }

    public func insert(_ user: User) async throws {
        try await write { db in
            try db.executeCached(
                sql: "INSERT INTO users (id, username, password_hash, created_at) VALUES (?, ?, ?, ?)",
                arguments: [user.id, user.username, user.passwordHash, user.createdAt.unixSeconds])
        }
    }

    public func updatePasswordHash(username: String, hash: String, at now: Date) async throws -> Bool {
        try await write { db in
            guard let id = try String.fetchOne(db, sql: "SELECT id FROM users WHERE username = ?", arguments: [username]) else { return false }
            try db.execute(sql: "UPDATE users SET password_hash = ? WHERE id = ?", arguments: [hash, id])
            try db.execute(sql: "DELETE FROM sessions WHERE user_id = ?", arguments: [id])
            try db.execute(
                sql: "UPDATE grants SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL", arguments: [now.unixSeconds, id])
            return true
        }
    }

    public func delete(username: String) async throws -> Bool {
        try await write { db in
            try db.executeCached(sql: "DELETE FROM users WHERE username = ?", arguments: [username])
            return db.changesCount == 1
        }
    }

    static func user(from row: Row) -> User {
        User(id: row["id"], username: row["username"], passwordHash: row["password_hash"], createdAt: Date(unixSeconds: row["created_at"]))
    }
}
