import Foundation

/// A back-channel logout waiting to be sent (Back-Channel Logout 1.0): a session ended
/// in which the client got an ID token. Queued in the same transaction that ends the
/// session, by whichever process ends it (a server or the CLI); sent by a running server.
public struct PendingBackchannelLogout: Sendable, Equatable {
    public var clientID: String
    /// The user's `sub`.
    public var subject: String
    public var sid: String
    /// Which attempt this is, from 1.
    public var attempt: Int

    /// Attempts in all: the first and three retries (Warden's choice; the spec sets none).
    public static let maximumAttempts = 4

    public init(clientID: String, subject: String, sid: String, attempt: Int) {
        self.clientID = clientID
        self.subject = subject
        self.sid = sid
        self.attempt = attempt
    }
}

/// The queue of back-channel logouts. A claim leases its entries, so that of several
/// instances exactly one sends each attempt; an entry not finished comes due again.
public protocol BackchannelLogoutQueue: Sendable {
    /// Takes up to `limit` entries due at `now` with attempts to spare, counting one
    /// more attempt for each, and makes each due again `lease + 2^attempts` seconds
    /// later (the retry, should this attempt fail). Entries out of attempts are purged.
    func claimBackchannelLogouts(at now: Date, limit: Int, lease: TimeInterval) async throws -> [PendingBackchannelLogout]
    /// Removes the entry: its logout token was delivered, or will never be.
    func finishBackchannelLogout(clientID: String, sid: String) async throws
}
