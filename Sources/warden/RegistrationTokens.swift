import ArgumentParser
import Foundation
import WardenCore
import WardenServer

/// `warden registration-tokens ...`: the initial access tokens of `registration: token` (RFC 7591 §3).
struct RegistrationTokens: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "registration-tokens",
        abstract: "Create, list and revoke initial access tokens for client registration over HTTP.",
        subcommands: [Create.self, List.self, Revoke.self])

    struct Description: Encodable {
        var id: String
        var token: String?
        var created_at: Int
        var expires_at: Int?
        var max_uses: Int?
        var uses: Int
        var revoked: Bool

        init(_ record: InitialAccessTokenRecord, token: String? = nil) {
            id = record.id
            self.token = token
            created_at = Int(record.createdAt.timeIntervalSince1970)
            expires_at = record.expiresAt.map { Int($0.timeIntervalSince1970) }
            max_uses = record.maxUses
            uses = record.uses
            revoked = record.revokedAt != nil
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make an initial access token (shown once).")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Seconds until it expires (default: never).") var expiresIn: Int?
        @Option(help: "How many clients it may register (default: any number).") var maxUses: Int?
        @Flag(help: "Print one JSON object.") var json = false

        func validate() throws {
            if let expiresIn, !(1...31_536_000).contains(expiresIn) { throw ValidationError("--expires-in must be 1 to 31536000 seconds") }
            if let maxUses, maxUses < 1 { throw ValidationError("--max-uses must be at least 1") }
        }

        func run() async throws {
            let token = OpaqueToken.generate()
            let now = Date()
            let record = InitialAccessTokenRecord(
                id: RandomToken.identifier(byteCount: 8), digest: token.digest, createdAt: now,
                expiresAt: expiresIn.map { now.addingTimeInterval(TimeInterval($0)) }, maxUses: maxUses)
            try await global.withStore { store, _ in
                try await store.insertInitialAccessToken(record)
                try await store.audit("registration_token_created", ["id": record.id])
            }
            if json { return ClientOutput.printJSON(Description(record, token: token.value)) }
            print("id:    \(record.id)")
            print("token: \(token.value)   (shown once; send it as Authorization: Bearer to POST /register)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List initial access tokens (never their values).")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Print a JSON array.") var json = false

        func run() async throws {
            let tokens = try await global.withStore { store, _ in try await store.initialAccessTokens() }
            if json { return ClientOutput.printJSON(tokens.map { Description($0) }) }
            let format = ISO8601DateFormatter()
            for token in tokens {
                let state = token.revokedAt != nil ? "revoked" : token.isUsable(at: Date()) ? "usable" : "spent or expired"
                let expiry = token.expiresAt.map { "expires \(format.string(from: $0))" } ?? "no expiry"
                print("\(token.id)  \(state)  uses \(token.uses)/\(token.maxUses.map(String.init) ?? "any")  \(expiry)")
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke an initial access token; clients it registered stay.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The token's id (see registration-tokens list).") var id: String

        func run() async throws {
            try await global.withStore { store, _ in
                guard try await store.revokeInitialAccessToken(id: id, at: Date()) else {
                    throw ConfigurationError("no usable registration token \(id)")
                }
                try await store.audit("registration_token_revoked", ["id": id])
            }
            print("revoked registration token \(id)")
        }
    }
}
