import WardenCore

/// The RFC 8414 metadata document, which is also the OpenID Connect Discovery 1.0 §3
/// document: the same values at both well-known paths.
public struct AuthorizationServerMetadata: Encodable, Sendable {
    public var issuer: String
    public var authorizationEndpoint: String
    public var tokenEndpoint: String
    public var introspectionEndpoint: String
    public var revocationEndpoint: String
    public var jwksURI: String
    public var userinfoEndpoint: String
    public var endSessionEndpoint: String
    public var grantTypesSupported: [String]
    public var responseTypesSupported: [String]
    public var responseModesSupported: [String]
    public var codeChallengeMethodsSupported: [String]
    public var tokenEndpointAuthMethodsSupported: [String]
    public var introspectionEndpointAuthMethodsSupported: [String]
    public var revocationEndpointAuthMethodsSupported: [String]
    public var tokenEndpointAuthSigningAlgValuesSupported: [String]
    public var introspectionEndpointAuthSigningAlgValuesSupported: [String]
    public var revocationEndpointAuthSigningAlgValuesSupported: [String]
    public var dpopSigningAlgValuesSupported: [String]
    public var pushedAuthorizationRequestEndpoint: String
    public var deviceAuthorizationEndpoint: String
    /// RFC 7591: only when registration is on.
    public var registrationEndpoint: String?
    /// draft-ietf-oauth-client-id-metadata-document: only when they are on.
    public var clientIDMetadataDocumentSupported: Bool?
    public var requirePushedAuthorizationRequests: Bool
    public var scopesSupported: [String]
    public var authorizationResponseIssParameterSupported: Bool
    public var subjectTypesSupported: [String]
    public var idTokenSigningAlgValuesSupported: [String]
    public var claimsSupported: [String]
    public var claimsParameterSupported: Bool
    public var requestParameterSupported: Bool
    public var requestURIParameterSupported: Bool
    public var promptValuesSupported: [String]
    public var backchannelLogoutSupported: Bool
    public var backchannelLogoutSessionSupported: Bool

    /// The scopes OpenID Connect defines that Warden serves (Core §5.4, §11).
    public static let openIDScopes = ["openid", "profile", "email", "offline_access"]

    /// The document for `issuer` with Warden's default paths.
    public init(
        issuer: String, grantTypes: [String], scopes: [String], codeChallengeMethods: [String], requirePushedAuthorizationRequests: Bool = false,
        registration: Bool = false, clientIDMetadataDocuments: Bool = false
    ) {
        let url = { (path: String) in EndpointURL.of(path, issuer: issuer) }
        self.issuer = issuer
        authorizationEndpoint = url("/authorize")
        tokenEndpoint = url("/token")
        introspectionEndpoint = url("/introspect")
        revocationEndpoint = url("/revoke")
        jwksURI = url("/.well-known/jwks.json")
        userinfoEndpoint = url("/userinfo")
        endSessionEndpoint = url("/logout")
        grantTypesSupported = grantTypes
        responseTypesSupported = ["code"]
        responseModesSupported = ["query", "form_post"]
        codeChallengeMethodsSupported = codeChallengeMethods
        tokenEndpointAuthMethodsSupported = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
        introspectionEndpointAuthMethodsSupported = ["client_secret_basic", "client_secret_post", "private_key_jwt"]
        revocationEndpointAuthMethodsSupported = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
        tokenEndpointAuthSigningAlgValuesSupported = JWSAlgorithm.names
        introspectionEndpointAuthSigningAlgValuesSupported = JWSAlgorithm.names
        revocationEndpointAuthSigningAlgValuesSupported = JWSAlgorithm.names
        dpopSigningAlgValuesSupported = JWSAlgorithm.names
        pushedAuthorizationRequestEndpoint = url("/par")
        deviceAuthorizationEndpoint = url("/device_authorization")
        registrationEndpoint = registration ? url("/register") : nil
        clientIDMetadataDocumentSupported = clientIDMetadataDocuments ? true : nil
        self.requirePushedAuthorizationRequests = requirePushedAuthorizationRequests
        scopesSupported = Array(Set(scopes + Self.openIDScopes)).sorted()
        authorizationResponseIssParameterSupported = true
        subjectTypesSupported = ["public"]
        idTokenSigningAlgValuesSupported = SigningAlgorithm.allCases.map(\.rawValue)
        claimsSupported = StandardClaims.supported
        claimsParameterSupported = true
        requestParameterSupported = false
        requestURIParameterSupported = false
        promptValuesSupported = ["none", "login", "consent", "select_account"]
        backchannelLogoutSupported = true
        backchannelLogoutSessionSupported = true
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
        case userinfoEndpoint = "userinfo_endpoint"
        case endSessionEndpoint = "end_session_endpoint"
        case grantTypesSupported = "grant_types_supported"
        case responseTypesSupported = "response_types_supported"
        case tokenEndpointAuthMethodsSupported = "token_endpoint_auth_methods_supported"
        case introspectionEndpointAuthMethodsSupported = "introspection_endpoint_auth_methods_supported"
        case revocationEndpointAuthMethodsSupported = "revocation_endpoint_auth_methods_supported"
        case tokenEndpointAuthSigningAlgValuesSupported = "token_endpoint_auth_signing_alg_values_supported"
        case introspectionEndpointAuthSigningAlgValuesSupported = "introspection_endpoint_auth_signing_alg_values_supported"
        case revocationEndpointAuthSigningAlgValuesSupported = "revocation_endpoint_auth_signing_alg_values_supported"
        case dpopSigningAlgValuesSupported = "dpop_signing_alg_values_supported"
        case pushedAuthorizationRequestEndpoint = "pushed_authorization_request_endpoint"
        case deviceAuthorizationEndpoint = "device_authorization_endpoint"
        case registrationEndpoint = "registration_endpoint"
        case clientIDMetadataDocumentSupported = "client_id_metadata_document_supported"
        case requirePushedAuthorizationRequests = "require_pushed_authorization_requests"
        case scopesSupported = "scopes_supported"
        case authorizationResponseIssParameterSupported = "authorization_response_iss_parameter_supported"
        case subjectTypesSupported = "subject_types_supported"
        case idTokenSigningAlgValuesSupported = "id_token_signing_alg_values_supported"
        case claimsSupported = "claims_supported"
        case claimsParameterSupported = "claims_parameter_supported"
        case requestParameterSupported = "request_parameter_supported"
        case requestURIParameterSupported = "request_uri_parameter_supported"
        case promptValuesSupported = "prompt_values_supported"
        case backchannelLogoutSupported = "backchannel_logout_supported"
        case backchannelLogoutSessionSupported = "backchannel_logout_session_supported"
    }
}
