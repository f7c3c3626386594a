import Foundation

/// One device authorization request (RFC 8628 §3.1–3.2) as stored: its codes, what the
/// device asked for, and where the person's decision stands.
public struct DeviceAuthorizationRecord: Sendable, Equatable {
    /// SHA-256 of the device code: the device's bearer secret, kept as a digest.
    public var deviceCodeDigest: [UInt8]
    /// The code the person types, in its stored form (`UserCode.normalized`).
    public var userCode: String
    public var clientID: String
    public var scope: Scope
    public var audience: [String]
    public var createdAt: Date
    public var expiresAt: Date
    /// Seconds the device must wait between polls; `slow_down` adds five (RFC 8628 §3.5).
    public var interval: Int
    public var lastPolledAt: Date?
    /// Set when the person said no.
    public var denied: Bool
    /// Set when the person approved: the grant, created then, that the winning poll redeems.
    public var grant: GrantRecord?
    /// Set when a poll received the tokens.
    public var redeemedAt: Date?

    public init(
        deviceCodeDigest: [UInt8], userCode: String, clientID: String, scope: Scope, audience: [String], createdAt: Date,
        expiresAt: Date, interval: Int, lastPolledAt: Date? = nil, denied: Bool = false, grant: GrantRecord? = nil,
        redeemedAt: Date? = nil
    ) {
        self.deviceCodeDigest = deviceCodeDigest
        self.userCode = userCode
        self.clientID = clientID
        self.scope = scope
        self.audience = audience
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.interval = interval
        self.lastPolledAt = lastPolledAt
        self.denied = denied
        self.grant = grant
        self.redeemedAt = redeemedAt
    }

    /// Seconds an expired request is kept, so that its device is told `expired_token`
    /// rather than `invalid_grant`.
    public static let keptAfterExpiry: Int64 = 3600

    /// Waiting for the person: not decided and not expired at `now`.
    public func isPending(at now: Date) -> Bool { !denied && grant == nil && now < expiresAt }
}

/// Where device authorizations are kept. Deciding and redeeming are each one atomic
/// step, so a decision is made once and an approval pays out to exactly one poll.
public protocol DeviceAuthorizationRepository: Sendable {
    /// Stores a new request; false (nothing stored) when its user code is taken.
    func insertDeviceAuthorization(_ record: DeviceAuthorizationRecord) async throws -> Bool
    /// The request with this user code, if it is still pending at `now`.
    func pendingDeviceAuthorization(userCode: String, at now: Date) async throws -> DeviceAuthorizationRecord?
    /// Records the person's decision on a request still pending at `now`: approved with
    /// `grant` (stored in the same transaction) or, with nil, denied. False when the
    /// request was no longer pending (decided elsewhere, or expired), and nothing changed.
    func decideDeviceAuthorization(userCode: String, grant: GrantRecord?, at now: Date) async throws -> Bool
    /// As `GrantRepository.withLockedCode`, for the request with this device code: read
    /// locked, decided by `step`, and its writes applied in one transaction.
    func withLockedDeviceCode<T: Sendable>(
        digest: [UInt8], at now: Date, _ step: @escaping @Sendable (DeviceAuthorizationRecord?) throws -> GrantStep<T>
    ) async throws -> T
}
