import ArgumentParser
import Foundation
import Logging
import WardenServer
import WardenStore
import WardenTokens

/// Options every subcommand takes (INTERFACE.md). Precedence: flag > environment > config > default.
struct GlobalOptions: ParsableArguments {
    @Option(help: "Configuration file (env WARDEN_CONFIG; default config/warden.yaml when it exists).")
    var config: String?

    @Option(help: "SQLite database file (env WARDEN_DATABASE; default data/warden.sqlite).")
    var database: String?

    @Option(help: "File holding the base64 key-encryption key (or env WARDEN_KEY_ENCRYPTION_KEY).")
    var keyEncryptionKeyFile: String?

    var environment: [String: String] { ProcessInfo.processInfo.environment }

    /// The configuration with these flags applied.
    func configuration() throws -> WardenConfiguration {
        var configuration = try WardenConfiguration.load(configFile: config, environment: environment)
        if let database {
            configuration.database = database
            try configuration.validate(source: "--database")
        }
        return configuration
    }

    /// The store, with a one-line error naming the file when it cannot be opened.
    func openStore(_ configuration: WardenConfiguration, migrate: Bool = true) throws -> SQLiteStore {
        do {
            return try SQLiteStore(path: configuration.database, migrate: migrate, durability: configuration.databaseDurability)
        } catch {
            throw ConfigurationError("database \(configuration.database): \(Self.oneLine(error))")
        }
    }

    /// Runs an administrative command with the store open, and closes it afterwards.
    /// Logs only warnings, so that `--json` output stays one JSON document.
    func withStore<T>(migrate: Bool = true, _ body: (SQLiteStore, WardenConfiguration) async throws -> T) async throws -> T {
        Self.bootstrapLogging(level: .warning)
        let configuration = try configuration()
        let store = try openStore(configuration, migrate: migrate)
        defer { try? store.close() }
        return try await body(store, configuration)
    }

    /// `withStore` for the key commands: a missing key-encryption key fails before the database is touched.
    func withKeyStore<T>(_ body: (SQLiteStore, WardenConfiguration, KeyEncryptionKey) async throws -> T) async throws -> T {
        let key = try requiredKeyEncryptionKey(try configuration())
        return try await withStore { store, configuration in try await body(store, configuration, key) }
    }

    /// The key-encryption key, or an error saying how to provide one.
    func requiredKeyEncryptionKey(_ configuration: WardenConfiguration) throws -> KeyEncryptionKey {
        guard let key = try optionalKeyEncryptionKey(configuration) else {
            throw ConfigurationError(
                "no key-encryption key: pass --key-encryption-key-file, set WARDEN_KEY_ENCRYPTION_KEY "
                    + "(openssl rand -base64 32) or key_encryption_key_file in the config")
        }
        return key
    }

    func optionalKeyEncryptionKey(_ configuration: WardenConfiguration) throws -> KeyEncryptionKey? {
        try KeyEncryptionKeySource.resolve(flagFile: keyEncryptionKeyFile, environment: environment, configuration: configuration)
    }

    /// Structured log lines on standard output, from `level` up.
    static func bootstrapLogging(level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardOutput(label: label)
            handler.logLevel = level
            return handler
        }
    }

    static func oneLine(_ error: any Error) -> String {
        "\(error)".split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}
