/// The `application/x-www-form-urlencoded` value decoding (WHATWG URL §5.1, used by
/// RFC 6749 Appendix B and by HTTP Basic client credentials, RFC 6749 §2.3.1).
public enum FormURLDecoding {
    /// Decodes `+` to space and `%XX` to a byte; the result must be valid UTF-8.
    public static func decode(_ encoded: ArraySlice<UInt8>) throws(OAuthError) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(encoded.count)
        var index = encoded.startIndex
        while index != encoded.endIndex {
            let byte = encoded[index]
            switch byte {
            case UInt8(ascii: "+"):
                bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                let high = encoded.index(after: index)
                guard high != encoded.endIndex else { throw .invalidRequest("Invalid percent-encoding") }
                let low = encoded.index(after: high)
                guard low != encoded.endIndex, let h = hexValue(encoded[high]), let l = hexValue(encoded[low]) else {
                    throw .invalidRequest("Invalid percent-encoding")
                }
                bytes.append(h << 4 | l)
                index = low
            default:
                bytes.append(byte)
            }
            index = encoded.index(after: index)
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw .invalidRequest("Parameters must be UTF-8")
        }
        guard !bytes.contains(0) else {
            throw .invalidRequest("Parameters must not contain NUL")
        }
        return text
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
