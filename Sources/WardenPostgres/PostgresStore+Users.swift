import Foundation
import PostgresNIO
import WardenCore
import WardenMigrations

extension PostgresStore: UserRepository {
    static let userColumns =
        "id, username, password_hash, created_at, name, given_name, family_name, email, email_verified, updated_at"

    public func user(username: String) async throws -> User? {
        try await users(query("SELECT \(unescaped: Self.userColumns) FROM users WHERE username = \(username)")).first
    }

    public func user(id: String) async throws -> User? {
        try await users(query("SELECT \(unescaped: Self.userColumns) FROM users WHERE id = \(id)")).first
    }

    public func allUsers() async throws -> [User] {
        try await users(query("SELECT \(unescaped: Self.userColumns) FROM users ORDER BY username"))
    }

    public func insert(_ user: User) async throws {
        let profile = user.profile
        try await query(
            """
            INSERT INTO users (\(unescaped: Self.userColumns))
            VALUES (\(user.id), \(user.username), \(user.passwordHash), \(user.createdAt.unixSeconds), \(profile.name),
                \(profile.givenName), \(profile.familyName), \(profile.email), \(profile.emailVerified), \(profile.updatedAt.unixSeconds))
            """)
    }

    public func updateProfile(username: String, _ profile: UserProfile) async throws -> Bool {
        try await returnsRow(
            query(
                """
                UPDATE users SET name = \(profile.name), given_name = \(profile.givenName), family_name = \(profile.familyName),
                    email = \(profile.email), email_verified = \(profile.emailVerified), updated_at = \(profile.updatedAt.unixSeconds)
                WHERE username = \(username) RETURNING 1
                """))
    }

    public func updatePasswordHash(username: String, hash: String, at now: Date) async throws -> Bool {
        try await transaction { [self] connection in
            let rows = try await connection.query(
                "UPDATE users SET password_hash = \(hash) WHERE username = \(username) RETURNING id", logger: logger)
            var updated: String?
            for try await id in rows.decode(String.self) { updated = id }
            guard let id = updated else { return false }
            _ = try await endSessions(.user(id: id), at: now, on: connection)
            try await connection.query(
                "UPDATE grants SET revoked_at = \(now.unixSeconds) WHERE user_id = \(id) AND revoked_at IS NULL", logger: logger)
            return true
        }
    }

    public func delete(username: String) async throws -> Bool {
        try await transaction { [self] connection in
            let rows = try await connection.query("SELECT id FROM users WHERE username = \(username) FOR UPDATE", logger: logger)
            var found: String?
            for try await id in rows.decode(String.self) { found = id }
            guard let id = found else { return false }
            _ = try await endSessions(.user(id: id), at: Date(), on: connection)
            try await connection.query("DELETE FROM users WHERE id = \(id)", logger: logger)
            return true
        }
    }

    public func userAndClaimsRequest(grantID: String) async throws -> (User, String?)? {
        let columns = Self.userColumns.split(separator: ",").map { "u." + $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        let rows = try await query(
            """
            SELECT \(unescaped: columns.joined(separator: ", ")), g.claims FROM grants g JOIN users u ON u.id = g.user_id
            WHERE g.id = \(grantID)
            """)
        var found: (User, String?)?
        for try await row in rows {
            found = (try Self.user(row), try row.makeRandomAccess()[10].decode(String?.self))
        }
        return found
    }

    private func users(_ rows: PostgresRowSequence) async throws -> [User] {
        var users: [User] = []
        for try await row in rows { users.append(try Self.user(row)) }
        return users
    }

    /// The user in `userColumns`, the row's first columns.
    static func user(_ row: PostgresRow) throws -> User {
        let cells = row.makeRandomAccess()
        return User(
            id: try cells[0].decode(String.self), username: try cells[1].decode(String.self), passwordHash: try cells[2].decode(String.self),
            createdAt: Date(unixSeconds: try cells[3].decode(Int64.self)),
            profile: UserProfile(
                name: try cells[4].decode(String?.self), givenName: try cells[5].decode(String?.self),
                familyName: try cells[6].decode(String?.self), email: try cells[7].decode(String?.self),
                emailVerified: try cells[8].decode(Bool.self), updatedAt: Date(unixSeconds: try cells[9].decode(Int64.self))))
    }
}
