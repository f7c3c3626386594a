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

    /// Decodes text; nil when it is not base64url. Byte by byte: Foundation's string
    /// replacing on Linux cost a quarter of a signed request's CPU.
    public static func decode(_ text: some StringProtocol) -> Data? {
        decode(utf8: text.utf8, canonical: false)
    }

    /// Decodes text spelled the one way RFC 7515 §2 allows (no padding, unused bits zero),
    /// so that one value has one spelling; nil otherwise.
    public static func decodeCanonical(_ text: some StringProtocol) -> Data? {
        decode(utf8: text.utf8, canonical: true)
    }

    /// `decodeCanonical` of text given as its UTF-8 bytes.
    public static func decodeCanonical(utf8: some Collection<UInt8>) -> Data? {
        decode(utf8: utf8, canonical: true)
    }

    private static let values: [UInt8] = {
        var values = [UInt8](repeating: 0xFF, count: 256)
        for (index, character) in alphabet.enumerated() { values[Int(character)] = UInt8(index) }
        return values
    }()

    private static func decode(utf8: some Collection<UInt8>, canonical: Bool) -> Data? {
        var output: [UInt8] = []
        var accumulator: UInt32 = 0
        var bits = 0
        var count = 0
        output.reserveCapacity(utf8.count * 3 / 4)
        for character in utf8 {
            let value = values[Int(character)]
            guard value != 0xFF else { return nil }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            count += 1
            if bits >= 8 {
                bits -= 8
                output.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
                accumulator &= (1 << UInt32(bits)) - 1
            }
        }
        // One character left over is never a whole byte; the unused bits of the last
        // character must be zero for the canonical spelling.
        guard count % 4 != 1, !canonical || accumulator == 0 else { return nil }
        return Data(output)
    }
}
