import ArgumentParser
import WardenServer

/// `warden migrate [--status]`
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply pending schema migrations, or list them.")

    @OptionGroup var global: GlobalOptions

    @Flag(help: "List migrations and whether each is applied; change nothing.")
    var status = false

    func run() async throws {
        GlobalOptions.bootstrapLogging(level: .warning)
        let configuration = try global.configuration()
        let store = try global.openStore(configuration, migrate: false)
        defer { try? store.close() }
        let before = try store.migrationStatus()
        if status {
            for migration in before { print("\(migration.applied ? "applied" : "pending")  \(migration.id)") }
            return
        }
        try store.migrate()
        let pending = before.filter { !$0.applied }
        for migration in pending { print("applied  \(migration.id)") }
        print(pending.isEmpty ? "database is up to date" : "applied \(pending.count) migration(s)")
    }
}
