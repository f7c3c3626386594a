import Foundation

/// How both database backends write values that have no column type of their own, so
/// that an export of one reads back in the other: lists as JSON arrays, scopes
/// space-delimited as RFC 6749 writes them, times as Unix seconds.
public enum StoredForm {
    public static func json(_ strings: [String]) throws -> String {
        String(decoding: try JSONEncoder().encode(strings), as: UTF8.self)
    }

    public static func strings(_ json: String) throws -> [String] {
        try JSONDecoder().decode([String].self, from: Data(json.utf8))
    }

    public static func scope(_ text: String) -> Scope { Scope(tokens: text.split(separator: " ").map(String.init)) }

    public static func grantTypes(_ text: String) -> [GrantType] { text.split(separator: " ").map { GrantType(rawValue: String($0)) } }

    public static func grantTypes(_ types: [GrantType]) -> String { types.map(\.rawValue).joined(separator: " ") }
}

extension Date {
    /// Unix seconds, as the schemas store times.
    public var unixSeconds: Int64 { Int64(timeIntervalSince1970.rounded(.down)) }
    public init(unixSeconds: Int64) { self.init(timeIntervalSince1970: TimeInterval(unixSeconds)) }
}
