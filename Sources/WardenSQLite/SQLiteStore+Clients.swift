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
        let redirectURIs = try StoredForm.json(client.redirectURIs)
        let audiences = try StoredForm.json(client.audiences)
        let postLogoutRedirectURIs = try StoredForm.json(client.postLogoutRedirectURIs)
        let exchangeAudiences = try StoredForm.json(client.exchangeAudiences)
        try await write { db in
            try db.executeCached(
                sql: """
                    INSERT INTO clients (id, name, secret_digest, auth_method, grant_types, redirect_uris, scope,
                        audiences, skip_consent, pkce_optional, created_at, id_token_signed_response_alg,
                        post_logout_redirect_uris, backchannel_logout_uri, jwks, jwks_uri, dpop_bound_access_tokens,
                        require_pushed_authorization_requests, exchange_audiences)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    client.id, client.name, client.secretDigest.map { Data($0.bytes) }, client.authMethod.rawValue,
                    StoredForm.grantTypes(client.grantTypes), redirectURIs, client.scope.description,
                    audiences, client.skipConsent, client.pkceOptional, client.createdAt.unixSeconds,
                    client.idTokenSigningAlgorithm.rawValue, postLogoutRedirectURIs, client.backchannelLogoutURI,
                    client.jwks, client.jwksURI, client.dpopBoundAccessTokens, client.requirePushedAuthorizationRequests,
                    exchangeAudiences,
                ]
            )
        }
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
        return client
    }
}
