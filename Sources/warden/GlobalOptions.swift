import ArgumentParser
import Foundation
import Logging
import WardenServer
import WardenTokens

/// Options every subcommand takes (INTERFACE.md). Precedence: flag > environment > config > default.
struct GlobalOptions: ParsableArguments {
    @Option(help: "Configuration file (env WARDEN_CONFIG; default config/warden.yaml when it exists).")
    var config: String?

    @Option(help: "SQLite file, or postgres://user@host:5432/db URL (env WARDEN_DATABASE; default data/warden.sqlite).")
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

    /// Runs `body` with the store open, and closes it afterwards; a store that cannot be
    /// opened is one line naming the database.
    func withOpenStore<T>(
        _ configuration: WardenConfiguration, migrate: Bool = true, _ body: (any WardenStorage) async throws -> T
    ) async throws -> T {
        var opened = false
        do {
            return try await configuration.withStorage(migrate: migrate) { store in
                opened = true
                return try await body(store)
            }
        } catch where !opened {
            throw ConfigurationError("database \(configuration.databaseLocation.displayName): \(Self.oneLine(error))")
        }
    }

    /// Runs an administrative command with the store open, and closes it afterwards.
    /// Logs only warnings, so that `--json` output stays one JSON document.
    func withStore<T>(migrate: Bool = true, _ body: (any WardenStorage, WardenConfiguration) async throws -> T) async throws -> T {
        Self.bootstrapLogging(level: .warning)
        let configuration = try configuration()
        return try await withOpenStore(configuration, migrate: migrate) { store in try await body(store, configuration) }
    }

    /// `withStore` for the key commands: a missing key-encryption key fails before the
    /// database is touched, and a wrong one (that cannot open the stored keys) before
    /// anything is listed or changed.
    func withKeyStore<T>(_ body: (any WardenStorage, WardenConfiguration, KeyEncryptionKey) async throws -> T) async throws -> T {
        let key = try requiredKeyEncryptionKey(try configuration())
        return try await withStore { store, configuration in
            try await SigningKeyManager(repository: store, encryptionKey: key).checkEncryptionKey()
            return try await body(store, configuration, key)
        }
    }

    /// The key-encryption key, or an error saying how to provide one. Without one
    /// configured, a demo database's own key (`warden.kek` beside it, made by
    /// `serve --demo`) is used, with the same loud warning as the demo.
    func requiredKeyEncryptionKey(_ configuration: WardenConfiguration) throws -> KeyEncryptionKey {
        if let key = try optionalKeyEncryptionKey(configuration) { return key }
        if case .sqlite = configuration.databaseLocation,
            let demo = try KeyEncryptionKeySource.existingDemoKey(directory: configuration.databaseLocation.localDirectory)
        {
            FileHandle.standardError.write(Data(
                "warning: DEMO key-encryption key \(demo.path) in use (the database is a demo's); never in production\n".utf8))
            return demo.key
        }
        throw ConfigurationError(
            "no key-encryption key: pass --key-encryption-key-file, set WARDEN_KEY_ENCRYPTION_KEY "
                + "(openssl rand -base64 32) or key_encryption_key_file in the config")
    }

    func optionalKeyEncryptionKey(_ configuration: WardenConfiguration) throws -> KeyEncryptionKey? {
        try KeyEncryptionKeySource.resolve(flagFile: keyEncryptionKeyFile, environment: environment, configuration: configuration)
    }

    /// Structured log lines on standard output, from `level` up: swift-log's text, or JSON lines.
    static func bootstrapLogging(level: Logger.Level, format: LogFormat = .text, metadataProvider: Logger.MetadataProvider? = nil) {
        LoggingSystem.bootstrap({ label, provider in
            switch format {
            case .json:
                var handler = JSONLogHandler(level: level)
                handler.metadataProvider = provider
                return handler
            case .text:
                var handler = StreamLogHandler.standardOutput(label: label, metadataProvider: provider)
                handler.logLevel = level
                return handler
            }
        }, metadataProvider: metadataProvider)
    }

    static func oneLine(_ error: any Error) -> String {
        "\(error)".split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}
