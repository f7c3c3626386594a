import Foundation

/// The person's side of the device flow (RFC 8628 §3.3), behind the `/device` pages:
/// finding the request a typed user code names, and recording the decision. User codes
/// are short, so every lookup counts against the address's sign-in failure budget
/// before the database is asked, and a code that names a pending request is forgiven.
public struct DeviceVerification: Sendable {
    /// What a typed code found.
    public enum Lookup: Sendable {
        case found(DeviceAuthorizationRecord, Client)
        /// Not a code, unknown, decided or expired: the page does not say which.
        case notFound
        case rateLimited(retryAfter: Int)
    }

    let store: any DeviceAuthorizationRepository
    let clients: any ClientRepository
    /// Failed attempts per client address: `login_failures_per_address`, shared with sign-in.
    let perAddress: any FailureCounting
    let clock: any WardenClock

    public init(store: any DeviceAuthorizationRepository, clients: any ClientRepository, perAddress: any FailureCounting, clock: any WardenClock) {
        self.store = store
        self.clients = clients
        self.perAddress = perAddress
        self.clock = clock
    }

    /// The pending request `typed` names, asked for from `address`.
    public func lookup(_ typed: String, address: String) async throws -> Lookup {
        let now = clock.now()
        if let wait = try await perAddress.admit(address, now: now) { return .rateLimited(retryAfter: wait) }
        guard let code = UserCode.normalized(typed), let record = try await store.pendingDeviceAuthorization(userCode: code, at: now),
            let client = try await clients.client(id: record.clientID)
        else { return .notFound }
        try await perAddress.forgive(address, admittedAt: now)
        return .found(record, client)
    }

    /// The person approved: a grant of what the device asked for, for `userID`, created now
    /// and redeemed by the device's next poll. An OpenID request keeps the session's `sid`
    /// and `auth_time`, as the code flow does. False when the request was no longer pending.
    public func approve(_ record: DeviceAuthorizationRecord, userID: String, session: BrowserSession?) async throws -> Bool {
        let now = clock.now()
        let openID = record.scope.tokens.contains("openid")
        let grant = GrantRecord(
            id: RandomToken.timeOrderedIdentifier(at: now), clientID: record.clientID, userID: userID, scope: record.scope,
            // Until redeemed, the grant outlives the request by as long as the request is kept after
            // expiry: purging it sooner would take the request with it (invalid_grant, not expired_token).
            audience: record.audience, createdAt: now, expiresAt: record.expiresAt.addingTimeInterval(TimeInterval(DeviceAuthorizationRecord.keptAfterExpiry)),
            sessionID: openID ? session?.sid : nil,
            authTime: openID ? session?.authenticatedAt : nil)
        return try await store.decideDeviceAuthorization(userCode: record.userCode, grant: grant, at: now)
    }

    /// The person said no: the device's next poll gets `access_denied`.
    public func deny(_ record: DeviceAuthorizationRecord) async throws -> Bool {
        try await store.decideDeviceAuthorization(userCode: record.userCode, grant: nil, at: clock.now())
    }
}
