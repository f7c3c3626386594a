import Foundation

/// RFC 8628 §3.4–3.5: a device polls with its device code until its person decides.
/// Each poll is one locked step: too fast is `slow_down` (and five more seconds for
/// every later poll), undecided `authorization_pending`, denied `access_denied`, expired
/// `expired_token`; once approved, exactly one poll redeems the grant for tokens and
/// later ones get `invalid_grant`.
public struct DeviceCodeGrant: GrantHandler {
    /// How a poll ended.
    public enum Poll: Sendable, Equatable {
        case unknown, pending, slowDown, denied, expired, redeemed
        /// The winning poll: the approved grant, now the device's.
        case approved(GrantRecord)
    }

    let tokens: UserTokenIssuer
    let store: any DeviceAuthorizationRepository
    let clock: any WardenClock

    public init(tokens: UserTokenIssuer, store: any DeviceAuthorizationRepository, clock: any WardenClock) {
        self.tokens = tokens
        self.store = store
        self.clock = clock
    }

    public func respond(to form: FormBody, client: Client, dpopKey: String?) async throws -> TokenResponse {
        guard let value = form["device_code"] else { throw OAuthError.invalidRequest("device_code is required") }
        let now = clock.now()
        let refresh = client.grantTypes.contains(.refreshToken) ? OpaqueToken.generate() : nil
        let (clientID, grantExpiresAt, idleExpiresAt) = (client.id, tokens.grantExpiry(now: now), tokens.refreshTokenIdleExpiry(now: now))
        // RFC 9449 §5: a public client's refresh tokens are bound to the key it polled with.
        let refreshKey = client.isConfidential ? nil : dpopKey
        let poll = try await store.withLockedDeviceCode(digest: OpaqueToken(value).digest, at: now) { record in
            Self.poll(
                record, clientID: clientID, at: now, grantExpiresAt: grantExpiresAt, refreshToken: refresh?.digest,
                idleExpiresAt: idleExpiresAt, dpopKey: refreshKey)
        }
        switch poll {
        case .unknown: throw OAuthError(.invalidGrant, "The device code is invalid")
        case .redeemed: throw OAuthError(.invalidGrant, "The device code was already used")
        case .pending: throw OAuthError(.authorizationPending, "The user has not decided yet")
        case .slowDown: throw OAuthError(.slowDown, "Polling too fast: wait 5 seconds more between requests")
        case .denied: throw OAuthError(.accessDenied, "The user denied the request")
        case .expired: throw OAuthError(.expiredToken, "The device code has expired")
        case .approved(let grant):
            return try await tokens.response(grant: grant, scope: grant.scope, refreshToken: refresh, now: now, client: client, dpopKey: dpopKey)
        }
    }

    /// The rules of one poll of `record` (nil: no such device code) by `clientID` at `now`,
    /// and the writes that make its result so. Redeeming moves the grant's end to
    /// `grantExpiresAt` and stores the refresh token with digest `refreshToken`, if any.
    public static func poll(
        _ record: DeviceAuthorizationRecord?, clientID: String, at now: Date, grantExpiresAt: Date, refreshToken: [UInt8]?,
        idleExpiresAt: Date, dpopKey: String? = nil
    ) -> GrantStep<Poll> {
        // Another client's device code is none of its business.
        guard let record, record.clientID == clientID else { return GrantStep(.unknown) }
        let digest = record.deviceCodeDigest
        guard record.redeemedAt == nil else { return GrantStep(.redeemed) }
        guard now < record.expiresAt else { return GrantStep(.expired) }
        guard !record.denied else { return GrantStep(.denied) }
        if let last = record.lastPolledAt, now.timeIntervalSince(last) < TimeInterval(record.interval) {
            return GrantStep(.slowDown, [.recordDevicePoll(digest: digest, interval: record.interval + 5)])
        }
        guard let grant = record.grant else { return GrantStep(.pending, [.recordDevicePoll(digest: digest, interval: record.interval)]) }
        // Approved, then revoked (`sessions revoke`, the user's logout) before the device came back.
        guard grant.revokedAt == nil else { return GrantStep(.unknown) }
        let writes = [GrantWrite.redeemDeviceCode(digest: digest)]
            + GrantLifecycle.redemption(
                of: grant, until: grantExpiresAt, refreshToken: refreshToken, idleExpiresAt: idleExpiresAt, dpopKey: dpopKey)
        return GrantStep(.approved(grant), writes)
    }
}
