import ArgumentParser
import Foundation
import WardenCore
import WardenServer
import WardenTokens

/// `warden keys ...`
struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, rotate and retire signing keys.", subcommands: [List.self, Rotate.self, Retire.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List signing keys and their states.")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Print a JSON array.") var json = false

        struct Description: Encodable {
            var kid: String
            var algorithm: String
            var state: String
            var created_at: Int
            var activates_at: Int
            var retired_at: Int?

            // `retired_at` is always present, null while the key is published.
            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(kid, forKey: .kid)
                try container.encode(algorithm, forKey: .algorithm)
                try container.encode(state, forKey: .state)
                try container.encode(created_at, forKey: .created_at)
                try container.encode(activates_at, forKey: .activates_at)
                try container.encode(retired_at, forKey: .retired_at)
            }

            enum CodingKeys: CodingKey { case kid, algorithm, state, created_at, activates_at, retired_at }
        }

        func run() async throws {
            let keys = try await global.withKeyStore { store, _, _ in try await store.allSigningKeys() }
            let schedule = SigningKeySchedule(keys: keys, now: Date())
            let descriptions = schedule.keys.map { key in
                Description(
                    kid: key.kid, algorithm: key.algorithm.rawValue, state: schedule.state(of: key).rawValue,
                    created_at: Int(key.createdAt.timeIntervalSince1970), activates_at: Int(key.activatesAt.timeIntervalSince1970),
                    retired_at: key.retiredAt.map { Int($0.timeIntervalSince1970) })
            }
            if json { return ClientOutput.printJSON(descriptions) }
            for key in descriptions {
                print("\(key.kid)  \(key.algorithm)  \(key.state)  activates \(Date(timeIntervalSince1970: TimeInterval(key.activates_at)))")
            }
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Publish a new key now; it signs after the configured lead time, or at once with --now.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "ES256 (default from config), RS256 or EdDSA.") var algorithm: String?
        @Flag(help: "Sign with the new key at once (resource servers with a cached JWKS may reject its tokens until they refetch).")
        var now = false

        func run() async throws {
            let chosen = try algorithm.map { name in
                guard let parsed = SigningAlgorithm(rawValue: name) else {
                    throw ConfigurationError("--algorithm '\(name)' is not one of ES256, RS256, EdDSA")
                }
                return parsed
            }
            let record = try await global.withKeyStore { store, configuration, key in
                let record = try await SigningKeyManager(repository: store, encryptionKey: key).rotate(
                    algorithm: chosen ?? configuration.signingAlgorithm,
                    leadTime: now ? 0 : TimeInterval(configuration.keyRotationLeadTime))
                try await store.audit("key_rotated", ["kid": record.kid, "algorithm": record.algorithm.rawValue])
                return record
            }
            print("published key \(record.kid) (\(record.algorithm.rawValue)); it signs from \(record.activatesAt)")
        }
    }

    struct Retire: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Unpublish a key at once; tokens it signed become inactive.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The key id.") var kid: String

        func run() async throws {
            try await global.withKeyStore { store, _, key in
                try await SigningKeyManager(repository: store, encryptionKey: key).retire(kid: kid)
                try await store.audit("key_retired", ["kid": kid])
            }
            print("retired key \(kid)")
        }
    }
}
