import Foundation
import Synchronization
import Testing
import WardenCore
@testable import WardenTokens

@Suite("Key ring: signing and verifying access tokens")
struct KeyRingTests {
    let kek = KeyEncryptionKey.generate().key

    /// A ring holding one new key of `algorithm`, as the server loads it.
    func ring(_ algorithm: SigningAlgorithm) async throws -> KeyRing {
        let keys = InMemorySigningKeys()
        try await SigningKeyManager(repository: keys, encryptionKey: kek).ensureSigningKey(algorithm: algorithm)
        let ring = KeyRing(issuer: "https://issuer", encryptionKey: kek, accessTokenAlgorithm: algorithm)
        try await ring.load(try await keys.allSigningKeys(), now: Date())
        return ring
    }

    @Test("a signature spelled otherwise (padding, stray bits in its last character) does not verify", arguments: SigningAlgorithm.allCases)
    func respelledSignature(_ algorithm: SigningAlgorithm) async throws {
        do {
            let ring = try await ring(algorithm)
            let token = try await ring.sign(AccessTokenClaims(
                issuer: "https://issuer", subject: "s", audience: ["https://api"], clientID: "c", scope: Scope(tokens: ["a"]),
                issuedAt: Date(), expiresAt: Date().addingTimeInterval(300), jwtID: "j1"))
            #expect(await ring.verify(token)?.jwtID == "j1")
            let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
            let last = try #require(token.last.flatMap { alphabet.firstIndex(of: $0) })
            // A signature of 3n + 1 bytes (all of ours) leaves 4 bits of its last character
            // unused, of 3n + 2 bytes 2; these spellings differ only there.
            let signatureLength = try #require(token.split(separator: ".").last).count
            let unused = [0, 0, 4, 2][signatureLength % 4]
            #expect(unused > 0)
            let siblings = (0..<(1 << unused)).map { last & ~((1 << unused) - 1) | $0 }.filter { $0 != last }
            var respelled = [token + "=", token + "=="]
            respelled += siblings.map { String(token.dropLast()) + String(alphabet[$0]) }
            for variant in respelled {
                #expect(await ring.verify(variant) == nil, "\(variant.suffix(4)) verified")
            }
        }
    }
}

extension KeyRingTests {
    @Test("ES256 signatures are issued in low-S form, and the high-S twin of a token does not verify")
    func lowS() async throws {
        let ring = try await ring(.es256)
        for index in 0..<64 {
            let token = try await ring.sign(AccessTokenClaims(
                issuer: "https://issuer", subject: "s", audience: ["https://api"], clientID: "c", scope: Scope(tokens: ["a"]),
                issuedAt: Date(), expiresAt: Date().addingTimeInterval(300), jwtID: "j\(index)"))
            let parts = token.split(separator: ".")
            let signature = Array(try #require(Base64URL.decode(parts[2])))
            #expect(LowS.isLow(signature))
            #expect(await ring.verify(token)?.jwtID == "j\(index)")
            // n − s: the other valid spelling of the same signature.
            var twin = Array(signature[..<32])
            var borrow = 0
            var high = [UInt8](repeating: 0, count: 32)
            for byte in (0..<32).reversed() {
                var value = Int(LowS.order[byte]) - Int(signature[32 + byte]) - borrow
                borrow = value < 0 ? 1 : 0
                if value < 0 { value += 256 }
                high[byte] = UInt8(value)
            }
            twin += high
            #expect(!LowS.isLow(twin))
            #expect(LowS.normalized(twin) == signature)
            let respelled = "\(parts[0]).\(parts[1]).\(Base64URL.encode(twin))"
            #expect(await ring.verify(respelled) == nil)
        }
    }
}

/// Signing keys kept in memory, in the order stored.
final class InMemorySigningKeys: SigningKeyRepository {
    let keys = Mutex<[SigningKeyRecord]>([])
    func allSigningKeys() async throws -> [SigningKeyRecord] { keys.withLock { $0 } }
    func insert(_ key: SigningKeyRecord) async throws { keys.withLock { $0.append(key) } }
    func retireSigningKey(kid: String, at date: Date) async throws -> Bool {
        keys.withLock { keys in
            guard let index = keys.firstIndex(where: { $0.kid == kid && $0.retiredAt == nil }) else { return false }
            keys[index].retiredAt = date
            return true
        }
    }
}
