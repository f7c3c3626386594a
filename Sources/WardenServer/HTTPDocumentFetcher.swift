import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import WardenCore

/// Fetches documents clients point at over HTTP (async-http-client): `jwks_uri` key sets
/// and Client ID Metadata Documents. 5 s for the whole exchange, at most `maximumSize`
/// bytes, no redirect followed, 200 only. With `publicAddressesOnly`, the host is
/// resolved first, every address must be public (`NetworkAddress`), and the connection
/// is pinned to the address checked, so a name cannot resolve elsewhere in between.
/// A service, so that its HTTP client is shut down when the server stops; the client is
/// made at the first fetch.
final class HTTPDocumentFetcher: DocumentFetcher, Service {
    static let timeout: TimeAmount = .seconds(5)

    let maximumSize: Int
    let publicAddressesOnly: Bool
    private let client = Mutex<(http: HTTPClient?, closed: Bool)>((nil, false))

    init(maximumSize: Int, publicAddressesOnly: Bool) {
        self.maximumSize = maximumSize
        self.publicAddressesOnly = publicAddressesOnly
    }

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
        let deadline = NIODeadline.now() + Self.timeout
        guard publicAddressesOnly else { return try await fetch(uri, with: try http, deadline: deadline) }
        let pinned = try await Self.pinnedClient(for: uri)
        do {
            let result = try await fetch(uri, with: pinned, deadline: deadline)
            try await pinned.shutdown()
            return result
        } catch {
            try? await pinned.shutdown()
            throw error
        }
    }

    private func fetch(_ uri: String, with http: HTTPClient, deadline: NIODeadline) async throws -> (body: [UInt8], maxAge: Int?) {
        var request = HTTPClientRequest(url: uri)
        request.headers.add(name: "Accept", value: "application/json, application/jwk-set+json")
        let response = try await http.execute(request, deadline: deadline)
        guard response.status.code == 200 else { throw Failure(description: "\(uri) answered HTTP \(response.status.code)") }
        let body = try await response.body.collect(upTo: maximumSize)
        return (Array(body.readableBytesView), Self.maxAge(response.headers["Cache-Control"].joined(separator: ",")))
    }

    /// An HTTP client of its own for `uri`, whose host resolves to the address just checked
    /// to be public, and to nothing else (TLS still verifies the name). The caller shuts it down.
    static func pinnedClient(for uri: String) async throws -> HTTPClient {
        guard let url = URLComponents(string: uri), let host = url.host else { throw Failure(description: "\(uri) has no host") }
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow)
        configuration.dnsOverride = [host: try await publicAddress(of: host)]
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// The first address `host` resolves to, if every one it resolves to is public.
    static func publicAddress(of host: String) async throws -> String {
        let name = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        let addresses = try await NIOThreadPool.singleton.runIfActive { try resolve(name) }
        guard let first = addresses.first else { throw Failure(description: "\(host) does not resolve") }
        guard addresses.allSatisfy({ NetworkAddress.isPublic($0.bytes) }) else {
            throw Failure(description: "\(host) resolves to a private, loopback or link-local address")
        }
        return first.text
    }

    /// `getaddrinfo`'s IPv4 and IPv6 addresses for `host` (blocking: run off the event loops).
    static func resolve(_ host: String) throws -> [(text: String, bytes: [UInt8])] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &list) == 0, let first = list else {
            throw Failure(description: "\(host) does not resolve")
        }
        defer { freeaddrinfo(first) }
        var addresses: [(String, [UInt8])] = []
        var node: UnsafeMutablePointer<addrinfo>? = first
        while let current = node {
            if let socketAddress = current.pointee.ai_addr {
                switch Int32(current.pointee.ai_family) {
                case AF_INET:
                    var address = socketAddress.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                    let bytes = withUnsafeBytes(of: &address) { Array($0) }
                    addresses.append((bytes.map(String.init).joined(separator: "."), bytes))
                case AF_INET6:
                    var address = socketAddress.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                    let bytes = withUnsafeBytes(of: &address) { Array($0) }
                    var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
                    inet_ntop(AF_INET6, &address, &text, socklen_t(text.count))
                    addresses.append((String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self), bytes))
                default: break
                }
            }
            node = current.pointee.ai_next
        }
        return addresses
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
