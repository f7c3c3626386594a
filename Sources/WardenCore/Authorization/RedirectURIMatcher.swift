import Foundation

/// Compares a requested redirect URI with the registered ones (SECURITY.md, RFC 9700 §4.1.3).
public enum RedirectURIMatcher {
    /// The registered URI `requested` matches: by exact string, or for an `http` loopback
    /// IP literal (127.0.0.1 or [::1]) with any port (RFC 8252 §7.3). Nil when none matches.
    public static func match(_ requested: String, registered: [String]) -> String? {
        if registered.contains(requested) { return requested }
        guard let requestedKey = loopbackKey(requested) else { return nil }
        return registered.first { loopbackKey($0) == requestedKey }
    }

    /// The URI without its port when it is an http loopback IP literal; nil otherwise.
    static func loopbackKey(_ uri: String) -> String? {
        guard var components = URLComponents(string: uri), components.scheme == "http",
            let host = components.percentEncodedHost, host == "127.0.0.1" || host == "[::1]" || host == "::1",
            components.user == nil, components.password == nil, components.fragment == nil,
            components.port.map({ (1...65535).contains($0) }) ?? true
        else { return nil }
        components.port = nil
        return components.string
    }
}
