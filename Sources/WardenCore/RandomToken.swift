import Crypto
import Foundation

/// Unguessable identifiers and secrets from the system's CSPRNG, base64url without padding.
public enum RandomToken {
    /// `byteCount` random bytes, base64url-encoded.
    public static func make(byteCount: Int) -> String {
        Base64URL.encode(bytes(byteCount))
    }

    /// `byteCount` random bytes as lowercase hex: for identifiers an operator types
    /// as command arguments, which must never start with `-`.
    public static func identifier(byteCount: Int) -> String {
        hex(bytes(byteCount))
    }

    /// Like `identifier(byteCount: 16)`, but the first 6 bytes are `now` in milliseconds
    /// (as in a version 7 UUID, RFC 9562 §5.7) and 10 are random. For grant ids: rows and
    /// index entries keyed by them are then written in time order, so the writes of a
    /// group commit land on a few shared pages instead of one random page each.
    public static func timeOrderedIdentifier(at now: Date) -> String {
        let millis = UInt64(max(0, now.timeIntervalSince1970 * 1000))
        let time = (0..<6).map { UInt8(truncatingIfNeeded: millis >> (8 * (5 - $0))) }
        return hex(time + bytes(10))
    }

    private static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { String($0, radix: 16).leftPadded(to: 2) }.joined()
    }

    /// From BoringSSL's CSPRNG (seeded by the kernel), one call for all the bytes:
    /// a `getrandom` per byte showed up in the token route's profile.
    public static func bytes(_ count: Int) -> [UInt8] {
        SymmetricKey(size: SymmetricKeySize(bitCount: count * 8)).withUnsafeBytes { Array($0) }
    }
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String {
        String(repeating: "0", count: max(0, length - count)) + self
    }
}

/// base64url (RFC 4648 §5) without padding, as JOSE and OAuth use it.
public enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// Encodes bytes.
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var output: [UInt8] = []
        append(bytes, to: &output)
        return String(decoding: output, as: UTF8.self)
    }

    /// Appends the encoding of `bytes` to `output` (the token signer builds JWTs this way).
    public static func append(_ bytes: some Sequence<UInt8>, to output: inout [UInt8]) {
        let input = Array(bytes)
        output.reserveCapacity(output.count + (input.count * 4 + 2) / 3)
        var index = 0
        while index + 3 <= input.count {
            let chunk = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8 | UInt32(input[index + 2])
            output.append(alphabet[Int(chunk >> 18 & 63)])
            output.append(alphabet[Int(chunk >> 12 & 63)])
            output.append(alphabet[Int(chunk >> 6 & 63)])
            output.append(alphabet[Int(chunk & 63)])
            index += 3
        }
        switch input.count - index {
        case 1:
            let chunk = UInt32(input[index]) << 16
            output.append(alphabet[Int(chunk >> 18 & 63)])
            output.append(alphabet[Int(chunk >> 12 & 63)])
        case 2:
            let chunk = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8
            output.append(alphabet[Int(chunk >> 18 & 63)])
            output.append(alphabet[Int(chunk >> 12 & 63)])
            output.append(alphabet[Int(chunk >> 6 & 63)])
        default:
            break
        }
    }

    /// Decodes text; nil when it is not base64url.
    public static func decode(_ text: some StringProtocol) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        guard !base64.contains("=") else { return nil }
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        return Data(base64Encoded: base64)
    }

    /// Decodes text spelled the one way RFC 7515 §2 allows (no padding, unused bits zero),
    /// so that one value has one spelling; nil otherwise.
    public static func decodeCanonical(_ text: some StringProtocol) -> Data? {
        guard let bytes = decode(text), encode(bytes) == text else { return nil }
        return bytes
    }
}
