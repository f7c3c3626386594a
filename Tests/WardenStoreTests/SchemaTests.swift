import Foundation
import GRDB
import Logging
import PostgresNIO
import Testing
import WardenMigrations
import WardenServer

/// The schema both backends must have, described once: `ExportSchema`'s tables and
/// columns with their kinds, and here what it does not say (nullability, keys, checks,
/// indexes). Each backend's migrated database is read back and held against it.
enum SchemaDescription {
    struct Table: Equatable, CustomStringConvertible {
        var columns: [String: Column] = [:]
        /// The primary key and the UNIQUE constraints: which columns identify a row.
        /// (Where a backend keys rows by a column of its own, the identifying columns are UNIQUE.)
        var keys: Set<[String]> = []
        var foreignKeys: Set<ForeignKey> = []
        /// CHECK constraints, apart from SQLite's `IN (0, 1)` on the columns PostgreSQL types `boolean`.
        var checks = 0
        /// Indexes made by migrations (not those behind keys and UNIQUE).
        var indexes: Set<Index> = []
        var description: String {
            "columns \(columns.sorted { $0.key < $1.key }) keys \(keys) fk \(foreignKeys.sorted { $0.column < $1.column }) "
                + "checks \(checks) indexes \(indexes.sorted { $0.name < $1.name })"
        }
    }
    struct Column: Equatable { var kind: ExportColumn.Kind; var notNull: Bool }
    struct ForeignKey: Hashable { var column: String; var table: String; var cascades: Bool }
    struct Index: Hashable { var name: String; var columns: [String]; var partial: Bool }

    /// Columns that may be NULL; every other column is NOT NULL.
    static let nullable: Set<String> = [
        "clients.secret_digest", "signing_keys.retired_at", "grants.revoked_at", "authorization_codes.code_challenge",
        "authorization_codes.code_challenge_method", "authorization_codes.consumed_at", "refresh_tokens.rotated_at",
        "refresh_tokens.successor_digest", "sessions.user_id", "sessions.authenticated_at", "users.name", "users.given_name",
        "users.family_name", "users.email", "clients.backchannel_logout_uri", "grants.session_id", "grants.auth_time", "grants.claims",
        "authorization_codes.nonce", "clients.jwks", "clients.jwks_uri", "grants.dpop_jkt",
        "clients.registration_token_digest", "clients.registration_metadata", "initial_access_tokens.expires_at",
        "initial_access_tokens.max_uses", "initial_access_tokens.revoked_at", "device_authorizations.last_polled_at", "device_authorizations.grant_id", "device_authorizations.redeemed_at",
    ]

    static let unique: [String: Set<[String]>] = ["users": [["username"]], "device_authorizations": [["user_code"]], "initial_access_tokens": [["digest"]]]

    static let foreignKeys: [String: Set<ForeignKey>] = [
        "grants": [.init(column: "client_id", table: "clients", cascades: true), .init(column: "user_id", table: "users", cascades: true)],
        "authorization_codes": [.init(column: "grant_id", table: "grants", cascades: true)],
        "refresh_tokens": [.init(column: "grant_id", table: "grants", cascades: true)],
        "consents": [.init(column: "user_id", table: "users", cascades: true), .init(column: "client_id", table: "clients", cascades: true)],
        "sessions": [.init(column: "user_id", table: "users", cascades: true)],
        "backchannel_logouts": [.init(column: "client_id", table: "clients", cascades: true)],
        "pushed_authorization_requests": [.init(column: "client_id", table: "clients", cascades: true)],
        "device_authorizations": [
            .init(column: "client_id", table: "clients", cascades: true), .init(column: "grant_id", table: "grants", cascades: true),
        ],
    ]

    static let checks: [String: Int] = [
        "clients": 7, "used_jtis": 2, "pushed_authorization_requests": 1, "signing_keys": 1, "authorization_codes": 3, "refresh_tokens": 1, "sessions": 2, "users": 1,
        "device_authorizations": 5, "initial_access_tokens": 2,
    ]

    static let indexes: [String: Set<Index>] = [
        "revoked_access_tokens": [.init(name: "revoked_access_tokens_by_expiry", columns: ["expires_at"], partial: false)],
        "grants": [
            .init(name: "grants_by_expiry", columns: ["expires_at"], partial: false),
            .init(name: "grants_by_client", columns: ["client_id"], partial: false),
            .init(name: "grants_by_user", columns: ["user_id"], partial: false),
            .init(name: "grants_revoked", columns: ["revoked_at"], partial: true),
            .init(name: "grants_by_session", columns: ["session_id"], partial: true),
        ],
        "authorization_codes": [
            .init(name: "authorization_codes_by_expiry", columns: ["expires_at"], partial: false),
            .init(name: "authorization_codes_by_grant", columns: ["grant_id"], partial: false),
        ],
        "refresh_tokens": [
            .init(name: "refresh_tokens_by_grant", columns: ["grant_id"], partial: false),
            .init(name: "refresh_tokens_by_idle_expiry", columns: ["idle_expires_at"], partial: false),
        ],
        "consents": [.init(name: "consents_by_client", columns: ["client_id"], partial: false)],
        "sessions": [
            .init(name: "sessions_by_expiry", columns: ["expires_at"], partial: false),
            .init(name: "sessions_by_user", columns: ["user_id"], partial: false),
            // UNIQUE: a sid names one session.
            .init(name: "sessions_by_sid", columns: ["sid"], partial: false),
        ],
        "backchannel_logouts": [.init(name: "backchannel_logouts_by_due", columns: ["due_at"], partial: false)],
        "audit_events": [.init(name: "audit_events_by_time", columns: ["occurred_at"], partial: false)],
        "used_jtis": [.init(name: "used_jtis_by_expiry", columns: ["expires_at"], partial: false)],
        "pushed_authorization_requests": [
            .init(name: "pushed_authorization_requests_by_expiry", columns: ["expires_at"], partial: false),
            .init(name: "pushed_authorization_requests_by_client", columns: ["client_id"], partial: false),
        ],
        "device_authorizations": [
            .init(name: "device_authorizations_by_expiry", columns: ["expires_at"], partial: false),
            .init(name: "device_authorizations_by_client", columns: ["client_id"], partial: false),
            .init(name: "device_authorizations_by_grant", columns: ["grant_id"], partial: false),
        ],
    ]

    /// Where the backends differ on purpose: the column that keeps each one's row order.
    static let ownColumns: [Backend: Set<String>] = [.sqlite: ["authorization_codes.id"], .postgres: ["signing_keys.position"]]

    static var expected: [String: Table] {
        Dictionary(
            uniqueKeysWithValues: ExportSchema.tables.map { table in
                var shape = Table()
                for column in table.columns {
                    shape.columns[column.name] = Column(kind: column.kind, notNull: !nullable.contains("\(table.name).\(column.name)"))
                }
                shape.keys = (unique[table.name] ?? []).union([table.name == "signing_keys" ? ["kid"] : table.key])
                shape.foreignKeys = foreignKeys[table.name] ?? []
                shape.checks = checks[table.name] ?? 0
                shape.indexes = indexes[table.name] ?? []
                return (table.name, shape)
            })
    }
}

@Suite("Schema: both backends hold one description")
struct SchemaTests {
    @Test("tables, columns, keys, checks and indexes match the description", arguments: Backend.allCases)
    func schema(_ backend: Backend) async throws {
        try await withTemporaryDatabase(backend) { database in
            try await WardenConfiguration.with(database: database).withStorage { _ in }
            let actual = backend == .sqlite ? try sqliteSchema(database) : try await postgresSchema(database)
            let expected = SchemaDescription.expected
            #expect(Set(actual.keys) == Set(expected.keys))
            for (name, shape) in expected {
                #expect(actual[name] == shape, "\(backend) \(name)")
            }
        }
    }

    @Test("every purge and cascade query can use an index", arguments: Backend.allCases)
    func purgeUsesIndexes(_ backend: Backend) async throws {
        let queries = [
            "SELECT id FROM grants WHERE expires_at < 1 LIMIT 10",
            "SELECT id FROM grants WHERE revoked_at IS NOT NULL LIMIT 10",
            "SELECT digest FROM refresh_tokens WHERE idle_expires_at < 1 LIMIT 10",
            "SELECT digest FROM sessions WHERE expires_at < 1 LIMIT 10",
            "SELECT jti FROM revoked_access_tokens WHERE expires_at < 1 LIMIT 10",
            "SELECT 1 FROM consents WHERE client_id = 'c'",
            "SELECT 1 FROM sessions WHERE user_id = 'u'",
            "SELECT 1 FROM refresh_tokens WHERE grant_id = 'g'",
            "SELECT 1 FROM authorization_codes WHERE grant_id = 'g'",
            "SELECT digest FROM used_jtis WHERE expires_at < 1 LIMIT 10",
            "SELECT digest FROM pushed_authorization_requests WHERE expires_at < 1 LIMIT 10",
            "SELECT 1 FROM pushed_authorization_requests WHERE client_id = 'c'",
            "SELECT device_code_digest FROM device_authorizations WHERE expires_at < 1 LIMIT 10",
            "SELECT 1 FROM device_authorizations WHERE client_id = 'c'",
            "SELECT 1 FROM device_authorizations WHERE grant_id = 'g'",
        ]
        try await withTemporaryDatabase(backend) { database in
            try await WardenConfiguration.with(database: database).withStorage { _ in }
            for query in queries {
                let plan: String
                if backend == .sqlite {
                    plan = try await DatabaseQueue(path: database).read { db in
                        try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + query).map { $0["detail"] as String }.joined(separator: "; ")
                    }
                    #expect(!plan.contains("SCAN"), "\(query): \(plan)")
                } else {
                    // Tables this small are scanned by choice; forbid it to see whether an index serves.
                    plan = try await postgresRows(database, "SET enable_seqscan = off; EXPLAIN " + query).map { $0[0] ?? "" }
                        .joined(separator: "; ")
                    #expect(!plan.contains("Seq Scan"), "\(query): \(plan)")
                }
            }
        }
    }

    func sqliteSchema(_ path: String) throws -> [String: SchemaDescription.Table] {
        try DatabaseQueue(path: path).read { db in
            var tables: [String: SchemaDescription.Table] = [:]
            let names = try String.fetchAll(
                db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'grdb_%'")
            // The counters and the server's secrets are not the database's content: never exported.
            for name in names where name != "change_counters" && name != "server_secrets" {
                var table = SchemaDescription.Table()
                var primaryKey: [(Int, String)] = []
                for row in try Row.fetchAll(db, sql: "SELECT name, type, \"notnull\", pk FROM pragma_table_info(?)", arguments: [name]) {
                    let column: String = row["name"]
                    guard !SchemaDescription.ownColumns[.sqlite, default: []].contains("\(name).\(column)") else { continue }
                    let type: String = row["type"]
                    let pk: Int = row["pk"]
                    let kind: ExportColumn.Kind = switch type {
                    case "TEXT": .text
                    case "BLOB": .bytes
                    default: try Self.sqliteBoolean(db, table: name, column: column) ? .boolean : .integer
                    }
                    // A primary key column is NOT NULL in these STRICT tables whatever the flag says.
                    table.columns[column] = .init(kind: kind, notNull: row["notnull"] == 1 || pk > 0)
                    if pk > 0 { primaryKey.append((pk, column)) }
                }
                if !primaryKey.isEmpty { table.keys.insert(primaryKey.sorted { $0.0 < $1.0 }.map(\.1)) }
                for index in try Row.fetchAll(db, sql: "SELECT name, \"unique\", origin, partial FROM pragma_index_list(?)", arguments: [name]) {
                    let indexName: String = index["name"]
                    let columns = try String.fetchAll(db, sql: "SELECT name FROM pragma_index_info(?) ORDER BY seqno", arguments: [indexName])
                    switch index["origin"] as String {
                    case "pk": continue
                    case "u": table.keys.insert(columns)
                    default: table.indexes.insert(.init(name: indexName, columns: columns, partial: index["partial"] == 1))
                    }
                }
                for key in try Row.fetchAll(db, sql: "SELECT \"from\", \"table\", on_delete FROM pragma_foreign_key_list(?)", arguments: [name]) {
                    table.foreignKeys.insert(.init(column: key["from"], table: key["table"], cascades: key["on_delete"] == "CASCADE"))
                }
                let sql = try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = ?", arguments: [name]) ?? ""
                table.checks = sql.components(separatedBy: "CHECK (").count - 1 - (sql.components(separatedBy: " IN (0, 1))").count - 1)
                tables[name] = table
            }
            return tables
        }
    }

    /// SQLite has no boolean type: a column is one when its CHECK allows only 0 and 1.
    static func sqliteBoolean(_ db: Database, table: String, column: String) throws -> Bool {
        let sql = try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = ?", arguments: [table]) ?? ""
        return sql.contains("CHECK (\(column) IN (0, 1))")
    }

    func postgresSchema(_ url: String) async throws -> [String: SchemaDescription.Table] {
        var tables: [String: SchemaDescription.Table] = [:]
        let ignored: Set<String> = ["change_counters", "sign_in_failures", "warden_migrations", "server_secrets"]
        for row in try await postgresRows(
            url,
            """
            SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns WHERE table_schema = 'public'
            """)
        {
            let (table, column) = (row[0] ?? "", row[1] ?? "")
            guard !ignored.contains(table), !SchemaDescription.ownColumns[.postgres, default: []].contains("\(table).\(column)") else {
                continue
            }
            let kind: ExportColumn.Kind = switch row[2] {
            case "text": .text
            case "bytea": .bytes
            case "boolean": .boolean
            default: .integer
            }
            tables[table, default: .init()].columns[column] = .init(kind: kind, notNull: row[3] == "NO")
        }
        // Keys, unique and foreign keys and checks, with their columns in key order.
        for row in try await postgresRows(
            url,
            """
            SELECT c.conrelid::regclass::text, c.contype::text, c.confrelid::regclass::text, c.confdeltype::text,
                (SELECT string_agg(a.attname, ',' ORDER BY k.ord) FROM unnest(c.conkey) WITH ORDINALITY k(num, ord)
                 JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.num)
            FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = 'public'
            """)
        {
            let table = row[0] ?? ""
            guard !ignored.contains(table) else { continue }
            let columns = (row[4] ?? "").split(separator: ",").map(String.init)
            switch row[1] {
            case "p": tables[table, default: .init()].keys.insert(columns)
            case "u" where !columns.allSatisfy({ SchemaDescription.ownColumns[.postgres, default: []].contains("\(table).\($0)") }):
                tables[table, default: .init()].keys.insert(columns)
            case "f":
                tables[table, default: .init()].foreignKeys.insert(
                    .init(column: columns.first ?? "", table: row[2] ?? "", cascades: row[3] == "c"))
            case "c": tables[table, default: .init()].checks += 1
            default: break
            }
        }
        for row in try await postgresRows(
            url,
            """
            SELECT t.relname, i.relname, x.indpred IS NOT NULL,
                (SELECT string_agg(a.attname, ',' ORDER BY k.ord) FROM unnest(x.indkey) WITH ORDINALITY k(num, ord)
                 JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.num)
            FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
            JOIN pg_namespace n ON n.oid = t.relnamespace
            WHERE n.nspname = 'public' AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
            """)
        {
            let table = row[0] ?? ""
            guard !ignored.contains(table) else { continue }
            tables[table, default: .init()].indexes.insert(
                .init(name: row[1] ?? "", columns: (row[3] ?? "").split(separator: ",").map(String.init), partial: row[2] == "true"))
        }
        return tables
    }
}

/// The rows of `sql` (statements separated by `;`, the last one's rows) as text, on the database at `url`.
func postgresRows(_ url: String, _ sql: String) async throws -> [[String?]] {
    let components = try #require(URLComponents(string: url))
    let configuration = PostgresClient.Configuration(
        host: components.host ?? "127.0.0.1", port: components.port ?? 5432, username: components.user ?? "postgres",
        password: components.password, database: String(components.path.dropFirst()), tls: .disable)
    let client = PostgresClient(configuration: configuration)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await client.run() }
        defer { group.cancelAll() }
        return try await client.withConnection { connection in
            var result: [[String?]] = []
            let statements = sql.split(separator: ";").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            for statement in statements {
                result = []
                for try await row in try await connection.query(PostgresQuery(unsafeSQL: statement), logger: Logger(label: "schema-test")) {
                    result.append(try row.makeRandomAccess().map { cell in
                        guard cell.bytes != nil else { return nil }
                        if cell.dataType == .bool { return try cell.decode(Bool.self) ? "true" : "false" }
                        return try cell.decode(String.self)
                    })
                }
            }
            return result
        }
    }
}
