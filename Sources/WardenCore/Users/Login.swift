import Foundation

/// Checks a username and password. An unknown user costs the same hash
/// verification as a wrong password, and both fail the same way.
public struct Login: Sendable {
    let users: any UserRepository
    let hasher: any PasswordHasher
    /// A hash of a random password, verified when the user is unknown.
    let decoyHash: String

    public init(users: any UserRepository, hasher: any PasswordHasher, decoyHash: String) {
        self.users = users
        self.hasher = hasher
        self.decoyHash = decoyHash
    }

    /// The user, or nil for an unknown user or a wrong password.
    public func authenticate(username: String, password: String) async throws -> User? {
        guard let user = try await users.user(username: username) else {
            _ = await hasher.verify(password, hash: decoyHash)
            return nil
        }
        return await hasher.verify(password, hash: user.passwordHash) ? user : nil
    }
}
