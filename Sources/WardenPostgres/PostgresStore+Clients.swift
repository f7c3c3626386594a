import Foundation
import PostgresNIO
import WardenCore
import WardenMigrations

extension PostgresStore: ClientRepository {
    static let clientColumns =
        """
        id, name, secret_digest, auth_method, grant_types, redirect_uris, scope, audiences, skip_consent, pkce_optional, created_at,
        id_token_signed_response_alg, post_logout_redirect_uris, backchannel_logout_uri, jwks, jwks_uri, dpop_bound_access_tokens,
        require_pushed_authorization_requests, exchange_audiences, registration_token_digest, registration_metadata,
        metadata_document
        """
    typealias ClientRow = (
        String, String, ByteBuffer?, String, String, String, String, String, Bool, Bool, Int64, String, String, String?, String?, String?,
        Bool, Bool, String, ByteBuffer?, String?, Bool
    )

    public func client(id: String) async throws -> Client? {
        try await clients(query("SELECT \(unescaped: Self.clientColumns) FROM clients WHERE id = \(id)")).first
    }

    public func allClients() async throws -> [Client] {
        try await clients(query("SELECT \(unescaped: Self.clientColumns) FROM clients ORDER BY created_at, id"))
    }

    public func insert(_ client: Client) async throws {
        let stored = try StoredClient(client)
        try await query(
            """
            INSERT INTO clients (\(unescaped: Self.clientColumns))
            VALUES (\(client.id), \(client.name), \(stored.secretDigest), \(client.authMethod.rawValue), \(stored.grantTypes),
                \(stored.redirectURIs), \(client.scope.description), \(stored.audiences), \(client.skipConsent), \(client.pkceOptional),
                \(client.createdAt.unixSeconds), \(client.idTokenSigningAlgorithm.rawValue), \(stored.postLogoutRedirectURIs),
                \(client.backchannelLogoutURI), \(client.jwks), \(client.jwksURI), \(client.dpopBoundAccessTokens),
                \(client.requirePushedAuthorizationRequests), \(stored.exchangeAudiences), \(stored.registrationTokenDigest),
                \(client.registeredMetadata), \(client.fromMetadataDocument))
            """)
    }

    public func saveMetadataDocumentClient(_ client: Client) async throws {
        let stored = try StoredClient(client)
        try await query(
            """
            INSERT INTO clients (\(unescaped: Self.clientColumns))
            VALUES (\(client.id), \(client.name), NULL, \(client.authMethod.rawValue), \(stored.grantTypes), \(stored.redirectURIs),
                \(client.scope.description), \(stored.audiences), FALSE, FALSE, \(client.createdAt.unixSeconds),
                \(client.idTokenSigningAlgorithm.rawValue), \(stored.postLogoutRedirectURIs), NULL, \(client.jwks), \(client.jwksURI),
                \(client.dpopBoundAccessTokens), FALSE, '[]', NULL, \(client.registeredMetadata), TRUE)
            ON CONFLICT (id) DO UPDATE SET name = excluded.name, auth_method = excluded.auth_method, grant_types = excluded.grant_types,
                redirect_uris = excluded.redirect_uris, scope = excluded.scope, id_token_signed_response_alg = excluded.id_token_signed_response_alg,
                post_logout_redirect_uris = excluded.post_logout_redirect_uris, jwks = excluded.jwks, jwks_uri = excluded.jwks_uri,
                dpop_bound_access_tokens = excluded.dpop_bound_access_tokens, registration_metadata = excluded.registration_metadata
            WHERE clients.metadata_document
            """)
    }

    public func replaceRegisteredClient(_ client: Client, presented: [UInt8]) async throws -> Bool {
        let stored = try StoredClient(client)
        return try await returnsRow(
            query(
                """
                UPDATE clients SET name = \(client.name), secret_digest = \(stored.secretDigest), auth_method = \(client.authMethod.rawValue),
                    grant_types = \(stored.grantTypes), redirect_uris = \(stored.redirectURIs), scope = \(client.scope.description),
                    audiences = \(stored.audiences), skip_consent = \(client.skipConsent), pkce_optional = \(client.pkceOptional),
                    id_token_signed_response_alg = \(client.idTokenSigningAlgorithm.rawValue),
                    post_logout_redirect_uris = \(stored.postLogoutRedirectURIs), backchannel_logout_uri = \(client.backchannelLogoutURI),
                    jwks = \(client.jwks), jwks_uri = \(client.jwksURI), dpop_bound_access_tokens = \(client.dpopBoundAccessTokens),
                    require_pushed_authorization_requests = \(client.requirePushedAuthorizationRequests),
                    exchange_audiences = \(stored.exchangeAudiences), registration_token_digest = \(stored.registrationTokenDigest),
                    registration_metadata = \(client.registeredMetadata)
                WHERE id = \(client.id) AND registration_token_digest = \(ByteBuffer(bytes: presented)) RETURNING 1
                """))
    }

    public func deleteRegisteredClient(id: String, presented: [UInt8]) async throws -> Bool {
        try await returnsRow(
            query("DELETE FROM clients WHERE id = \(id) AND registration_token_digest = \(ByteBuffer(bytes: presented)) RETURNING 1"))
    }

    /// A client's values as their columns hold them.
    struct StoredClient {
        let secretDigest: ByteBuffer?
        let grantTypes, redirectURIs, audiences, postLogoutRedirectURIs, exchangeAudiences: String
        let registrationTokenDigest: ByteBuffer?

        init(_ client: Client) throws {
            secretDigest = client.secretDigest.map { ByteBuffer(bytes: $0.bytes) }
            grantTypes = StoredForm.grantTypes(client.grantTypes)
            redirectURIs = try StoredForm.json(client.redirectURIs)
            audiences = try StoredForm.json(client.audiences)
            postLogoutRedirectURIs = try StoredForm.json(client.postLogoutRedirectURIs)
            exchangeAudiences = try StoredForm.json(client.exchangeAudiences)
            registrationTokenDigest = client.registrationAccessTokenDigest.map { ByteBuffer(bytes: $0) }
        }
    }

    public func updateSecret(clientID: String, digest: ClientSecretDigest) async throws -> Bool {
        try await returnsRow(
            query(
                """
                UPDATE clients SET secret_digest = \(ByteBuffer(bytes: digest.bytes))
                WHERE id = \(clientID) AND auth_method IN ('client_secret_basic', 'client_secret_post') RETURNING 1
                """))
    }

    public func updateKeys(clientID: String, jwks: String?, jwksURI: String?) async throws -> Bool {
        try await returnsRow(
            query(
                """
                UPDATE clients SET jwks = \(jwks), jwks_uri = \(jwksURI)
                WHERE id = \(clientID) AND auth_method = 'private_key_jwt' RETURNING 1
                """))
    }

    public func delete(clientID: String) async throws -> Bool {
        try await returnsRow(query("DELETE FROM clients WHERE id = \(clientID) RETURNING 1"))
    }

    private func clients(_ rows: PostgresRowSequence) async throws -> [Client] {
        var clients: [Client] = []
        for try await row in rows.decode(ClientRow.self) {
            let (id, name, digest, method, grantTypes, redirectURIs, scope, audiences, skipConsent, pkceOptional, createdAt) =
                (row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8, row.9, row.10)
            var client = Client(
                id: id, name: name, secretDigest: digest.map { ClientSecretDigest(bytes: Array($0.readableBytesView)) },
                authMethod: ClientAuthMethod(rawValue: method) ?? .none, grantTypes: StoredForm.grantTypes(grantTypes),
                redirectURIs: try StoredForm.strings(redirectURIs), scope: StoredForm.scope(scope),
                audiences: try StoredForm.strings(audiences), skipConsent: skipConsent, pkceOptional: pkceOptional,
                createdAt: Date(unixSeconds: createdAt), idTokenSigningAlgorithm: SigningAlgorithm(rawValue: row.11) ?? .rs256,
                postLogoutRedirectURIs: try StoredForm.strings(row.12), backchannelLogoutURI: row.13)
            (client.jwks, client.jwksURI, client.dpopBoundAccessTokens, client.requirePushedAuthorizationRequests) = (row.14, row.15, row.16, row.17)
            client.exchangeAudiences = try StoredForm.strings(row.18)
            client.registrationAccessTokenDigest = row.19.map { Array($0.readableBytesView) }
            client.registeredMetadata = row.20
            client.fromMetadataDocument = row.21
            clients.append(client)
        }
        return clients
    }

    /// Whether a statement ending in `RETURNING 1` touched a row.
    func returnsRow(_ rows: PostgresRowSequence) async throws -> Bool {
        try await !rows.collect().isEmpty
    }
}
