/// The token endpoint (RFC 6749 §3.2): checks a DPoP proof if there is one (RFC 9449),
/// authenticates the client, then hands the request to the handler registered for its
/// `grant_type`.
public struct TokenEndpoint: Sendable {
    let authenticator: ClientAuthenticator
    let handlers: [GrantType: any GrantHandler]
    let dpop: DPoPProofVerifier?

    /// Makes the endpoint from its grant handlers, keyed by grant type; without `dpop`,
    /// a request with a proof is refused.
    public init(authenticator: ClientAuthenticator, handlers: [GrantType: any GrantHandler], dpop: DPoPProofVerifier? = nil) {
        self.authenticator = authenticator
        self.handlers = handlers
        self.dpop = dpop
    }

    /// Handles a token request; `dpopProofs` are the request's `DPoP` header values. The
    /// result carries the client for logging. The proof is checked first, so that a
    /// `use_dpop_nonce` retry costs the client nothing, and spent only once the client
    /// has authenticated.
    public func respond(
        to form: FormBody, authorization: String?, address: String? = nil, dpopProofs: [String] = []
    ) async throws -> (client: Client, response: TokenResponse) {
        let proof = try DPoPProofVerifier.checkAtServer(dpop, dpopProofs, path: "/token")
        let client = try await authenticator.authenticate(authorization: authorization, form: form, address: address)
        guard let grantValue = form["grant_type"] else {
            throw OAuthError.invalidRequest("grant_type is required")
        }
        let grant = GrantType(rawValue: grantValue)
        guard let handler = handlers[grant] else {
            throw OAuthError(.unsupportedGrantType, "This server does not support that grant_type")
        }
        guard client.grantTypes.contains(grant) else {
            throw OAuthError(.unauthorizedClient, "This client is not registered for that grant_type")
        }
        if let proof, let dpop {
            try await dpop.spend(proof)
        } else if client.dpopBoundAccessTokens {
            throw OAuthError(.invalidDPoPProof, "This client must send a DPoP proof", cause: "dpop_bound_access_tokens without a proof")
        }
        return (client, try await handler.respond(to: form, client: client, dpopKey: proof?.thumbprint))
    }

    /// The nonce for a `DPoP-Nonce` header, when nonces are required.
    public func dpopNonce() -> String? { dpop?.currentNonce() }
}
