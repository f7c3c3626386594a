/// Where the server's endpoints are: their paths under the issuer, as the metadata
/// document names them, and as assertions' `aud` and proofs' `htu` must name them.
public enum EndpointURL {
    /// The URL of the endpoint at `path` (`/token`) of `issuer`.
    public static func of(_ path: String, issuer: String) -> String {
        (issuer.hasSuffix("/") ? String(issuer.dropLast()) : issuer) + path
    }
}
