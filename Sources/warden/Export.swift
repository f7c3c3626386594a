import ArgumentParser
import WardenMigrations
import WardenServer

/// `warden export FILE`: every row of the configured database, for `warden import`.
struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the whole database (clients, users, keys, grants, tokens, sessions) to a file, for `warden import`.",
        discussion: """
            Secrets stay as they are stored: client secrets and refresh tokens as digests, \
            passwords as bcrypt hashes, signing keys encrypted with the key-encryption key. \
            The file is created with mode 0600. Stop the servers first, so that nothing changes while it is written.
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The file to write (JSON Lines).")
    var file: String

    func run() async throws {
        let count = try await global.withStore { store, _ in try await ExportFile.write(from: store, to: file) }
        print("exported \(count) row(s) to \(file)")
    }
}

/// `warden import FILE`: loads an export into an empty database, all or nothing.
struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load a `warden export` file into the configured database, which must be empty.",
        discussion: "Moves an installation between SQLite and PostgreSQL. All rows go in one transaction, or none do.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The file `warden export` wrote.")
    var file: String

    func run() async throws {
        let rows = try ExportFile.read(file)
        try await global.withStore { store, configuration in
            let present = try await store.exportedRowCount()
            guard present == 0 else {
                throw ConfigurationError(
                    "database \(configuration.databaseLocation.displayName) is not empty (\(present) rows): import only into a new database")
            }
            try await store.importRows(rows)
        }
        print("imported \(rows.count) row(s) from \(file)")
    }
}
