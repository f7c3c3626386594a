import Hummingbird

extension WardenRoutes {
    /// RFC 8414 metadata and the JWKS (RFC 7517).
    func addDiscoveryRoutes(to router: Router<WardenRequestContext>) {
        router.get("/.well-known/oauth-authorization-server") { _, _ in
            var document = metadata
            document.scopesSupported = Array(Set(document.scopesSupported + (try await registeredScopes()))).sorted()
            var headers = HTTPFields()
            headers[.cacheControl] = "public, max-age=300"
            return JSONBody.response(document, headers: headers)
        }
        router.get("/.well-known/jwks.json") { _, _ in
            var headers = HTTPFields()
            headers[.cacheControl] = "public, max-age=\(jwksMaxAge)"
            return JSONBody.response(data: keyRing.jwksDocument, headers: headers, contentType: "application/jwk-set+json")
        }
    }
}
