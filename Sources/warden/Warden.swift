import ArgumentParser
import WardenServer

/// The `warden` command: an OAuth 2.0 authorization server and its administration.
struct Warden: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "warden",
        abstract: "An OAuth 2.0 authorization server issuing RFC 9068 JWT access tokens.",
        version: WardenVersion.current,
        subcommands: [Serve.self, Migrate.self, Clients.self, Users.self, Sessions.self, RegistrationTokens.self, Keys.self, Purge.self, Export.self, Import.self]
    )
}
