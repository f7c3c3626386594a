import Foundation
import PostgresNIO
import WardenCore
import WardenMigrations

extension PostgresStore: UserRepository {
    public func user(username: String) async throws -> User? {
        try await users(query("SELECT id, username, password_hash, created_at FROM users WHERE username = \(username)")).first
    }

    public func user(id: String) async throws -> User? {
        try await users(query("SELECT id, username, password_hash, created_at FROM users WHERE id = \(id)")).first
    }

    public func allUsers() async throws -> [User] {
        try await users(query("SELECT id, username, password_hash, created_at FROM users ORDER BY username"))
    }

    public func insert(_ user: User) async throws {
        try await query(
            """
            INSERT INTO users (id, username, password_hash, created_at)
            VALUES (\(user.id), \(user.username), \(user.passwordHash), \(user.createdAt.unixSeconds))
            """)
    }

    public func updatePasswordHash(username: String, hash: String, at now: Date) async throws -> Bool {
        try await transaction { connection in
            let rows = try await connection.query(
                "UPDATE users SET password_hash = \(hash) WHERE username = \(username) RETURNING id", logger: logger)
            var updated: String?
            for try await id in rows.decode(String.self) { updated = id }
            guard let id = updated else { return false }
            try await connection.query("DELETE FROM sessions WHERE user_id = \(id)", logger: logger)
            try await connection.query(
                "UPDATE grants SET revoked_at = \(now.unixSeconds) WHERE user_id = \(id) AND revoked_at IS NULL", logger: logger)
            return true
        }
    }

    public func delete(username: String) async throws -> Bool {
        try await returnsRow(query("DELETE FROM users WHERE username = \(username) RETURNING 1"))
    }

    private func users(_ rows: PostgresRowSequence) async throws -> [User] {
        var users: [User] = []
        for try await (id, username, hash, createdAt) in rows.decode((String, String, String, Int64).self) {
            users.append(User(id: id, username: username, passwordHash: hash, createdAt: Date(unixSeconds: createdAt)))
        }
        return users
    }
}
