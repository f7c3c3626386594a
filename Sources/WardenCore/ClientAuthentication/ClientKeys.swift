import Foundation

/// The public keys each `private_key_jwt` client verifies with: its registered JWKS,
/// parsed once, or its `jwks_uri`'s, fetched and cached (PROOF-OF-POSSESSION.md): kept
/// for the document's max-age clamped to 60 s – 1 h, and fetched again early at most
/// once every 10 s when an assertion names a `kid` the cached set lacks.
public actor ClientKeys {
    struct Remote {
        var keys: ClientJWKS?
        var expiresAt: Date
        var fetchedAt: Date
    }

    let fetcher: (any DocumentFetcher)?
    let clock: any WardenClock
    let allowHTTP: Bool
    private var inline: [String: ClientJWKS] = [:]
    private var remote: [String: Remote] = [:]
    private var fetching: [String: Task<Remote, Never>] = [:]

    /// Clamps of a `jwks_uri` document's max-age, and the least time between two fetches.
    static let (minimumAge, maximumAge, refetchInterval): (TimeInterval, TimeInterval, TimeInterval) = (60, 3600, 10)
    /// Clients' key sets kept at most; beyond that the cache starts again from empty.
    static let capacity = 10_000

    /// `allowHTTP`: accept `http` key URIs (development only).
    public init(fetcher: (any DocumentFetcher)?, allowHTTP: Bool = false, clock: any WardenClock = SystemClock()) {
        self.fetcher = fetcher
        self.allowHTTP = allowHTTP
        self.clock = clock
    }

    /// The keys of `client` that may have signed with `algorithm` and `keyID`; throws
    /// `invalid_client` when there are none to be had.
    public func candidates(for client: Client, keyID: String?, algorithm: JWSAlgorithm) async throws(OAuthError) -> [ClientJWK] {
        if let jwks = client.jwks {
            let keys = try parsedInline(jwks)
            return keys.candidates(keyID: keyID, algorithm: algorithm)
        }
        guard let uri = client.jwksURI else { throw .invalidClient(cause: "the client has no keys") }
        guard uri.lowercased().hasPrefix("https://") || (allowHTTP && uri.lowercased().hasPrefix("http://")) else {
            throw .invalidClient(cause: "jwks_uri is not https")
        }
        let now = clock.now()
        var entry = remote[uri]
        if entry == nil || now >= entry!.expiresAt {
            entry = await fetch(uri)
        } else if let keyID, entry?.keys?.candidates(keyID: keyID, algorithm: algorithm).isEmpty ?? true,
            now.timeIntervalSince(entry!.fetchedAt) >= Self.refetchInterval
        {
            // An unknown kid: the client may have rotated its keys.
            entry = await fetch(uri)
        }
        guard let keys = entry?.keys else { throw .invalidClient(cause: "jwks_uri could not be fetched or read") }
        return keys.candidates(keyID: keyID, algorithm: algorithm)
    }

    private func parsedInline(_ jwks: String) throws(OAuthError) -> ClientJWKS {
        if let keys = inline[jwks] { return keys }
        let keys: ClientJWKS
        do { keys = try ClientJWKS(json: Array(jwks.utf8)) } catch { throw .invalidClient(cause: "registered JWKS: \(error)") }
        if inline.count >= Self.capacity { inline.removeAll(keepingCapacity: true) }
        inline[jwks] = keys
        return keys
    }

    /// One fetch per URI at a time: concurrent callers share it. A failure is remembered
    /// too (no keys until the refetch interval passes), so a dead URI is not hammered.
    private func fetch(_ uri: String) async -> Remote {
        if let running = fetching[uri] { return await running.value }
        let (fetcher, clock) = (self.fetcher, self.clock)
        let task = Task<Remote, Never> {
            let started = clock.now()
            guard let fetcher, let (body, maxAge) = try? await fetcher.fetch(uri), let keys = try? ClientJWKS(json: body) else {
                return Remote(keys: nil, expiresAt: started.addingTimeInterval(Self.refetchInterval), fetchedAt: started)
            }
            let age = min(Self.maximumAge, max(Self.minimumAge, TimeInterval(maxAge ?? 0)))
            return Remote(keys: keys, expiresAt: started.addingTimeInterval(age), fetchedAt: started)
        }
        fetching[uri] = task
        let result = await task.value
        fetching[uri] = nil
        if remote.count >= Self.capacity { remote.removeAll(keepingCapacity: true) }
        // A failed refetch keeps the keys already had until they expire.
        if result.keys == nil, let previous = remote[uri], previous.keys != nil, clock.now() < previous.expiresAt {
            remote[uri] = Remote(keys: previous.keys, expiresAt: previous.expiresAt, fetchedAt: result.fetchedAt)
        } else {
            remote[uri] = result
        }
        return remote[uri]!
    }
}
