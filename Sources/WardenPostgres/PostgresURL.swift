import Foundation
import PostgresNIO
import WardenCore
import WardenMigrations

/// A `postgres://user:password@host:port/database?sslmode=...` database URL, read once
/// into what PostgresNIO's pool and its single connections need. `sslmode` means what
/// it means to libpq, and defaults to `prefer` as there: TLS when the server offers it;
/// `require` insists on TLS; only `verify-ca` and `verify-full` check the server's
/// certificate (against the system's trust roots; `verify-full` its host name too).
struct PostgresURL: Sendable {
    enum SSLMode: String, Sendable, CaseIterable {
        case disable, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    let host: String
    let port: Int
    let username: String
    let password: String?
    let database: String?
    let sslMode: SSLMode

    init(_ text: String) throws {
        guard text.hasPrefix("postgres://") || text.hasPrefix("postgresql://"), let url = URLComponents(string: text),
            let host = url.host, !host.isEmpty
        else {
            throw StoreError(description: "not a PostgreSQL URL (postgres://user@host:5432/database)")
        }
        let mode = url.queryItems?.first(where: { $0.name == "sslmode" })?.value ?? "prefer"
        guard let sslMode = SSLMode(rawValue: mode) else {
            throw StoreError(
                description: "sslmode '\(mode)' is not one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let database = String(url.path.drop { $0 == "/" })
        (self.host, self.port, self.username, self.password) = (host, url.port ?? 5432, url.user ?? "postgres", url.password)
        (self.database, self.sslMode) = (database.isEmpty ? nil : database, sslMode)
    }

    /// The TLS settings `sslMode` asks for; nil for none.
    var tlsConfiguration: TLSConfiguration? {
        var tls = TLSConfiguration.makeClientConfiguration()
        switch sslMode {
        case .disable: return nil
        case .prefer, .require: tls.certificateVerification = .none
        case .verifyCA: tls.certificateVerification = .noHostnameVerification
        case .verifyFull: tls.certificateVerification = .fullVerification
        }
        return tls
    }

    /// The pool's configuration.
    func clientConfiguration(_ options: PostgresStore.Options) -> PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS =
            switch (sslMode, tlsConfiguration) {
            case (.prefer, let configuration?): .prefer(configuration)
            case (_, let configuration?): .require(configuration)
            case (_, nil): .disable
            }
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: tls)
        configuration.options.maximumConnections = options.poolSize
        configuration.options.additionalStartupParameters = [("application_name", "warden")]
        if options.statementTimeout > 0 {
            configuration.options.additionalStartupParameters.append(("statement_timeout", "\(options.statementTimeout)s"))
        }
        return configuration
    }

    /// Opens and closes one connection. The pool retries a failing connection for a minute
    /// and then reports only that it gave up; this says why (refused, unknown database,
    /// authentication) at once.
    func probe(logger: Logger) async throws {
        let tls: PostgresConnection.Configuration.TLS =
            switch (sslMode, tlsConfiguration) {
            case (.prefer, let configuration?): .prefer(try NIOSSLContext(configuration: configuration))
            case (_, let configuration?): .require(try NIOSSLContext(configuration: configuration))
            case (_, nil): .disable
            }
        var configuration = PostgresConnection.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: tls)
        configuration.options.connectTimeout = .seconds(5)
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
        try await connection.close()
    }
}
