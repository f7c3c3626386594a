import ArgumentParser
import WardenServer

/// `warden migrate [--status]`
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply pending schema migrations, or list them.")

    @OptionGroup var global: GlobalOptions

    @Flag(help: "List migrations and whether each is applied; change nothing.")
    var status = false

    func run() async throws {
        let before = try await global.withStore(migrate: false) { store, _ in
            let before = try await store.migrationStatus()
            if !status { try await store.migrate() }
            return before
        }
        if status {
            for migration in before { print("\(migration.applied ? "applied" : "pending")  \(migration.id)") }
            return
        }
        let pending = before.filter { !$0.applied }
        for migration in pending { print("applied  \(migration.id)") }
        print(pending.isEmpty ? "database is up to date" : "applied \(pending.count) migration(s)")
    }
}
