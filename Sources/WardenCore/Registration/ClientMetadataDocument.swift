import Foundation

/// RFC 7591 §2: a client metadata document, as POSTed to `/register` or PUT to
/// `/register/<id>`, read into the members Warden accepts. Unknown members are ignored;
/// a known member of the wrong JSON type is `invalid_client_metadata`.
public struct ClientMetadataDocument: Sendable, Equatable {
    public var redirectURIs: [String]?
    public var tokenEndpointAuthMethod: String?
    public var grantTypes: [String]?
    public var responseTypes: [String]?
    public var clientName: String?
    public var clientURI: String?
    public var logoURI: String?
    public var scope: String?
    public var contacts: [String]?
    /// A JWK Set, as compact JSON text.
    public var jwks: String?
    public var jwksURI: String?
    public var postLogoutRedirectURIs: [String]?
    public var backchannelLogoutURI: String?
    public var idTokenSignedResponseAlg: String?
    public var dpopBoundAccessTokens: Bool?
    public var softwareID: String?
    public var softwareVersion: String?
    /// RFC 7592 §2.2: an update names the client, and may repeat its secret.
    public var clientID: String?
    public var clientSecret: String?

    public init() {}

    /// The members of the JSON object in `json`.
    public init(json: some Collection<UInt8>) throws(OAuthError) {
        guard let parsed = try? JSONSerialization.jsonObject(with: Data(json)), let object = parsed as? [String: Any] else {
            throw Self.invalid("The body must be a JSON object")
        }
        func string(_ name: String) throws(OAuthError) -> String? {
            guard let value = object[name], !(value is NSNull) else { return nil }
            guard let text = value as? String else { throw Self.invalid("\(name) must be a string") }
            return text
        }
        func strings(_ name: String) throws(OAuthError) -> [String]? {
            guard let value = object[name], !(value is NSNull) else { return nil }
            guard let texts = value as? [String] else { throw Self.invalid("\(name) must be an array of strings") }
            return texts
        }
        redirectURIs = try strings("redirect_uris")
        tokenEndpointAuthMethod = try string("token_endpoint_auth_method")
        grantTypes = try strings("grant_types")
        responseTypes = try strings("response_types")
        clientName = try string("client_name")
        clientURI = try string("client_uri")
        logoURI = try string("logo_uri")
        scope = try string("scope")
        contacts = try strings("contacts")
        jwksURI = try string("jwks_uri")
        postLogoutRedirectURIs = try strings("post_logout_redirect_uris")
        backchannelLogoutURI = try string("backchannel_logout_uri")
        idTokenSignedResponseAlg = try string("id_token_signed_response_alg")
        softwareID = try string("software_id")
        softwareVersion = try string("software_version")
        clientID = try string("client_id")
        clientSecret = try string("client_secret")
        if let value = object["dpop_bound_access_tokens"], !(value is NSNull) {
            // JSONSerialization reads numbers and booleans alike as NSNumber: a boolean's type is `c`.
            guard let number = value as? NSNumber, String(cString: number.objCType) == "c" else {
                throw Self.invalid("dpop_bound_access_tokens must be true or false")
            }
            dpopBoundAccessTokens = number.boolValue
        }
        if let value = object["jwks"], !(value is NSNull) {
            guard value is [String: Any], let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes])
            else { throw Self.invalid("jwks must be a JWK Set object") }
            jwks = String(decoding: data, as: UTF8.self)
        }
    }

    static func invalid(_ description: String) -> OAuthError { OAuthError(.invalidClientMetadata, description) }
}
