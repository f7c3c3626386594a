import AsyncHTTPClient
import Foundation
import NIOCore
import ServiceLifecycle
import Synchronization
import WardenCore

/// Fetches `private_key_jwt` clients' `jwks_uri` documents over HTTP (async-http-client):
/// 5 s for the whole exchange, at most 64 KiB, no redirect followed, 200 only. A service,
/// so that its HTTP client is shut down when the server stops; the client is made at the
/// first fetch, so a server whose clients register their keys inline never has one.
final class HTTPJWKSFetcher: JWKSFetcher, Service {
    static let timeout: TimeAmount = .seconds(5)
    static let maximumSize = 64 * 1024

    private let client = Mutex<(http: HTTPClient?, closed: Bool)>((nil, false))

    var http: HTTPClient {
        get throws {
            try client.withLock { client in
                guard !client.closed else { throw Failure(description: "the server is stopping") }
                if let http = client.http { return http }
                let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
                client.http = http
                return http
            }
        }
    }

    func fetch(_ uri: String) async throws -> (body: [UInt8], maxAge: Int?) {
        var request = HTTPClientRequest(url: uri)
        request.headers.add(name: "Accept", value: "application/jwk-set+json, application/json")
        let deadline = NIODeadline.now() + Self.timeout
        let response = try await http.execute(request, deadline: deadline)
        guard response.status.code == 200 else { throw Failure(description: "\(uri) answered HTTP \(response.status.code)") }
        let body = try await response.body.collect(upTo: Self.maximumSize)
        return (Array(body.readableBytesView), Self.maxAge(response.headers["Cache-Control"].joined(separator: ",")))
    }

    /// RFC 9111 §5.2.2.1 `max-age`, if the response allows caching at all.
    static func maxAge(_ cacheControl: String) -> Int? {
        var age: Int?
        for directive in cacheControl.split(separator: ",") {
            let parts = directive.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            if parts[0] == "no-store" || parts[0] == "no-cache" { return 0 }
            if parts[0] == "max-age", parts.count == 2 { age = Int(parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))) }
        }
        return age
    }

    func run() async throws {
        try? await gracefulShutdown()
        let http = client.withLock { client in
            client.closed = true
            return client.http
        }
        try? await http?.shutdown()
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }
}
