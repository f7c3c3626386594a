import Crypto
import Foundation

/// What the proof-of-possession features keep: spent JWT identifiers (client assertions
/// and DPoP proofs, single use across instances), pushed authorization requests, and the
/// secret DPoP nonces are derived from. One implementation per storage backend.
public protocol ProofOfPossessionRepository: Sendable {
    /// Marks the identifier with this digest used until `expiresAt`, atomically across
    /// instances; false when it is already used and that use has not expired at `now`.
    func spendJTI(digest: [UInt8], kind: UsedJTIKind, expiresAt: Date, now: Date) async throws -> Bool
    /// Stores a pushed authorization request.
    func insertPushedRequest(_ request: PushedAuthorizationRequest) async throws
    /// The pushed request with this digest, unless it has expired at `now`.
    func pushedRequest(digest: [UInt8], now: Date) async throws -> PushedAuthorizationRequest?
    /// Deletes the pushed request with this digest; false when it was not there (used, or never).
    func consumePushedRequest(digest: [UInt8]) async throws -> Bool
    /// The server secret with this name, made by `make` the first time; every instance
    /// sharing the database gets the same one.
    func serverSecret(name: String, make: @Sendable () -> [UInt8]) async throws -> [UInt8]
    /// Deletes at most `limit` expired identifiers and pushed requests each; returns how many rows went.
    func purgeExpiredProofs(before now: Date, limit: Int) async throws -> Int
}

/// Which kind of JWT a spent identifier came from (kept apart so they never collide).
public enum UsedJTIKind: String, Sendable {
    case clientAssertion = "client_assertion"
    case dpopProof = "dpop_proof"

    /// The stored digest of `jti` issued by `issuer` (a client id, or a DPoP key's thumbprint).
    public func digest(issuer: String, jti: String) -> [UInt8] {
        Array(SHA256.hash(data: Data("\(rawValue)\u{0}\(issuer)\u{0}\(jti)".utf8)))
    }
}

/// A pushed authorization request (RFC 9126) as stored: the form text of its
/// parameters, validated, with the client's credentials taken out.
public struct PushedAuthorizationRequest: Sendable, Equatable {
    /// SHA-256 of the `request_uri`.
    public var digest: [UInt8]
    public var clientID: String
    public var parameters: String
    public var expiresAt: Date

    public init(digest: [UInt8], clientID: String, parameters: String, expiresAt: Date) {
        self.digest = digest
        self.clientID = clientID
        self.parameters = parameters
        self.expiresAt = expiresAt
    }
}
