/// The RFC 8414 metadata document.
public struct AuthorizationServerMetadata: Encodable, Sendable {
    public var issuer: String
    public var authorizationEndpoint: String
    public var tokenEndpoint: String
    public var introspectionEndpoint: String
    public var revocationEndpoint: String
    public var jwksURI: String
    public var grantTypesSupported: [String]
    public var responseTypesSupported: [String]
    public var responseModesSupported: [String]
    public var codeChallengeMethodsSupported: [String]
    public var tokenEndpointAuthMethodsSupported: [String]
    public var introspectionEndpointAuthMethodsSupported: [String]
    public var revocationEndpointAuthMethodsSupported: [String]
    public var tokenEndpointAuthSigningAlgValuesSupported: [String]?
    public var scopesSupported: [String]
    public var authorizationResponseIssParameterSupported: Bool

    /// The document for `issuer` with Warden's default paths.
    public init(issuer: String, grantTypes: [String], scopes: [String], codeChallengeMethods: [String]) {
        let base = issuer.hasSuffix("/") ? String(issuer.dropLast()) : issuer
        self.issuer = issuer
        authorizationEndpoint = base + "/authorize"
        tokenEndpoint = base + "/token"
        introspectionEndpoint = base + "/introspect"
        revocationEndpoint = base + "/revoke"
        jwksURI = base + "/.well-known/jwks.json"
        grantTypesSupported = grantTypes
        responseTypesSupported = ["code"]
        responseModesSupported = ["query"]
        codeChallengeMethodsSupported = codeChallengeMethods
        tokenEndpointAuthMethodsSupported = ["client_secret_basic", "client_secret_post", "none"]
        introspectionEndpointAuthMethodsSupported = ["client_secret_basic", "client_secret_post"]
        revocationEndpointAuthMethodsSupported = ["client_secret_basic", "client_secret_post", "none"]
        scopesSupported = scopes
        authorizationResponseIssParameterSupported = true
    }

    enum CodingKeys: String, CodingKey {
        case issuer
        case authorizationEndpoint = "authorization_endpoint"
        case responseModesSupported = "response_modes_supported"
        case codeChallengeMethodsSupported = "code_challenge_methods_supported"
        case tokenEndpoint = "token_endpoint"
        case introspectionEndpoint = "introspection_endpoint"
        case revocationEndpoint = "revocation_endpoint"
        case jwksURI = "jwks_uri"
        case grantTypesSupported = "grant_types_supported"
        case responseTypesSupported = "response_types_supported"
        case tokenEndpointAuthMethodsSupported = "token_endpoint_auth_methods_supported"
        case introspectionEndpointAuthMethodsSupported = "introspection_endpoint_auth_methods_supported"
        case revocationEndpointAuthMethodsSupported = "revocation_endpoint_auth_methods_supported"
        case tokenEndpointAuthSigningAlgValuesSupported = "token_endpoint_auth_signing_alg_values_supported"
        case scopesSupported = "scopes_supported"
        case authorizationResponseIssParameterSupported = "authorization_response_iss_parameter_supported"
    }
}
