import Hummingbird

extension WardenRoutes {
    /// RFC 8414 metadata, the same document as OpenID Connect Discovery's, and the JWKS
    /// (RFC 7517). Single-page apps read all three: any origin may (CORS).
    func addDiscoveryRoutes(to router: Router<WardenRequestContext>) {
        let metadata = self.metadata
        let registeredScopes = self.registeredScopes
        let document: @Sendable (Request, WardenRequestContext) async throws -> Response = { _, _ in
            var document = metadata
            document.scopesSupported = Array(Set(document.scopesSupported + (try await registeredScopes()))).sorted()
            var headers = HTTPFields.anyOrigin
            headers[.cacheControl] = "public, max-age=300"
            return JSONBody.response(document, headers: headers)
        }
        router.get("/.well-known/oauth-authorization-server", use: document)
        router.get("/.well-known/openid-configuration", use: document)
        router.get("/.well-known/jwks.json") { _, _ in
            var headers = HTTPFields.anyOrigin
            headers[.cacheControl] = "public, max-age=\(jwksMaxAge)"
            return JSONBody.response(data: keyRing.jwksDocument, headers: headers, contentType: "application/jwk-set+json")
        }
    }
}
