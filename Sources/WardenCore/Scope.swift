/// An OAuth scope: an ordered set of scope tokens (RFC 6749 §3.3).
public struct Scope: Sendable, Hashable, CustomStringConvertible {
    /// The scope tokens, in the order first given, without duplicates.
    public let tokens: [String]

    /// Parses a space-delimited scope string. RFC 6749 §3.3:
    /// `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
    public init(parsing text: String) throws(OAuthError) {
        var seen = Set<String>()
        var tokens: [String] = []
        for token in text.split(separator: " ", omittingEmptySubsequences: true).map(String.init) {
            guard token.unicodeScalars.allSatisfy(Self.isScopeCharacter) else {
                throw OAuthError(.invalidScope, "Scope contains a character RFC 6749 does not allow")
            }
            if seen.insert(token).inserted { tokens.append(token) }
        }
        self.tokens = tokens
    }

    /// A scope from tokens already known to be valid.
    public init(tokens: [String]) {
        var seen = Set<String>()
        self.tokens = tokens.filter { seen.insert($0).inserted }
    }

    /// The empty scope.
    public static let empty = Scope(tokens: [])

    /// Whether every token of this scope is also in `other`.
    public func isSubset(of other: Scope) -> Bool {
        Set(tokens).isSubset(of: Set(other.tokens))
    }

    /// Whether there are no tokens.
    public var isEmpty: Bool { tokens.isEmpty }

    /// The space-delimited form.
    public var description: String { tokens.joined(separator: " ") }

    static func isScopeCharacter(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        return v == 0x21 || (0x23...0x5B).contains(v) || (0x5D...0x7E).contains(v)
    }
}

extension Scope {
    /// The scope a client gets: the requested one when it is within the client's
    /// registered scope, the registered scope when none is requested.
    /// A scope outside the registered one is `invalid_scope`, never silently narrowed.
    public static func granted(requested: String?, registered: Scope) throws(OAuthError) -> Scope {
        guard let requested else { return registered }
        let scope = try Scope(parsing: requested)
        guard scope.isSubset(of: registered) else {
            throw OAuthError(.invalidScope, "The requested scope exceeds the scope registered for this client")
        }
        return scope
    }
}
