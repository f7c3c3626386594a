import Foundation
import PostgresNIO
import WardenCore
import WardenMigrations

extension PostgresStore: SigningKeyRepository {
    public func allSigningKeys() async throws -> [SigningKeyRecord] {
        let rows = try await query(
            """
            SELECT kid, algorithm, public_jwk, encrypted_private_key, created_at, activates_at, retired_at
            FROM signing_keys ORDER BY position
            """)
        var keys: [SigningKeyRecord] = []
        for try await (kid, algorithm, jwk, privateKey, createdAt, activatesAt, retiredAt) in rows.decode(
            (String, String, String, ByteBuffer, Int64, Int64, Int64?).self)
        {
            keys.append(
                SigningKeyRecord(
                    kid: kid, algorithm: SigningAlgorithm(rawValue: algorithm) ?? .es256, publicJWK: jwk,
                    encryptedPrivateKey: Data(privateKey.readableBytesView), createdAt: Date(unixSeconds: createdAt),
                    activatesAt: Date(unixSeconds: activatesAt), retiredAt: retiredAt.map(Date.init(unixSeconds:))))
        }
        return keys
    }

    public func insert(_ key: SigningKeyRecord) async throws {
        try await query(
            """
            INSERT INTO signing_keys (kid, algorithm, public_jwk, encrypted_private_key, created_at, activates_at, retired_at)
            VALUES (\(key.kid), \(key.algorithm.rawValue), \(key.publicJWK), \(ByteBuffer(bytes: key.encryptedPrivateKey)),
                \(key.createdAt.unixSeconds), \(key.activatesAt.unixSeconds), \(key.retiredAt?.unixSeconds))
            """)
    }

    public func retireSigningKey(kid: String, at date: Date) async throws -> Bool {
        try await returnsRow(
            query("UPDATE signing_keys SET retired_at = \(date.unixSeconds) WHERE kid = \(kid) AND retired_at IS NULL RETURNING 1"))
    }
}
