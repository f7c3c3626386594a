import Foundation

/// A JWS in compact serialization (RFC 7515 §7.1) that a client signed, read before
/// anything about it is trusted: its header and payload as JSON objects (every member
/// visible, so `crit` and private key members can be refused), the bytes that were
/// signed and the signature.
public struct CompactJWS {
    public let header: [String: Any]
    public let payload: [String: Any]
    public let signingInput: [UInt8]
    public let signature: Data

    /// Longer than this is not an assertion or a proof (an RSA-signed one is about 1 KiB).
    public static let maximumLength = 8192

    /// Why a JWS could not be read (not sent to clients).
    public struct Malformed: Error, CustomStringConvertible {
        public let description: String
    }

    /// Reads `text`; the algorithm must be one Warden accepts from clients.
    public init(_ text: String) throws(Malformed) {
        guard text.utf8.count <= Self.maximumLength else { throw Malformed(description: "longer than \(Self.maximumLength) bytes") }
        let parts = text.utf8.split(separator: UInt8(ascii: "."), maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw Malformed(description: "not three dot-separated parts") }
        guard let headerBytes = Base64URL.decodeCanonical(utf8: parts[0]), let payloadBytes = Base64URL.decodeCanonical(utf8: parts[1]),
            let signature = Base64URL.decodeCanonical(utf8: parts[2])
        else { throw Malformed(description: "a part is not base64url") }
        guard let header = try? JSONSerialization.jsonObject(with: headerBytes) as? [String: Any],
            let payload = try? JSONSerialization.jsonObject(with: payloadBytes) as? [String: Any]
        else { throw Malformed(description: "the header or payload is not a JSON object") }
        // RFC 7515 §4.1.11: an extension we do not understand must not be ignored.
        guard header["crit"] == nil else { throw Malformed(description: "crit is not supported") }
        self.header = header
        self.payload = payload
        self.signingInput = Array(text.utf8[parts[0].startIndex..<parts[1].endIndex])
        self.signature = signature
    }

    /// The header's `alg`, if it is one Warden accepts from clients.
    public var algorithm: JWSAlgorithm? { (header["alg"] as? String).flatMap(JWSAlgorithm.init(rawValue:)) }

    /// A string member of the payload.
    public func string(_ name: String) -> String? { payload[name] as? String }

    /// A NumericDate member of the payload (RFC 7519 §2), as a date; nil when absent or not a number.
    public func date(_ name: String) -> Date? {
        let seconds: Double
        switch payload[name] {
        case let value as Int: seconds = Double(value)
        case let value as Double: seconds = value
        case let value as NSNumber: seconds = value.doubleValue
        default: return nil
        }
        guard seconds.isFinite, abs(seconds) < 1e11 else { return nil }
        return Date(timeIntervalSince1970: seconds)
    }

    /// Whether `key` signed it with its `alg`.
    public func isSigned(by key: ClientJWK) -> Bool {
        guard let algorithm else { return false }
        return key.verifies(signature, of: signingInput, algorithm: algorithm)
    }
}
