import Foundation
import PostgresNIO
import WardenCore
import WardenMigrations

extension PostgresStore: DeviceAuthorizationRepository {
    static let deviceColumns = """
        d.device_code_digest, d.user_code, d.client_id, d.scope, d.audiences, d.created_at, d.expires_at, d.poll_interval,
        d.last_polled_at, d.denied, d.redeemed_at
        """
    static let pendingCondition = "d.denied = FALSE AND d.grant_id IS NULL"

    public func insertDeviceAuthorization(_ record: DeviceAuthorizationRecord) async throws -> Bool {
        let audiences = try StoredForm.json(record.audience)
        return try await returnsRow(
            query(
                """
                INSERT INTO device_authorizations (device_code_digest, user_code, client_id, scope, audiences, created_at, expires_at,
                    poll_interval)
                VALUES (\(ByteBuffer(bytes: record.deviceCodeDigest)), \(record.userCode), \(record.clientID), \(record.scope.description),
                    \(audiences), \(record.createdAt.unixSeconds), \(record.expiresAt.unixSeconds), \(record.interval))
                ON CONFLICT (user_code) DO NOTHING RETURNING 1
                """))
    }

    public func pendingDeviceAuthorization(userCode: String, at now: Date) async throws -> DeviceAuthorizationRecord? {
        let rows = try await query(
            """
            SELECT \(unescaped: Self.deviceColumns) FROM device_authorizations d
            WHERE d.user_code = \(userCode) AND d.expires_at > \(now.unixSeconds) AND \(unescaped: Self.pendingCondition)
            """)
        for try await row in rows { return try Self.device(row, withGrant: false) }
        return nil
    }

    public func decideDeviceAuthorization(userCode: String, grant: GrantRecord?, at now: Date) async throws -> Bool {
        guard let grant else {
            return try await returnsRow(
                query(
                    """
                    UPDATE device_authorizations d SET denied = TRUE
                    WHERE d.user_code = \(userCode) AND d.expires_at > \(now.unixSeconds) AND \(unescaped: Self.pendingCondition) RETURNING 1
                    """))
        }
        let audiences = try StoredForm.json(grant.audience)
        // One statement: the grant exists only if the request was still pending (the
        // foreign key is checked at the statement's end, when both rows are there).
        return try await returnsRow(
            query(
                """
                WITH decided AS (
                    UPDATE device_authorizations d SET grant_id = \(grant.id)
                    WHERE d.user_code = \(userCode) AND d.expires_at > \(now.unixSeconds) AND \(unescaped: Self.pendingCondition)
                    RETURNING 1
                )
                INSERT INTO grants (id, client_id, user_id, scope, audiences, created_at, expires_at, session_id, auth_time, claims, dpop_jkt)
                SELECT \(grant.id), \(grant.clientID), \(grant.userID), \(grant.scope.description), \(audiences),
                    \(grant.createdAt.unixSeconds), \(grant.expiresAt.unixSeconds), \(grant.sessionID), \(grant.authTime?.unixSeconds),
                    \(grant.claimsRequest), \(grant.dpopKey)
                FROM decided
                RETURNING 1
                """))
    }

    public func withLockedDeviceCode<T: Sendable>(
        digest: [UInt8], at now: Date, _ step: @escaping @Sendable (DeviceAuthorizationRecord?) throws -> GrantStep<T>
    ) async throws -> T {
        try await take(step, at: now) { connection, logger in
            let rows = try await connection.query(
                """
                SELECT \(unescaped: Self.deviceColumns), \(unescaped: Self.grantColumns)
                FROM device_authorizations d LEFT JOIN grants g ON g.id = d.grant_id
                WHERE d.device_code_digest = \(ByteBuffer(bytes: digest)) FOR UPDATE OF d
                """, logger: logger)
            for try await row in rows { return try Self.device(row, withGrant: true) }
            return nil
        }
    }

    /// The request in `row`'s `deviceColumns`; `withGrant`, `grantColumns` follow (nulls when none is approved).
    static func device(_ row: PostgresRow, withGrant: Bool) throws -> DeviceAuthorizationRecord {
        let cells = row.makeRandomAccess()
        let grantID = withGrant ? try cells[11].decode(String?.self) : nil
        return DeviceAuthorizationRecord(
            deviceCodeDigest: Array(buffer: try cells[0].decode(ByteBuffer.self)), userCode: try cells[1].decode(String.self),
            clientID: try cells[2].decode(String.self), scope: StoredForm.scope(try cells[3].decode(String.self)),
            audience: try StoredForm.strings(try cells[4].decode(String.self)), createdAt: Date(unixSeconds: try cells[5].decode(Int64.self)),
            expiresAt: Date(unixSeconds: try cells[6].decode(Int64.self)), interval: Int(try cells[7].decode(Int32.self)),
            lastPolledAt: try cells[8].decode(Int64?.self).map(Date.init(unixSeconds:)), denied: try cells[9].decode(Bool.self),
            grant: grantID == nil ? nil : try grant(row, after: 11), redeemedAt: try cells[10].decode(Int64?.self).map(Date.init(unixSeconds:)))
    }
}
