import Foundation
import FuzzSupport
import WardenCore

/// Redirect URI matching: exact string, or an http loopback IP literal on another port
/// (RFC 8252 §7.3). Input: registered URIs, one per line; the last line is the request.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzRedirectURI(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let lines = fuzzInput(data, size).split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        .map { String(decoding: $0, as: UTF8.self) }
    guard let requested = lines.last else { return 0 }
    let registered = Array(lines.dropLast())
    guard let match = RedirectURIMatcher.match(requested, registered: registered) else { return 0 }
    invariant(registered.contains(match), "the match is not a registered URI")
    if match != requested {
        // Only the port may differ, only for http loopback literals, with no userinfo or fragment.
        guard let asked = URLComponents(string: requested), let known = URLComponents(string: match) else {
            fatalError("a non-exact match that does not parse: \(requested) ~ \(match)")
        }
        invariant(asked.scheme == "http" && known.scheme == "http", "a non-http loopback match")
        invariant(["127.0.0.1", "[::1]", "::1"].contains(asked.percentEncodedHost ?? ""), "a non-loopback host matched loosely")
        invariant(asked.percentEncodedHost == known.percentEncodedHost, "hosts differ")
        invariant(asked.user == nil && asked.password == nil && asked.fragment == nil, "userinfo or fragment matched")
        invariant(asked.percentEncodedPath == known.percentEncodedPath && asked.percentEncodedQuery == known.percentEncodedQuery,
            "path or query differ")
    }
    return 0
}

runFuzzer(fuzzRedirectURI)
