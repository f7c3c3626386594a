import ArgumentParser
import Foundation
import WardenCore
import WardenServer

/// `warden users ...`
struct Users: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the people who sign in at the login page.",
        subcommands: [Create.self, List.self, Delete.self, SetPassword.self])

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

        func run() async throws {
            let name = username.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !name.isEmpty, name == username else { throw ConfigurationError("--username must be non-empty without surrounding spaces") }
            let hash = try await BcryptPasswordHasher().hash(try password.read())
            let user = User(id: RandomToken.identifier(byteCount: 16), username: name, passwordHash: hash, createdAt: Date())
            try await global.withStore { store, _ in
                guard try await store.user(username: name) == nil else { throw ConfigurationError("user \(name) exists already") }
                try await store.insert(user)
            }
            print("created user \(name) (sub \(user.id))")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List users.")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Print a JSON array.") var json = false

        struct Description: Encodable {
            var id: String
            var username: String
            var created_at: Int
        }

        func run() async throws {
            let users = try await global.withStore { store, _ in try await store.allUsers() }
            let descriptions = users.map { Description(id: $0.id, username: $0.username, created_at: Int($0.createdAt.timeIntervalSince1970)) }
            if json { return ClientOutput.printJSON(descriptions) }
            for user in descriptions { print("\(user.username)  \(user.id)") }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a user with their grants, consents and sessions.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The username.") var username: String

        func run() async throws {
            guard try await global.withStore({ store, _ in try await store.delete(username: username) }) else {
                throw ConfigurationError("no user \(username)")
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
            guard try await global.withStore({ store, _ in try await store.updatePasswordHash(username: username, hash: hash, at: Date()) }) else {
                throw ConfigurationError("no user \(username)")
            }
            print("changed the password of \(username); their sessions ended and their grants were revoked")
        }
    }
}
