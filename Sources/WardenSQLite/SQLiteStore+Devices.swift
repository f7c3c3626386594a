import Foundation
import GRDB
import WardenCore
import WardenMigrations

extension SQLiteStore: DeviceAuthorizationRepository {
    static let deviceColumns = """
        d.device_code_digest, d.user_code, d.client_id, d.scope, d.audiences, d.created_at, d.expires_at, d.poll_interval,
        d.last_polled_at, d.denied, d.redeemed_at
        """

    public func insertDeviceAuthorization(_ record: DeviceAuthorizationRecord) async throws -> Bool {
        let audiences = try StoredForm.json(record.audience)
        return try await write { db in
            try db.executeCached(
                sql: """
                    INSERT INTO device_authorizations (device_code_digest, user_code, client_id, scope, audiences, created_at, expires_at,
                        poll_interval)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (user_code) DO NOTHING
                    """,
                arguments: [
                    Data(record.deviceCodeDigest), record.userCode, record.clientID, record.scope.description, audiences,
                    record.createdAt.unixSeconds, record.expiresAt.unixSeconds, record.interval,
                ])
            return db.changesCount == 1
        }
    }

    public func pendingDeviceAuthorization(userCode: String, at now: Date) async throws -> DeviceAuthorizationRecord? {
        try await read { db in try Self.pendingDevice(userCode: userCode, at: now, in: db) }
    }

    public func decideDeviceAuthorization(userCode: String, grant: GrantRecord?, at now: Date) async throws -> Bool {
        let audiences = try grant.map { try StoredForm.json($0.audience) }
        // The writer is serial: what is read pending stays so until this write ends.
        return try await write { db in
            guard try Self.pendingDevice(userCode: userCode, at: now, in: db) != nil else { return false }
            if let grant, let audiences {
                try Self.insert(grant, audiences: audiences, in: db)
                try db.executeCached(sql: "UPDATE device_authorizations SET grant_id = ? WHERE user_code = ?", arguments: [grant.id, userCode])
            } else {
                try db.executeCached(sql: "UPDATE device_authorizations SET denied = 1 WHERE user_code = ?", arguments: [userCode])
            }
            return true
        }
    }

    public func withLockedDeviceCode<T: Sendable>(
        digest: [UInt8], at now: Date, _ step: @escaping @Sendable (DeviceAuthorizationRecord?) throws -> GrantStep<T>
    ) async throws -> T {
        try await take(step, at: now) { db in
            try Row.fetchOne(
                db.cachedStatement(
                    sql: """
                        SELECT \(Self.deviceColumns), \(Self.grantColumns)
                        FROM device_authorizations d LEFT JOIN grants g ON g.id = d.grant_id WHERE d.device_code_digest = ?
                        """),
                arguments: [Data(digest)]
            ).map { try Self.device(from: $0) }
        }
    }

    static func pendingDevice(userCode: String, at now: Date, in db: Database) throws -> DeviceAuthorizationRecord? {
        try Row.fetchOne(
            db.cachedStatement(
                sql: """
                    SELECT \(deviceColumns) FROM device_authorizations d
                    WHERE d.user_code = ? AND d.expires_at > ? AND d.denied = 0 AND d.grant_id IS NULL
                    """),
            arguments: [userCode, now.unixSeconds]
        ).map { try device(from: $0) }
    }

    /// The request in `row`'s `deviceColumns`, with its grant when `grantColumns` follow and name one.
    static func device(from row: Row) throws -> DeviceAuthorizationRecord {
        let digest: Data = row[0]
        let (lastPolledAt, redeemedAt): (Int64?, Int64?) = (row[8], row[10])
        let grantID: String? = row.count > 11 ? row[11] : nil
        return DeviceAuthorizationRecord(
            deviceCodeDigest: [UInt8](digest), userCode: row[1], clientID: row[2], scope: StoredForm.scope(row[3]),
            audience: try StoredForm.strings(row[4]), createdAt: Date(unixSeconds: row[5]), expiresAt: Date(unixSeconds: row[6]),
            interval: row[7], lastPolledAt: lastPolledAt.map(Date.init(unixSeconds:)), denied: row[9],
            grant: grantID == nil ? nil : try grant(from: row, after: 11), redeemedAt: redeemedAt.map(Date.init(unixSeconds:)))
    }
}
