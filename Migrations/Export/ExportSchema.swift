/// The tables `warden export` writes and `warden import` reads, in an order that
/// satisfies their foreign keys. Both backends have exactly these columns, so an
/// export of one imports into the other. The change counters are left out (the
/// importing database's triggers keep its own) and so are sign-in failures and the server
/// secrets (the DPoP nonce key: a new one only means proofs ask for a fresh nonce).
public enum ExportSchema {
    public static let tables: [ExportTable] = [
        ExportTable("clients", key: ["id"], [
            .text("id"), .text("name"), .bytes("secret_digest"), .text("auth_method"), .text("grant_types"),
            .text("redirect_uris"), .text("scope"), .text("audiences"), .boolean("skip_consent"),
            .boolean("pkce_optional"), .integer("created_at"), .text("id_token_signed_response_alg"),
            .text("post_logout_redirect_uris"), .text("backchannel_logout_uri"), .text("jwks"), .text("jwks_uri"),
            .boolean("dpop_bound_access_tokens"), .boolean("require_pushed_authorization_requests"), .text("exchange_audiences"),
            .bytes("registration_token_digest"), .text("registration_metadata"), .boolean("metadata_document"),
        ]),
        ExportTable("users", key: ["id"], [
            .text("id"), .text("username"), .text("password_hash"), .integer("created_at"), .text("name"), .text("given_name"),
            .text("family_name"), .text("email"), .boolean("email_verified"), .integer("updated_at"),
        ]),
        // Keys keep the order they were stored in: the key ring relies on it.
        ExportTable("signing_keys", key: [], [
            .text("kid"), .text("algorithm"), .text("public_jwk"), .bytes("encrypted_private_key"), .integer("created_at"),
            .integer("activates_at"), .integer("retired_at"),
        ]),
        ExportTable("revoked_access_tokens", key: ["jti"], [.text("jti"), .text("client_id"), .integer("expires_at")]),
        ExportTable("grants", key: ["id"], [
            .text("id"), .text("client_id"), .text("user_id"), .text("scope"), .text("audiences"), .integer("created_at"),
            .integer("expires_at"), .integer("revoked_at"), .text("session_id"), .integer("auth_time"), .text("claims"),
            .text("dpop_jkt"),
        ]),
        ExportTable("authorization_codes", key: ["digest"], [
            .bytes("digest"), .text("grant_id"), .text("redirect_uri"), .boolean("redirect_uri_explicit"),
            .text("code_challenge"), .text("code_challenge_method"), .integer("expires_at"), .integer("consumed_at"), .text("nonce"),
        ]),
        ExportTable("refresh_tokens", key: ["digest"], [
            .bytes("digest"), .text("grant_id"), .text("scope"), .integer("issued_at"), .integer("idle_expires_at"),
            .integer("rotated_at"), .bytes("successor_digest"), .boolean("grace_used"),
        ]),
        ExportTable("consents", key: ["user_id", "client_id"], [
            .text("user_id"), .text("client_id"), .text("scope"), .integer("granted_at"),
        ]),
        ExportTable("sessions", key: ["digest"], [
            .bytes("digest"), .text("user_id"), .text("csrf_token"), .integer("authenticated_at"), .integer("expires_at"), .text("sid"),
        ]),
        ExportTable("backchannel_logouts", key: ["client_id", "sid"], [
            .text("client_id"), .text("sid"), .text("subject"), .integer("attempts"), .integer("due_at"),
        ]),
        ExportTable("audit_events", key: ["id"], [
            .text("id"), .text("name"), .text("fields"), .integer("occurred_at"),
        ]),
        // Spent assertion and proof identifiers stay spent in the new database.
        ExportTable("used_jtis", key: ["digest"], [.bytes("digest"), .text("kind"), .integer("expires_at")]),
        ExportTable("pushed_authorization_requests", key: ["digest"], [
            .bytes("digest"), .text("client_id"), .text("parameters"), .integer("expires_at"),
        ]),
        ExportTable("initial_access_tokens", key: ["id"], [
            .text("id"), .bytes("digest"), .integer("created_at"), .integer("expires_at"), .integer("max_uses"), .integer("uses"),
            .integer("revoked_at"),
        ]),
        ExportTable("device_authorizations", key: ["device_code_digest"], [
            .bytes("device_code_digest"), .text("user_code"), .text("client_id"), .text("scope"), .text("audiences"),
            .integer("created_at"), .integer("expires_at"), .integer("poll_interval"), .integer("last_polled_at"), .boolean("denied"),
            .text("grant_id"), .integer("redeemed_at"),
        ]),
    ]

    /// The table called `name`, if it is exported.
    public static func table(named name: String) -> ExportTable? { tables.first { $0.name == name } }
}

/// One exported table: its columns in the order rows list them.
public struct ExportTable: Sendable {
    public let name: String
    /// The primary key, by which rows are listed; empty for "in the order stored".
    public let key: [String]
    public let columns: [ExportColumn]

    init(_ name: String, key: [String], _ columns: [ExportColumn]) {
        self.name = name
        self.key = key
        self.columns = columns
    }

    /// `name, name, ...`, for the stores' SELECT and INSERT statements.
    public var columnList: String { columns.map(\.name).joined(separator: ", ") }
}

/// A column and the kind of value it holds; any column may be NULL where the schema allows.
public struct ExportColumn: Sendable {
    public enum Kind: Sendable { case text, integer, boolean, bytes }
    public let name: String
    public let kind: Kind

    static func text(_ name: String) -> Self { Self(name: name, kind: .text) }
    static func integer(_ name: String) -> Self { Self(name: name, kind: .integer) }
    static func boolean(_ name: String) -> Self { Self(name: name, kind: .boolean) }
    static func bytes(_ name: String) -> Self { Self(name: name, kind: .bytes) }
}

/// One value of an exported row.
public enum ExportValue: Sendable, Equatable {
    case null
    case text(String)
    case integer(Int64)
    case boolean(Bool)
    case bytes([UInt8])
}

/// A row and the table it belongs to.
public struct ExportRow: Sendable {
    public let table: ExportTable
    public let values: [ExportValue]

    public init(table: ExportTable, values: [ExportValue]) {
        self.table = table
        self.values = values
    }
}

/// A database whose rows can be copied out and in, to move between backends.
public protocol RowCopying: Sendable {
    /// Hands every row of `table` to `body`, values in `table.columns` order.
    func exportRows(of table: ExportTable, into body: @escaping @Sendable ([ExportValue]) throws -> Void) async throws
    /// How many rows the exported tables hold in all.
    func exportedRowCount() async throws -> Int
    /// Inserts `rows` in one transaction: all of them or none.
    func importRows(_ rows: [ExportRow]) async throws
}
