import ArgumentParser
import Foundation
import WardenCore
import WardenServer

/// `warden users ...`
struct Users: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the people who sign in at the login page.",
        subcommands: [Create.self, Update.self, Show.self, List.self, Delete.self, SetPassword.self])

    /// The OpenID Connect profile attributes (Core §5.1); an empty value removes one.
    struct ProfileOptions: ParsableArguments {
        @Option(help: "Full name (the name claim).") var name: String?
        @Option(help: "Given name.") var givenName: String?
        @Option(help: "Family name.") var familyName: String?
        @Option(help: "Email address.") var email: String?
        @Flag(help: "The email address is verified.") var emailVerified = false
        @Flag(help: "The email address is not verified.") var emailUnverified = false

        /// `profile` with these options applied, at `now`.
        func applied(to profile: UserProfile, at now: Date) throws -> UserProfile {
            guard !(emailVerified && emailUnverified) else { throw ConfigurationError("give at most one of --email-verified and --email-unverified") }
            var profile = profile
            func value(_ option: String?, _ current: String?) -> String? {
                guard let option else { return current }
                let trimmed = option.trimmingCharacters(in: .whitespacesAndNewlines)
                return trimmed.isEmpty ? nil : trimmed
            }
            profile.name = value(name, profile.name)
            profile.givenName = value(givenName, profile.givenName)
            profile.familyName = value(familyName, profile.familyName)
            profile.email = value(email, profile.email)
            if let address = profile.email, !address.contains("@") || address.contains(" ") {
                throw ConfigurationError("--email '\(address)' is not an email address")
            }
            if emailVerified { profile.emailVerified = true }
            if emailUnverified { profile.emailVerified = false }
            profile.updatedAt = now
            return profile
        }
    }

    /// How a user is shown: OpenID Connect claim names in JSON; unset attributes left out.
    struct Description: Encodable {
        var id: String
        var username: String
        var name: String?
        var given_name: String?
        var family_name: String?
        var email: String?
        var email_verified: Bool
        var created_at: Int
        var updated_at: Int

        init(_ user: User) {
            id = user.id
            username = user.username
            name = user.profile.name
            given_name = user.profile.givenName
            family_name = user.profile.familyName
            email = user.profile.email
            email_verified = user.profile.emailVerified
            created_at = Int(user.createdAt.timeIntervalSince1970)
            updated_at = Int(user.profile.updatedAt.timeIntervalSince1970)
        }
    }

    /// `--password-stdin` or `--password`.
    struct PasswordOptions: ParsableArguments {
        @Flag(help: "Read the password from one line of standard input (its line ending is not part of it).")
        var passwordStdin = false
        @Option(help: "The password (visible in the process list and shell history; prefer --password-stdin).")
        var password: String?

        func read() throws -> String {
            switch (passwordStdin, password) {
            case (true, nil):
                guard var line = readLine(strippingNewline: true) else { throw ConfigurationError("no password on standard input") }
                if line.hasSuffix("\r") { line.removeLast() }
                return try Self.checked(line)
            case (false, let password?): return try Self.checked(password)
            default: throw ConfigurationError("give exactly one of --password-stdin and --password")
            }
        }

        static func checked(_ password: String) throws -> String {
            guard !password.isEmpty else { throw ConfigurationError("the password must not be empty") }
            // bcrypt reads at most 72 bytes; a longer password would be silently truncated.
            guard password.utf8.count <= 72 else { throw ConfigurationError("the password must be at most 72 bytes") }
            return password
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a user.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "The name the user signs in with.") var username: String
        @OptionGroup var password: PasswordOptions
        @OptionGroup var profile: ProfileOptions

        func run() async throws {
            let name = username.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !name.isEmpty, name == username else { throw ConfigurationError("--username must be non-empty without surrounding spaces") }
            let now = Date()
            let attributes = try profile.applied(to: UserProfile(updatedAt: now), at: now)
            let hash = try await BcryptPasswordHasher().hash(try password.read())
            let user = User(id: RandomToken.identifier(byteCount: 16), username: name, passwordHash: hash, createdAt: now, profile: attributes)
            try await global.withStore { store, _ in
                guard try await store.user(username: name) == nil else { throw ConfigurationError("user \(name) exists already") }
                try await store.insert(user)
                try await store.audit("user_created", ["username": name, "sub": user.id])
            }
            print("created user \(name) (sub \(user.id))")
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a user's profile (an empty value removes an attribute).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The username.") var username: String
        @OptionGroup var profile: ProfileOptions

        func run() async throws {
            try await global.withStore { store, _ in
                guard let user = try await store.user(username: username) else { throw ConfigurationError("no user \(username)") }
                guard try await store.updateProfile(username: username, try profile.applied(to: user.profile, at: Date())) else {
                    throw ConfigurationError("no user \(username)")
                }
            }
            print("updated user \(username)")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one user's profile.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The username.") var username: String
        @Flag(help: "Print one JSON object.") var json = false

        func run() async throws {
            guard let user = try await global.withStore({ store, _ in try await store.user(username: username) }) else {
                throw ConfigurationError("no user \(username)")
            }
            let description = Description(user)
            if json { return ClientOutput.printJSON(description) }
            print("username:       \(description.username)")
            print("sub:            \(description.id)")
            for (label, value) in [("name:          ", description.name), ("given name:    ", description.given_name),
                                   ("family name:   ", description.family_name), ("email:         ", description.email)] {
                if let value { print("\(label) \(value)") }
            }
            if description.email != nil { print("email verified: \(description.email_verified ? "yes" : "no")") }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List users.")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Print a JSON array.") var json = false

        func run() async throws {
            let users = try await global.withStore { store, _ in try await store.allUsers() }
            if json { return ClientOutput.printJSON(users.map(Description.init)) }
            for user in users { print("\(user.username)  \(user.id)") }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a user with their grants, consents and sessions (their applications are told by back-channel logout).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The username.") var username: String

        func run() async throws {
            try await global.withStore { store, _ in
                let sub = try await store.user(username: username)?.id
                guard try await store.delete(username: username) else { throw ConfigurationError("no user \(username)") }
                try await store.audit("user_deleted", ["username": username, "sub": sub ?? ""])
            }
            print("deleted user \(username)")
        }
    }

    struct SetPassword: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-password", abstract: "Change a user's password, ending their sessions and revoking their grants.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The username.") var username: String
        @OptionGroup var password: PasswordOptions

        func run() async throws {
            let hash = try await BcryptPasswordHasher().hash(try password.read())
            try await global.withStore { store, _ in
                guard try await store.updatePasswordHash(username: username, hash: hash, at: Date()) else {
                    throw ConfigurationError("no user \(username)")
                }
                try await store.audit("password_changed", ["username": username])
            }
            print("changed the password of \(username); their sessions ended and their grants were revoked")
        }
    }
}
