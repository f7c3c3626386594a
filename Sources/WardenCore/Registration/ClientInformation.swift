import Foundation

/// RFC 7591 §3.2.1 and RFC 7592 §3: a registered client as `/register` answers it — its
/// metadata as stored, its id, and the credentials issued by this very response.
public struct ClientInformation: Sendable {
    public var client: Client
    /// Issued now (a new confidential client, or one that became confidential); shown once.
    public var secret: ClientSecret?
    /// Issued now (registration, and every update); shown once.
    public var registrationAccessToken: String?

    public init(client: Client, secret: ClientSecret? = nil, registrationAccessToken: String? = nil) {
        self.client = client
        self.secret = secret
        self.registrationAccessToken = registrationAccessToken
    }

    /// The JSON body; `issuer` makes `registration_client_uri`.
    public func json(issuer: String) -> [UInt8] {
        var members: [String: Any] = [:]
        if let text = client.registeredMetadata, let data = text.data(using: .utf8),
            let stored = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        {
            members = stored
        }
        members["client_id"] = client.id
        members["client_id_issued_at"] = Int(client.createdAt.timeIntervalSince1970)
        if let secret {
            members["client_secret"] = secret.value
            members["client_secret_expires_at"] = 0
        }
        if let registrationAccessToken { members["registration_access_token"] = registrationAccessToken }
        members["registration_client_uri"] = EndpointURL.of("/register/" + client.id, issuer: issuer)
        members["client_name"] = client.name
        members["token_endpoint_auth_method"] = client.authMethod.rawValue
        members["grant_types"] = client.grantTypes.map(\.rawValue)
        members["response_types"] = client.grantTypes.contains(.authorizationCode) ? ["code"] : []
        members["redirect_uris"] = client.redirectURIs
        members["scope"] = client.scope.description
        members["id_token_signed_response_alg"] = client.idTokenSigningAlgorithm.rawValue
        members["dpop_bound_access_tokens"] = client.dpopBoundAccessTokens
        if !client.postLogoutRedirectURIs.isEmpty { members["post_logout_redirect_uris"] = client.postLogoutRedirectURIs }
        if let uri = client.backchannelLogoutURI { members["backchannel_logout_uri"] = uri }
        if let uri = client.jwksURI { members["jwks_uri"] = uri }
        if let jwks = client.jwks, let data = jwks.data(using: .utf8), let object = try? JSONSerialization.jsonObject(with: data) {
            members["jwks"] = object
        }
        let data = (try? JSONSerialization.data(withJSONObject: members, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return Array(data)
    }
}
