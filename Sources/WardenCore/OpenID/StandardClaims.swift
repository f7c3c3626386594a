import Foundation

/// The OpenID Connect standard claims Warden keeps (Core §5.1), and which scope asks for
/// which (Core §5.4).
public enum StandardClaims {
    /// Claims by scope, in the order they are written.
    public static let byScope: [(scope: String, claims: [String])] = [
        ("profile", ["name", "given_name", "family_name", "preferred_username", "updated_at"]),
        ("email", ["email", "email_verified"]),
    ]

    /// Every claim this server can return, for discovery's `claims_supported`.
    public static let supported = [
        "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "amr", "azp", "sid",
    ] + byScope.flatMap(\.claims)

    /// The scopes whose claims `requested` (a `claims` request's names) asks for: consenting
    /// to a claim is consenting to what its scope would share.
    public static func scopes(askedBy requested: [String]) -> [String] {
        byScope.filter { !Set($0.claims).isDisjoint(with: requested) }.map(\.scope)
    }

    /// The user claims of `scope`'s scopes and of `requested` (a `claims` request's member):
    /// those the user has, once each, in a stable order. `sub` is apart: always there.
    public static func claims(of user: User, scope: Scope, requested: [String] = []) -> [(name: String, value: ClaimValue)] {
        let fromScope = byScope.filter { scope.tokens.contains($0.scope) }.flatMap(\.claims)
        var seen = Set<String>()
        return (fromScope + requested).compactMap { name in
            guard seen.insert(name).inserted, let value = value(of: name, for: user) else { return nil }
            return (name, value)
        }
    }

    static func value(of name: String, for user: User) -> ClaimValue? {
        let profile = user.profile
        switch name {
        case "name": return profile.name.map(ClaimValue.string)
        case "given_name": return profile.givenName.map(ClaimValue.string)
        case "family_name": return profile.familyName.map(ClaimValue.string)
        case "preferred_username": return .string(user.username)
        case "updated_at": return .int(Int(profile.updatedAt.timeIntervalSince1970.rounded(.down)))
        // email_verified says something about an email only when there is one.
        case "email": return profile.email.map(ClaimValue.string)
        case "email_verified": return profile.email == nil ? nil : .bool(profile.emailVerified)
        default: return nil
        }
    }
}
