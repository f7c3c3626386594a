import Foundation
import WardenCore

/// How both database backends write values that have no column type of their own, so
/// that an export of one reads back in the other: lists as JSON arrays, scopes
/// space-delimited as RFC 6749 writes them, times as Unix seconds.
public enum StoredForm {
    public static func json(_ strings: [String]) throws -> String {
        String(decoding: try JSONEncoder().encode(strings), as: UTF8.self)
    }

    /// A map of strings as a JSON object, keys sorted (an audit event's fields).
    public static func json(_ fields: [String: String]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(fields), as: UTF8.self)
    }

    public static func fields(_ json: String) throws -> [String: String] {
        try JSONDecoder().decode([String: String].self, from: Data(json.utf8))
    }

    public static func strings(_ json: String) throws -> [String] {
        if let strings = plainStrings(json) { return strings }
        return try JSONDecoder().decode([String].self, from: Data(json.utf8))
    }

    /// What `json(_:)` writes for strings without quotes or backslashes, read in one pass
    /// over the bytes (JSONDecoder costs more than the rest of a token exchange's row
    /// reading): `["a","b"]`, where JSONEncoder escapes only `/`, as `\/`. Nil for anything else.
    static func plainStrings(_ json: String) -> [String]? {
        var bytes = json.utf8.makeIterator()
        guard bytes.next() == UInt8(ascii: "[") else { return nil }
        var strings: [String] = []
        var current: [UInt8] = []
        var next = bytes.next()
        if next == UInt8(ascii: "]") { return bytes.next() == nil ? [] : nil }
        while next == UInt8(ascii: "\"") {
            current.removeAll(keepingCapacity: true)
            while true {
                guard let byte = bytes.next() else { return nil }
                if byte == UInt8(ascii: "\"") { break }
                if byte == UInt8(ascii: "\\") {
                    guard bytes.next() == UInt8(ascii: "/") else { return nil }
                    current.append(UInt8(ascii: "/"))
                } else {
                    current.append(byte)
                }
            }
            strings.append(String(decoding: current, as: UTF8.self))
            switch bytes.next() {
            case UInt8(ascii: ","): next = bytes.next()
            case UInt8(ascii: "]"): return bytes.next() == nil ? strings : nil
            default: return nil
            }
        }
        return nil
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
