/// Writes one flat JSON object (RFC 8259) straight into bytes, for the few documents
/// on hot paths (token and introspection responses, JWT claims) where a generic
/// `JSONEncoder` cost more than the signature. Keys are written as given and must
/// be plain ASCII names; string values are escaped.
public struct JSONObjectWriter: Sendable {
    private var bytes: [UInt8]
    private var empty = true

    public init(capacity: Int = 512) {
        bytes = []
        bytes.reserveCapacity(capacity)
        bytes.append(UInt8(ascii: "{"))
    }

    /// `"key":"value"`
    public mutating func add(_ key: StaticString, _ value: String) {
        addKey(key)
        appendString(value)
    }

    /// `"key":value` for an integer.
    public mutating func add(_ key: StaticString, _ value: Int) {
        addKey(key)
        bytes.append(contentsOf: String(value).utf8)
    }

    /// `"key":true` or `false`.
    public mutating func add(_ key: StaticString, _ value: Bool) {
        addKey(key)
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    /// `"key":["a","b"]`
    public mutating func add(_ key: StaticString, _ values: [String]) {
        addKey(key)
        bytes.append(UInt8(ascii: "["))
        for (index, value) in values.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            appendString(value)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    /// `"name":"value"` for a name known only at run time (a user claim's).
    public mutating func add(name: String, _ value: String) {
        addKey(name)
        appendString(value)
    }

    /// `"name":value` for an integer, the name known only at run time.
    public mutating func add(name: String, _ value: Int) {
        addKey(name)
        bytes.append(contentsOf: String(value).utf8)
    }

    /// `"name":true` or `false`, the name known only at run time.
    public mutating func add(name: String, _ value: Bool) {
        addKey(name)
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    /// `"key":` followed by `json`, which must be a valid JSON value.
    public mutating func addRaw(_ key: StaticString, _ json: String) {
        addKey(key)
        bytes.append(contentsOf: json.utf8)
    }

    /// The finished object.
    public func finish() -> [UInt8] {
        bytes + [UInt8(ascii: "}")]
    }

    private mutating func addKey(_ key: StaticString) {
        if !empty { bytes.append(UInt8(ascii: ",")) }
        empty = false
        bytes.append(UInt8(ascii: "\""))
        key.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: "\":".utf8)
    }

    private mutating func addKey(_ name: String) {
        if !empty { bytes.append(UInt8(ascii: ",")) }
        empty = false
        appendString(name)
        bytes.append(UInt8(ascii: ":"))
    }

    private static let hex = Array("0123456789abcdef".utf8)

    /// RFC 8259 §7: quote, backslash and control characters escaped; the rest as UTF-8.
    private mutating func appendString(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        defer { bytes.append(UInt8(ascii: "\"")) }
        // Tokens, ids and URLs need no escaping: copy them whole.
        if !value.utf8.contains(where: { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") || $0 < 0x20 }) {
            bytes.append(contentsOf: value.utf8)
            return
        }
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x00..<0x20:
                bytes.append(contentsOf: "\\u00".utf8)
                bytes.append(Self.hex[Int(byte >> 4)])
                bytes.append(Self.hex[Int(byte & 0x0F)])
            default: bytes.append(byte)
            }
        }
    }
}
