/// ECDSA P-256 signatures in low-S form. For a valid signature (r, s), (r, n − s)
/// verifies too: without a rule, every ES256 token has a second spelling, another
/// token string that is just as valid (SECURITY.md: one token string per token).
/// Warden issues only s ≤ n/2 and accepts only that.
enum LowS {
    /// The order n of P-256's base point, big-endian.
    static let order: [UInt8] = [
        0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51,
    ]
    /// ⌊n / 2⌋, big-endian.
    static let halfOrder: [UInt8] = [
        0x7F, 0xFF, 0xFF, 0xFF, 0x80, 0x00, 0x00, 0x00, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xDE, 0x73, 0x7D, 0x56, 0xD3, 0x8B, 0xCF, 0x42, 0x79, 0xDC, 0xE5, 0x61, 0x7E, 0x31, 0x92, 0xA8,
    ]

    /// Whether the raw `r ‖ s` signature (64 bytes) has s ≤ n/2.
    static func isLow(_ signature: [UInt8]) -> Bool {
        // Equal-length big-endian numbers compare as their bytes do.
        signature.count == 64 && !halfOrder.lexicographicallyPrecedes(signature[32...])
    }

    /// The same signature with s replaced by n − s when s > n/2.
    static func normalized(_ signature: [UInt8]) -> [UInt8] {
        guard signature.count == 64, !isLow(signature) else { return signature }
        var result = Array(signature[..<32])
        var difference = [UInt8](repeating: 0, count: 32)
        var borrow = 0
        for index in (0..<32).reversed() {
            var value = Int(order[index]) - Int(signature[32 + index]) - borrow
            borrow = value < 0 ? 1 : 0
            if value < 0 { value += 256 }
            difference[index] = UInt8(value)
        }
        result += difference
        return result
    }
}
