import Foundation
import PostgresNIO

/// Reads a `postgres://` database URL into PostgresNIO's client configuration.
enum PostgresURL {
    /// Whether `database` names a PostgreSQL database rather than a SQLite file.
    static func isPostgres(_ database: String) -> Bool {
        database.hasPrefix("postgres://") || database.hasPrefix("postgresql://")
    }

    static func configuration(_ text: String, options: PostgresStore.Options) throws -> PostgresClient.Configuration {
        guard isPostgres(text), let url = URLComponents(string: text), let host = url.host, !host.isEmpty else {
            throw StoreError(description: "not a PostgreSQL URL (postgres://user@host:5432/database)")
        }
        let database = String(url.path.drop { $0 == "/" })
        let tls: PostgresClient.Configuration.TLS
        switch url.queryItems?.first(where: { $0.name == "sslmode" })?.value ?? "disable" {
        case "disable": tls = .disable
        case "prefer": tls = .prefer(.makeClientConfiguration())
        case "require": tls = .require(.makeClientConfiguration())
        case let mode: throw StoreError(description: "sslmode '\(mode)' is not one of disable, prefer, require")
        }
        var configuration = PostgresClient.Configuration(
            host: host, port: url.port ?? 5432, username: url.user ?? "postgres", password: url.password,
            database: database.isEmpty ? nil : database, tls: tls)
        configuration.options.maximumConnections = options.poolSize
        configuration.options.additionalStartupParameters = [("application_name", "warden")]
        if options.statementTimeout > 0 {
            configuration.options.additionalStartupParameters.append(("statement_timeout", "\(options.statementTimeout)s"))
        }
        return configuration
    }
}
