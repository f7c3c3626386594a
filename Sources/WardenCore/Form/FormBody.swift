import Foundation

/// A strictly parsed `application/x-www-form-urlencoded` body or query.
///
/// RFC 6749 §3.1: parameters must not be repeated (except those listed as
/// repeatable, like RFC 8707 `resource`); OAuth 2.1: empty values count as absent.
/// Invalid percent-encoding or UTF-8 is rejected rather than guessed at.
public struct FormBody: Sendable, Equatable {
    /// Parameters that may legitimately appear more than once.
    public static let repeatableParameters: Set<String> = ["resource"]
    /// More parameters than this is not an OAuth request.
    public static let maximumParameterCount = 64

    private var fields: [String: [String]]

    /// Parses `name=value&...` bytes. (Concrete, not generic: this runs on every
    /// token request, and a generic across modules is not specialised.)
    public init(parsing bytes: [UInt8]) throws(OAuthError) {
        var fields: [String: [String]] = [:]
        var count = 0
        for pair in bytes.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            count += 1
            guard count <= Self.maximumParameterCount else {
                throw .invalidRequest("Too many parameters")
            }
            let nameEnd = pair.firstIndex(of: UInt8(ascii: "=")) ?? pair.endIndex
            let name = try FormURLDecoding.decode(pair[pair.startIndex..<nameEnd])
            let value = nameEnd == pair.endIndex ? "" : try FormURLDecoding.decode(pair[(nameEnd + 1)...])
            guard !name.isEmpty else { throw .invalidRequest("Empty parameter name") }
            if fields[name] != nil, !Self.repeatableParameters.contains(name) {
                throw .invalidRequest("Parameter \(name) is repeated")
            }
            if !value.isEmpty { fields[name, default: []].append(value) } else { fields[name] = fields[name] ?? [] }
        }
        self.fields = fields
    }

    /// Builds a body from already-decoded values (tests, internal callers).
    public init(_ values: [String: String]) {
        self.fields = values.mapValues { $0.isEmpty ? [] : [$0] }
    }

    /// The single value of a parameter; nil when absent or empty.
    public subscript(name: String) -> String? { fields[name]?.first }

    /// Every non-empty value of a repeatable parameter.
    public func values(of name: String) -> [String] { fields[name] ?? [] }

    /// Sets a parameter to one value; nil removes it.
    public mutating func set(_ name: String, _ value: String?) { fields[name] = value.map { [$0] } }

    /// The form as `application/x-www-form-urlencoded` text, names in order, empty values left out.
    public var encoded: String {
        fields.keys.sorted().flatMap { name in
            (fields[name] ?? []).map { "\(Self.escaped(name))=\(Self.escaped($0))" }
        }.joined(separator: "&")
    }

    private static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
    private static func escaped(_ text: String) -> String { text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? "" }
}
