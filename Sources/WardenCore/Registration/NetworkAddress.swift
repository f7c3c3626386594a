/// Which addresses a client-supplied URL may make the server connect to. A client id or
/// key URL is the client's to choose, so without this rule it could make the server
/// fetch from its own network (SSRF): loopback, private, link-local (cloud metadata at
/// 169.254.169.254), shared, multicast and reserved ranges are refused.
public enum NetworkAddress {
    /// Whether the IPv4 (4 bytes) or IPv6 (16 bytes) address is on the public internet.
    public static func isPublic(_ bytes: [UInt8]) -> Bool {
        switch bytes.count {
        case 4: return isPublicIPv4(bytes)
        case 16: return isPublicIPv6(bytes)
        default: return false
        }
    }

    static func isPublicIPv4(_ a: [UInt8]) -> Bool {
        switch (a[0], a[1]) {
        case (0, _), (10, _), (127, _): false  // "this network", private, loopback
        case (100, 64...127): false  // shared address space (carrier-grade NAT)
        case (169, 254): false  // link-local
        case (172, 16...31), (192, 168): false  // private
        case (192, 0) where a[2] == 0 || a[2] == 2: false  // IETF protocol assignments, TEST-NET-1
        case (198, 18...19): false  // benchmarking
        case (198, 51) where a[2] == 100, (203, 0) where a[2] == 113: false  // TEST-NET-2, -3
        case (224...255, _): false  // multicast, reserved, broadcast
        default: true
        }
    }

    static func isPublicIPv6(_ a: [UInt8]) -> Bool {
        // IPv4-mapped (::ffff:a.b.c.d) and the NAT64 prefix 64:ff9b::/96 reach IPv4 addresses.
        if a[0..<10].allSatisfy({ $0 == 0 }), a[10] == 0xFF, a[11] == 0xFF { return isPublicIPv4(Array(a[12...])) }
        if a[0..<12] == [0, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0] { return isPublicIPv4(Array(a[12...])) }
        if a[0..<15].allSatisfy({ $0 == 0 }) { return false }  // :: and ::1
        if a[0] & 0xFE == 0xFC { return false }  // unique local fc00::/7
        if a[0] == 0xFE, a[1] & 0xC0 == 0x80 { return false }  // link-local fe80::/10
        if a[0] == 0xFF { return false }  // multicast
        if a[0] == 0x20, a[1] == 0x01, a[2] == 0x0D, a[3] == 0xB8 { return false }  // documentation 2001:db8::/32
        return true
    }
}
