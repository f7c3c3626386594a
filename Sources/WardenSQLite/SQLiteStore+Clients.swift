import Foundation
import GRDB
import WardenCore
import WardenMigrations

extension SQLiteStore: ClientRepository {
    public func client(id: String) async throws -> Client? {
        try await read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM clients WHERE id = ?"), arguments: [id]).map(Self.client(from:))
        }
    }

    public func allClients() async throws -> [Client] {
        try await read { db in
            try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM clients ORDER BY created_at, id")).map(Self.client(from:))
        }
    }

    public func insert(_ client: Client) async throws {
        let values = try Self.columnValues(client)
        try await write { db in
            try db.executeCached(
                sql: "INSERT INTO clients (\(Self.columns.joined(separator: ", "))) VALUES (\(Self.columns.map { _ in "?" }.joined(separator: ", ")))",
                arguments: StatementArguments(values))
        }
    }

    public func replaceRegisteredClient(_ client: Client, presented: [UInt8]) async throws -> Bool {
        let values = try Self.columnValues(client)
        // Everything but the id and when it was made.
        let assignments = Self.columns.enumerated().filter { !["id", "created_at"].contains($0.element) }
        return try await write { db in
            try db.executeCached(
                sql: """
                    UPDATE clients SET \(assignments.map { "\($0.element) = ?" }.joined(separator: ", "))
                    WHERE id = ? AND registration_token_digest = ?
                    """,
                arguments: StatementArguments(assignments.map { values[$0.offset] } + [client.id.databaseValue, Data(presented).databaseValue]))
            return db.changesCount == 1
        }
    }

    public func saveMetadataDocumentClient(_ client: Client) async throws {
        let values = try Self.columnValues(client)
        let updates = Self.columns.filter { !["id", "created_at"].contains($0) }.map { "\($0) = excluded.\($0)" }
        try await write { db in
            try db.executeCached(
                sql: """
                    INSERT INTO clients (\(Self.columns.joined(separator: ", "))) VALUES (\(Self.columns.map { _ in "?" }.joined(separator: ", ")))
                    ON CONFLICT (id) DO UPDATE SET \(updates.joined(separator: ", ")) WHERE clients.metadata_document = 1
                    """,
                arguments: StatementArguments(values))
        }
    }

    public func deleteRegisteredClient(id: String, presented: [UInt8]) async throws -> Bool {
        try await write { db in
            try db.executeCached(sql: "DELETE FROM clients WHERE id = ? AND registration_token_digest = ?", arguments: [id, Data(presented)])
            return db.changesCount == 1
        }
    }

    static let columns = [
        "id", "name", "secret_digest", "auth_method", "grant_types", "redirect_uris", "scope", "audiences", "skip_consent",
        "pkce_optional", "created_at", "id_token_signed_response_alg", "post_logout_redirect_uris", "backchannel_logout_uri", "jwks",
        "jwks_uri", "dpop_bound_access_tokens", "require_pushed_authorization_requests", "exchange_audiences",
        "registration_token_digest", "registration_metadata", "metadata_document",
    ]

    /// `client`'s values in the order of `columns`.
    static func columnValues(_ client: Client) throws -> [DatabaseValue] {
        let values: [(any DatabaseValueConvertible)?] = [
            client.id, client.name, client.secretDigest.map { Data($0.bytes) }, client.authMethod.rawValue,
            StoredForm.grantTypes(client.grantTypes), try StoredForm.json(client.redirectURIs), client.scope.description,
            try StoredForm.json(client.audiences), client.skipConsent, client.pkceOptional, client.createdAt.unixSeconds,
            client.idTokenSigningAlgorithm.rawValue, try StoredForm.json(client.postLogoutRedirectURIs), client.backchannelLogoutURI,
            client.jwks, client.jwksURI, client.dpopBoundAccessTokens, client.requirePushedAuthorizationRequests,
            try StoredForm.json(client.exchangeAudiences), client.registrationAccessTokenDigest.map { Data($0) },
            client.registeredMetadata, client.fromMetadataDocument,
        ]
        return values.map { $0?.databaseValue ?? .null }
    }

    public func updateSecret(clientID: String, digest: ClientSecretDigest) async throws -> Bool {
        try await write { db in
            try db.executeCached(
                sql: "UPDATE clients SET secret_digest = ? WHERE id = ? AND auth_method IN ('client_secret_basic', 'client_secret_post')",
                arguments: [Data(digest.bytes), clientID]
            )
            return db.changesCount == 1
        }
    }

    public func updateKeys(clientID: String, jwks: String?, jwksURI: String?) async throws -> Bool {
        try await write { db in
            try db.executeCached(
                sql: "UPDATE clients SET jwks = ?, jwks_uri = ? WHERE id = ? AND auth_method = 'private_key_jwt'",
                arguments: [jwks, jwksURI, clientID])
            return db.changesCount == 1
        }
    }

    public func delete(clientID: String) async throws -> Bool {
        try await write { db in
            try db.executeCached(sql: "DELETE FROM clients WHERE id = ?", arguments: [clientID])
            return db.changesCount == 1
        }
    }

    static func client(from row: Row) throws -> Client {
        let method: String = row["auth_method"]
        let digest: Data? = row["secret_digest"]
        let grantTypes: String = row["grant_types"]
        let idTokenAlgorithm: String = row["id_token_signed_response_alg"]
        var client = Client(
            id: row["id"], name: row["name"], secretDigest: digest.map { ClientSecretDigest(bytes: Array($0)) },
            authMethod: ClientAuthMethod(rawValue: method) ?? .none,
            grantTypes: StoredForm.grantTypes(grantTypes),
            redirectURIs: try StoredForm.strings(row["redirect_uris"]), scope: StoredForm.scope(row["scope"]),
            audiences: try StoredForm.strings(row["audiences"]), skipConsent: row["skip_consent"], pkceOptional: row["pkce_optional"],
            createdAt: Date(unixSeconds: row["created_at"]),
            idTokenSigningAlgorithm: SigningAlgorithm(rawValue: idTokenAlgorithm) ?? .rs256,
            postLogoutRedirectURIs: try StoredForm.strings(row["post_logout_redirect_uris"]),
            backchannelLogoutURI: row["backchannel_logout_uri"]
        )
        client.jwks = row["jwks"]
        client.jwksURI = row["jwks_uri"]
        client.dpopBoundAccessTokens = row["dpop_bound_access_tokens"]
        client.requirePushedAuthorizationRequests = row["require_pushed_authorization_requests"]
        client.exchangeAudiences = try StoredForm.strings(row["exchange_audiences"])
        let registrationDigest: Data? = row["registration_token_digest"]
        client.registrationAccessTokenDigest = registrationDigest.map { [UInt8]($0) }
        client.registeredMetadata = row["registration_metadata"]
        client.fromMetadataDocument = row["metadata_document"]
        return client
    }
}
