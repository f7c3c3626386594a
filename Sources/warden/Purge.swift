import ArgumentParser
import Foundation
import WardenServer

/// `warden purge`: what the running server does in the background, at once.
struct Purge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete expired codes, grants, refresh tokens, sessions and revocations, in small batches.")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let total = try await global.withStore { store, _ in
            var total = 0
            while true {
                let purged = try await purgeExpiredData(store, now: Date())
                total += purged
                if purged == 0 { return total }
            }
        }
        print("purged \(total) expired row(s)")
    }
}
