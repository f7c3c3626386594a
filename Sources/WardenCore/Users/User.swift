import Foundation

/// A person who signs in at the login page.
public struct User: Sendable, Equatable {
    /// The stable subject (`sub`) of this user's tokens; never reused.
    public var id: String
    /// What the user types at login; unique.
    public var username: String
    /// bcrypt hash of the password.
    public var passwordHash: String
    public var createdAt: Date
    /// What OpenID Connect's `profile` and `email` scopes tell about the user.
    public var profile: UserProfile

    public init(id: String, username: String, passwordHash: String, createdAt: Date, profile: UserProfile? = nil) {
        self.id = id
        self.username = username
        self.passwordHash = passwordHash
        self.createdAt = createdAt
        self.profile = profile ?? UserProfile(updatedAt: createdAt)
    }
}

/// Where users are kept.
public protocol UserRepository: Sendable {
    func user(username: String) async throws -> User?
    func user(id: String) async throws -> User?
    func allUsers() async throws -> [User]
    /// Stores a new user; fails when the username is taken.
    func insert(_ user: User) async throws
    /// Replaces a password hash and, in the same transaction, ends the user's browser
    /// sessions and revokes their grants (a changed password must lock out whoever had
    /// the old one; each session's clients are told by back-channel logout); false when
    /// there is no such user.
    func updatePasswordHash(username: String, hash: String, at now: Date) async throws -> Bool
    /// Replaces the user's profile; false when there is no such user.
    func updateProfile(username: String, _ profile: UserProfile) async throws -> Bool
    /// Removes a user with their grants, consents and sessions (each session's clients are
    /// told by back-channel logout); false when there is no such user.
    func delete(username: String) async throws -> Bool
}

/// Slow password hashing (bcrypt), run off the event loop by the implementation.
public protocol PasswordHasher: Sendable {
    func hash(_ password: String) async throws -> String
    func verify(_ password: String, hash: String) async -> Bool
}
