import Foundation

/// Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document), what MCP
/// clients use instead of registering: a `client_id` that is an `https` URL names the
/// document at that URL, which is the client's metadata. Documents are fetched (at most
/// 5 KiB, by a fetcher that refuses private addresses), held to the metadata policy for
/// such clients, saved (grants and consents refer to the client), and cached for their
/// `Cache-Control` max-age clamped to 5 min – 24 h; a failure is remembered for 30 s, so
/// a dead URL is not hammered.
public actor ClientIDMetadataDocuments {
    struct Entry {
        var result: Result<Client, OAuthError>
        var expiresAt: Date
    }

    static let (minimumAge, maximumAge, failureAge): (TimeInterval, TimeInterval, TimeInterval) = (300, 86_400, 30)
    /// Documents kept at most; beyond that the cache starts again from empty.
    static let capacity = 10_000
    public static let maximumSize = 5 * 1024

    let policy: ClientMetadataPolicy
    let fetcher: any DocumentFetcher
    /// Where each document's client is saved when fetched.
    let store: any ClientRepository
    /// `http` on a loopback address too (`allow_http_client_metadata`, development only).
    let allowHTTP: Bool
    let clock: any WardenClock
    private var cache: [String: Entry] = [:]
    private var fetching: [String: Task<Entry, Never>] = [:]

    public init(
        policy: ClientMetadataPolicy, fetcher: any DocumentFetcher, store: any ClientRepository, allowHTTP: Bool = false,
        clock: any WardenClock = SystemClock()
    ) {
        self.policy = policy
        self.fetcher = fetcher
        self.store = store
        self.allowHTTP = allowHTTP
        self.clock = clock
    }

    /// Whether `clientID` names a metadata document: an `https` URL with a path, without a
    /// fragment, credentials or `.`/`..` segments (`http` on a loopback address when allowed).
    public nonisolated static func isDocumentURL(_ clientID: String, allowHTTP: Bool) -> Bool {
        guard let url = URLComponents(string: clientID), let scheme = url.scheme, let host = url.host, !host.isEmpty,
            url.fragment == nil, !clientID.contains("#"), url.user == nil, url.password == nil
        else { return false }
        let path = url.percentEncodedPath
        guard path.count > 1, path.hasPrefix("/"), !path.split(separator: "/", omittingEmptySubsequences: false).contains(where: { $0 == "." || $0 == ".." })
        else { return false }
        switch scheme {
        case "https": return true
        case "http": return allowHTTP && RedirectURIPolicy.loopbackHosts.contains(host.lowercased())
        default: return false
        }
    }

    /// The client the document at `url` describes; `invalid_client` when it cannot be had
    /// or does not describe an acceptable client.
    public func client(url: String) async throws(OAuthError) -> Client {
        let now = clock.now()
        let entry: Entry
        if let cached = cache[url], now < cached.expiresAt { entry = cached } else { entry = await fetch(url) }
        return try entry.result.get()
    }

    /// One fetch per URL at a time: concurrent callers share it.
    private func fetch(_ url: String) async -> Entry {
        if let running = fetching[url] { return await running.value }
        let (fetcher, clock, policy, store) = (self.fetcher, self.clock, self.policy, self.store)
        let task = Task<Entry, Never> {
            let started = clock.now()
            do {
                let (body, maxAge) = try await fetcher.fetch(url)
                let client = try Self.client(url: url, document: body, policy: policy, now: started)
                do { try await store.saveMetadataDocumentClient(client) } catch {
                    // Not remembered: the next request tries again.
                    return Entry(result: .failure(.temporarilyUnavailable(cause: "saving \(url): \(error)")), expiresAt: started)
                }
                let age = min(Self.maximumAge, max(Self.minimumAge, TimeInterval(maxAge ?? 0)))
                return Entry(result: .success(client), expiresAt: started.addingTimeInterval(age))
            } catch {
                let failure = (error as? OAuthError)
                    ?? OAuthError(.invalidClient, "The client's metadata document could not be fetched", cause: "client metadata document \(url): \(error)")
                return Entry(result: .failure(failure), expiresAt: started.addingTimeInterval(Self.failureAge))
            }
        }
        fetching[url] = task
        let entry = await task.value
        fetching[url] = nil
        if cache.count >= Self.capacity { cache.removeAll(keepingCapacity: true) }
        cache[url] = entry
        return entry
    }

    /// The client `document` (fetched from `url`) describes: its `client_id` must be `url`
    /// exactly, it must list its redirect URIs, and no shared secret can be had from a
    /// public document. The consent page shows the URL's host, not a name it chose.
    public static func client(url: String, document body: [UInt8], policy: ClientMetadataPolicy, now: Date) throws(OAuthError) -> Client {
        func refuse(_ reason: String) -> OAuthError {
            OAuthError(.invalidClient, "The client's metadata document cannot be used: \(reason)", cause: "client metadata document \(url): \(reason)")
        }
        guard body.count <= maximumSize else { throw refuse("it is larger than 5 KiB") }
        let document: ClientMetadataDocument
        do { document = try ClientMetadataDocument(json: body) } catch { throw refuse(error.publicDescription ?? "it is not JSON") }
        guard document.clientID == url else { throw refuse("its client_id is not its URL") }
        guard let uris = document.redirectURIs, !uris.isEmpty else { throw refuse("it lists no redirect_uris") }
        guard document.clientSecret == nil else { throw refuse("it holds a client_secret") }
        var client: Client
        do {
            (client, _) = try policy.makeClient(document, name: URLComponents(string: url)?.host ?? url, now: now)
        } catch { throw refuse(error.publicDescription ?? "its metadata is invalid") }
        client.id = url
        client.fromMetadataDocument = true
        return client
    }
}

