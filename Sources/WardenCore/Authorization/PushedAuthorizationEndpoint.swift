import Foundation

/// RFC 9126 Pushed Authorization Requests: the client sends the authorization request
/// to `/par` directly, authenticated as at the token endpoint, and gets a `request_uri`
/// to send the browser with. Everything `/authorize` would check is checked here and
/// answered as JSON, never as a redirect.
public struct PushedAuthorizationEndpoint: Sendable {
    /// RFC 9126 §2.2.
    public static let requestURIPrefix = "urn:ietf:params:oauth:request_uri:"
    /// Seconds a pushed request may wait for the browser.
    public static let lifetime = 60
    /// What a client authenticates with: kept out of what is stored.
    static let credentials: Set<String> = ["client_secret", "client_assertion", "client_assertion_type"]

    let authenticator: ClientAuthenticator
    let authorization: AuthorizationEndpoint
    let store: any ProofOfPossessionRepository
    let dpop: DPoPProofVerifier?
    let clock: any WardenClock

    public init(
        authenticator: ClientAuthenticator, authorization: AuthorizationEndpoint, store: any ProofOfPossessionRepository,
        dpop: DPoPProofVerifier?, clock: any WardenClock
    ) {
        self.authenticator = authenticator
        self.authorization = authorization
        self.store = store
        self.dpop = dpop
        self.clock = clock
    }

    /// Stores the request in `form` and returns its `request_uri`. A `DPoP` proof (RFC 9449
    /// §10.1) binds the code as `dpop_jkt` does, and must agree with it when both are sent.
    public func push(
        form: FormBody, authorization header: String?, address: String? = nil, dpopProofs: [String] = []
    ) async throws -> (client: Client, requestURI: String, expiresIn: Int) {
        let proof = try DPoPProofVerifier.checkAtServer(dpop, dpopProofs, path: "/par")
        let client = try await authenticator.authenticate(authorization: header, form: form, address: address, endpoint: "/par")
        guard form["request_uri"] == nil else { throw OAuthError.invalidRequest("request_uri cannot be pushed") }
        var parameters = form
        for name in Self.credentials { parameters.set(name, nil) }
        parameters.set("client_id", client.id)
        if let proof {
            if let key = form["dpop_jkt"], key != proof.thumbprint {
                throw OAuthError.invalidDPoPProof(cause: "dpop_jkt differs from the proof's key")
            }
            parameters.set("dpop_jkt", proof.thumbprint)
        }
        do {
            _ = try await authorization.validate(parameters, pushed: true)
        } catch let failure as AuthorizationFailure {
            switch failure {
            case .page(let error): throw error
            case .redirect(let response): throw OAuthError(response: response)
            }
        }
        if let proof, let dpop { try await dpop.spend(proof) }
        // A request_uri is a bearer secret like a code: 256 random bits, kept as its digest.
        let requestURI = OpaqueToken(Self.requestURIPrefix + OpaqueToken.generate().value)
        try await store.insertPushedRequest(
            PushedAuthorizationRequest(
                digest: requestURI.digest, clientID: client.id, parameters: parameters.encoded,
                expiresAt: clock.now().addingTimeInterval(TimeInterval(Self.lifetime))))
        return (client, requestURI.value, Self.lifetime)
    }
}

extension OAuthError {
    /// The error an authorization error response carries, to be answered as JSON instead.
    init(response: AuthorizationResponse) {
        let fields = Dictionary(response.parameters.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
        self.init(Code(rawValue: fields["error"] ?? "invalid_request"), fields["error_description"])
    }
}
