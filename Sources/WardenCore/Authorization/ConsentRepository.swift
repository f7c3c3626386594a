import Foundation

/// Remembered consent: the scope a user has allowed a client.
public protocol ConsentRepository: Sendable {
    func consentedScope(userID: String, clientID: String) async throws -> Scope?
    /// Adds `scope` to what the user has allowed the client.
    func rememberConsent(userID: String, clientID: String, scope: Scope, at now: Date) async throws
}
