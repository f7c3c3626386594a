/// Fetches a document a client points at: its `jwks_uri`, or its Client ID Metadata
/// Document (the server does it over HTTP; tests may stand in).
public protocol DocumentFetcher: Sendable {
    /// The document's bytes and its `Cache-Control` max-age, if any; throws when the
    /// document cannot be had (unreachable, slow, not 200, too large, a private address).
    func fetch(_ uri: String) async throws -> (body: [UInt8], maxAge: Int?)
}
