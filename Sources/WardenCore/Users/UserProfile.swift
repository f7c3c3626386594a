import Foundation

/// The attributes OpenID Connect's standard claims carry (Core §5.1). An attribute that
/// is not set is nil, and its claim is left out, never `null` or `""`.
public struct UserProfile: Sendable, Equatable {
    public var name: String?
    public var givenName: String?
    public var familyName: String?
    public var email: String?
    public var emailVerified: Bool
    /// When the profile last changed (`updated_at`).
    public var updatedAt: Date

    public init(
        name: String? = nil, givenName: String? = nil, familyName: String? = nil, email: String? = nil, emailVerified: Bool = false,
        updatedAt: Date
    ) {
        self.name = name
        self.givenName = givenName
        self.familyName = familyName
        self.email = email
        self.emailVerified = emailVerified
        self.updatedAt = updatedAt
    }
}
