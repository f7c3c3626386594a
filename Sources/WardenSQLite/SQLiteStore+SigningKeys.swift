import Foundation
import GRDB
import WardenCore
import WardenMigrations

extension SQLiteStore: SigningKeyRepository {
    public func allSigningKeys() async throws -> [SigningKeyRecord] {
        try await read { db in
            try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM signing_keys ORDER BY rowid")).map { row in
                let algorithm: String = row["algorithm"]
                let retiredAt: Int64? = row["retired_at"]
                return SigningKeyRecord(
                    kid: row["kid"], algorithm: SigningAlgorithm(rawValue: algorithm) ?? .es256,
                    publicJWK: row["public_jwk"], encryptedPrivateKey: row["encrypted_private_key"],
                    createdAt: Date(unixSeconds: row["created_at"]), activatesAt: Date(unixSeconds: row["activates_at"]),
                    retiredAt: retiredAt.map(Date.init(unixSeconds:))
                )
            }
        }
    }

    public func insert(_ key: SigningKeyRecord) async throws {
        try await write { db in
            try db.executeCached(
                sql: """
                    INSERT INTO signing_keys (kid, algorithm, public_jwk, encrypted_private_key, created_at, activates_at, retired_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    key.kid, key.algorithm.rawValue, key.publicJWK, key.encryptedPrivateKey, key.createdAt.unixSeconds,
                    key.activatesAt.unixSeconds, key.retiredAt?.unixSeconds,
                ]
            )
        }
    }

    public func retireSigningKey(kid: String, at date: Date) async throws -> Bool {
        try await write { db in
            try db.executeCached(
                sql: "UPDATE signing_keys SET retired_at = ? WHERE kid = ? AND retired_at IS NULL",
                arguments: [date.unixSeconds, kid]
            )
            return db.changesCount == 1
        }
    }
}
