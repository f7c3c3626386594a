import Foundation

/// Which redirect URIs a client may register (RFC 6749 §3.1.2, RFC 8252 §7, RFC 9700
/// §2.1): absolute, without a fragment, and either https, http on a loopback address
/// (a native app's local listener), or a private-use scheme in reverse-domain form
/// (`com.example.app:/callback`). Anything else, `localhost:3000/cb` included (which
/// parses as the scheme `localhost`), is refused at registration.
public enum RedirectURIPolicy {
    static let loopbackHosts: Set<String> = ["127.0.0.1", "[::1]", "::1", "localhost"]

    /// Nil when `uri` may be registered; else why not, in one line.
    public static func problem(with uri: String) -> String? {
        guard AudienceSelection.isAbsoluteURIWithoutFragment(uri), let components = URLComponents(string: uri),
            let scheme = components.scheme?.lowercased()
        else { return "redirect URI '\(uri)' must be an absolute URI without a fragment" }
        guard components.user == nil, components.password == nil else { return "redirect URI '\(uri)' must not carry a user name or password" }
        let host = components.host?.lowercased() ?? ""
        switch scheme {
        case "https" where !host.isEmpty: return nil
        case "http" where loopbackHosts.contains(host): return nil
        case "http", "https":
            return "redirect URI '\(uri)' must be https, or http on a loopback address (127.0.0.1, [::1], localhost)"
        default:
            guard scheme.contains(".") else {
                return "redirect URI '\(uri)' has the scheme '\(scheme)': use https, http on a loopback address, "
                    + "or a private-use scheme in reverse-domain form (com.example.app:/callback)"
            }
            return nil
        }
    }

    /// Nil when `uri` may receive back-channel logout tokens (Back-Channel Logout 1.0 §2.2):
    /// what a redirect URI may be, less the private-use schemes (a server cannot post to
    /// an app); else why not.
    public static func backchannelProblem(with uri: String) -> String? {
        guard problem(with: uri) == nil, let scheme = URLComponents(string: uri)?.scheme?.lowercased(), scheme == "https" || scheme == "http"
        else { return "back-channel logout URI '\(uri)' must be https, or http on a loopback address, without a fragment" }
        return nil
    }
}
