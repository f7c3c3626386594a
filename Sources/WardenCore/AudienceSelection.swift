import Foundation

/// Chooses the `aud` of an access token from RFC 8707 `resource` parameters.
public enum AudienceSelection {
    /// RFC 8707 §2: each `resource` must be an absolute URI without a fragment and,
    /// here, one of the client's registered audiences; otherwise `invalid_target`.
    /// Without `resource`, the client's first registered audience, else the server default.
    public static func select(requested: [String], registered: [String], defaultAudience: String) throws(OAuthError) -> [String] {
        let allowed = registered.isEmpty ? [defaultAudience] : registered
        guard !requested.isEmpty else { return [allowed[0]] }
        var audience: [String] = []
        for resource in requested {
            guard isAbsoluteURIWithoutFragment(resource) else {
                throw OAuthError(.invalidTarget, "resource must be an absolute URI without a fragment")
            }
            guard allowed.contains(resource) else {
                throw OAuthError(.invalidTarget, "resource is not registered for this client")
            }
            if !audience.contains(resource) { audience.append(resource) }
        }
        return audience
    }

    /// An absolute URI (RFC 3986 §4.3): a scheme and no fragment.
    public static func isAbsoluteURIWithoutFragment(_ text: String) -> Bool {
        guard let components = URLComponents(string: text), let scheme = components.scheme, !scheme.isEmpty else {
            return false
        }
        return components.fragment == nil && !text.contains("#")
    }
}
