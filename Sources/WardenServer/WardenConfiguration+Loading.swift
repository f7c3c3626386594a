import Foundation
import Logging
import WardenCore
import WardenMigrations
import Yams

extension WardenConfiguration {
    /// The config file's keys, in snake case.
    struct File: Decodable {
        var host: String?
        var port: Int?
        var issuer: String?
        var database: String?
        var database_durability: String?
        var database_pool_size: Int?
        var database_statement_timeout: Int?
        var access_token_lifetime: Int?
        var id_token_lifetime: Int?
        var default_audience: String?
        var scopes: [String]?
        var signing_algorithm: String?
        var key_rotation_lead_time: Int?
        var key_rotation_interval_days: Int?
        var key_encryption_key_file: String?
        var log_level: String?
        var log_format: String?
        var refresh_token_idle_lifetime: Int?
        var refresh_token_absolute_lifetime: Int?
        var refresh_token_grace_period: Int?
        var session_lifetime: Int?
        var allow_plain_pkce: Bool?
        var templates_directory: String?
        var brand_name: String?
        var brand_logo_file: String?
        var scope_descriptions: [String: String]?
        var login_failures_per_account: Int?
        var login_failures_per_account_any_address: Int?
        var login_failures_per_address: Int?
        var client_authentication_failures_per_client: Int?
        var client_authentication_failures_per_address: Int?
        var connection_idle_timeout: Int?
        var request_timeout: Int?
        var max_connections: Int?
        var metrics_address: String?
        var allow_http_jwks_uri: Bool?
        var dpop_nonce: String?
        var dpop_proof_lifetime: Int?
        var require_pushed_authorization_requests: Bool?
        var device_code_lifetime: Int?
        var registration: String?
        var registration_scopes: [String]?
        var client_id_metadata_documents: Bool?
        var allow_http_client_metadata: Bool?

        /// Every key the file may hold: the names of the properties above, spelled once.
        static let keys = Set(Mirror(reflecting: File()).children.compactMap(\.label))
    }

    /// The file to read: `explicit`, else `WARDEN_CONFIG`, else `config/warden.yaml` when it exists.
    static func configPath(explicit: String?, environment: [String: String]) -> String? {
        if let explicit { return explicit }
        if let path = environment["WARDEN_CONFIG"], !path.isEmpty { return path }
        return FileManager.default.fileExists(atPath: "config/warden.yaml") ? "config/warden.yaml" : nil
    }

    /// Built-in defaults, overridden by the config file, then by the environment.
    public static func load(configFile explicit: String?, environment: [String: String]) throws -> WardenConfiguration {
        var configuration = WardenConfiguration()
        if let path = configPath(explicit: explicit, environment: environment) {
            try configuration.apply(file: try readFile(path), path: path)
        }
        try configuration.apply(environment: environment)
        return configuration
    }

    static func readFile(_ path: String) throws -> File {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw ConfigurationError("\(path): cannot read the configuration file")
        }
        let node: Any?
        do { node = try Yams.load(yaml: text) } catch {
            throw ConfigurationError("\(path): not valid YAML")
        }
        guard let node else { return File() }
        guard let mapping = node as? [String: Any] else {
            throw ConfigurationError("\(path): the configuration must be a mapping of keys to values")
        }
        if let unknown = mapping.keys.filter({ !File.keys.contains($0) }).sorted().first {
            throw ConfigurationError("\(path): unknown key '\(unknown)'")
        }
        do {
            return try YAMLDecoder().decode(File.self, from: text)
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            let key = context.codingPath.first?.stringValue ?? "?"
            throw ConfigurationError("\(path): '\(key)' has a value of the wrong type")
        }
    }

    mutating func apply(file: File, path: String) throws {
        host = file.host ?? host
        port = file.port ?? port
        issuer = file.issuer ?? issuer
        database = file.database ?? database
        databasePoolSize = file.database_pool_size ?? databasePoolSize
        databaseStatementTimeout = file.database_statement_timeout ?? databaseStatementTimeout
        accessTokenLifetime = file.access_token_lifetime ?? accessTokenLifetime
        idTokenLifetime = file.id_token_lifetime ?? idTokenLifetime
        defaultAudience = file.default_audience ?? defaultAudience
        scopes = file.scopes ?? scopes
        keyRotationLeadTime = file.key_rotation_lead_time ?? keyRotationLeadTime
        keyRotationIntervalDays = file.key_rotation_interval_days ?? keyRotationIntervalDays
        keyEncryptionKeyFile = file.key_encryption_key_file ?? keyEncryptionKeyFile
        refreshTokenIdleLifetime = file.refresh_token_idle_lifetime ?? refreshTokenIdleLifetime
        refreshTokenAbsoluteLifetime = file.refresh_token_absolute_lifetime ?? refreshTokenAbsoluteLifetime
        refreshTokenGracePeriod = file.refresh_token_grace_period ?? refreshTokenGracePeriod
        sessionLifetime = file.session_lifetime ?? sessionLifetime
        allowPlainPKCE = file.allow_plain_pkce ?? allowPlainPKCE
        templatesDirectory = file.templates_directory ?? templatesDirectory
        brandName = file.brand_name ?? brandName
        brandLogoFile = file.brand_logo_file ?? brandLogoFile
        scopeDescriptions = file.scope_descriptions ?? scopeDescriptions
        loginFailuresPerAccount = file.login_failures_per_account ?? loginFailuresPerAccount
        loginFailuresPerAccountAnyAddress = file.login_failures_per_account_any_address ?? loginFailuresPerAccountAnyAddress
        loginFailuresPerAddress = file.login_failures_per_address ?? loginFailuresPerAddress
        clientAuthenticationFailuresPerClient = file.client_authentication_failures_per_client ?? clientAuthenticationFailuresPerClient
        clientAuthenticationFailuresPerAddress = file.client_authentication_failures_per_address ?? clientAuthenticationFailuresPerAddress
        connectionIdleTimeout = file.connection_idle_timeout ?? connectionIdleTimeout
        requestTimeout = file.request_timeout ?? requestTimeout
        maxConnections = file.max_connections ?? maxConnections
        if let text = file.metrics_address { metricsAddress = try Self.listenAddress(text, source: "\(path): metrics_address") }
        allowHTTPJWKSURI = file.allow_http_jwks_uri ?? allowHTTPJWKSURI
        dpopProofLifetime = file.dpop_proof_lifetime ?? dpopProofLifetime
        requirePushedAuthorizationRequests = file.require_pushed_authorization_requests ?? requirePushedAuthorizationRequests
        deviceCodeLifetime = file.device_code_lifetime ?? deviceCodeLifetime
        clientIDMetadataDocuments = file.client_id_metadata_documents ?? clientIDMetadataDocuments
        allowHTTPClientMetadata = file.allow_http_client_metadata ?? allowHTTPClientMetadata
        if let value = file.registration {
            guard let mode = DynamicClientRegistration.Mode(rawValue: value) else {
                throw ConfigurationError("\(path): registration '\(value)' is not one of off, token, open")
            }
            registration = mode
        }
        if let scopes = file.registration_scopes {
            for scope in scopes where (try? Scope(parsing: scope))?.tokens != [scope] {
                throw ConfigurationError("\(path): registration_scopes: '\(scope)' is not one scope")
            }
            registrationScopes = scopes
        }
        if let value = file.dpop_nonce {
            guard let mode = DPoPNonceMode(rawValue: value) else {
                throw ConfigurationError("\(path): dpop_nonce '\(value)' is not one of off, required")
            }
            dpopNonce = mode
        }
        if let value = file.signing_algorithm {
            guard let algorithm = SigningAlgorithm(rawValue: value) else {
                throw ConfigurationError("\(path): signing_algorithm '\(value)' is not one of ES256, RS256, EdDSA")
            }
            signingAlgorithm = algorithm
        }
        if let value = file.database_durability {
            guard let durability = Durability(rawValue: value) else {
                throw ConfigurationError("\(path): database_durability '\(value)' is not one of full, normal")
            }
            databaseDurability = durability
        }
        if let value = file.log_level {
            guard let level = Logger.Level(rawValue: value) else {
                throw ConfigurationError("\(path): log_level '\(value)' is not a log level")
            }
            logLevel = level
        }
        if let value = file.log_format {
            guard let format = LogFormat(rawValue: value) else {
                throw ConfigurationError("\(path): log_format '\(value)' is not one of text, json")
            }
            logFormat = format
        }
        try validate(source: path)
    }

    mutating func apply(environment: [String: String]) throws {
        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        if let database = value("WARDEN_DATABASE") { self.database = database }
        if let issuer = value("WARDEN_ISSUER") { self.issuer = issuer }
        if let host = value("WARDEN_HOST") { self.host = host }
        if let text = value("WARDEN_LOG_FORMAT") {
            guard let format = LogFormat(rawValue: text) else { throw ConfigurationError("WARDEN_LOG_FORMAT '\(text)' is not one of text, json") }
            logFormat = format
        }
        if let text = value("WARDEN_METRICS_ADDRESS") { metricsAddress = try Self.listenAddress(text, source: "WARDEN_METRICS_ADDRESS") }
        if let text = value("WARDEN_PORT") {
            guard let port = Int(text) else { throw ConfigurationError("WARDEN_PORT '\(text)' is not a port number") }
            self.port = port
        }
        try validate(source: "environment")
    }

    /// `text` as a `host:port`, or an error naming `source`.
    public static func listenAddress(_ text: String, source: String) throws -> ListenAddress {
        guard let address = ListenAddress(text) else { throw ConfigurationError("\(source) '\(text)' is not a host:port") }
        return address
    }

    /// Checks every value; `source` says where a bad one came from.
    public func validate(source: String) throws {
        guard (0...65535).contains(port) else { throw ConfigurationError("\(source): port \(port) is not between 0 and 65535") }
        if let issuer {
            guard let url = URLComponents(string: issuer), let scheme = url.scheme, ["http", "https"].contains(scheme),
                url.host?.isEmpty == false, url.query == nil, url.fragment == nil
            else {
                throw ConfigurationError("\(source): issuer '\(issuer)' must be an http(s) URL without query or fragment")
            }
        }
        if let defaultAudience, !AudienceSelection.isAbsoluteURIWithoutFragment(defaultAudience) {
            throw ConfigurationError("\(source): default_audience '\(defaultAudience)' must be an absolute URI")
        }
        guard (60...3600).contains(deviceCodeLifetime) else {
            throw ConfigurationError("\(source): device_code_lifetime must be between 60 and 3600 seconds")
        }
        guard (1...300).contains(dpopProofLifetime) else {
            throw ConfigurationError("\(source): dpop_proof_lifetime must be between 1 and 300 seconds")
        }
        guard idTokenLifetime > 0, idTokenLifetime <= 86_400 else {
            throw ConfigurationError("\(source): id_token_lifetime must be between 1 and 86400 seconds")
        }
        guard accessTokenLifetime > 0, accessTokenLifetime <= 86_400 else {
            throw ConfigurationError("\(source): access_token_lifetime must be between 1 and 86400 seconds")
        }
        // Upper bounds too: a lifetime of centuries must end startup, not trap in date arithmetic later.
        guard (0...2_592_000).contains(keyRotationLeadTime) else {
            throw ConfigurationError("\(source): key_rotation_lead_time must be between 0 and 2592000 seconds (30 days)")
        }
        if let days = keyRotationIntervalDays, !(1...3650).contains(days) {
            throw ConfigurationError("\(source): key_rotation_interval_days must be between 1 and 3650 days")
        }
        let tenYears = 315_360_000
        guard refreshTokenIdleLifetime > 0, refreshTokenAbsoluteLifetime >= refreshTokenIdleLifetime,
            refreshTokenAbsoluteLifetime <= tenYears
        else {
            throw ConfigurationError(
                "\(source): refresh token lifetimes must be positive, the absolute one at least the idle one and at most \(tenYears) seconds")
        }
        guard (0...300).contains(refreshTokenGracePeriod) else {
            throw ConfigurationError("\(source): refresh_token_grace_period must be between 0 and 300 seconds")
        }
        guard (1...31_536_000).contains(sessionLifetime) else {
            throw ConfigurationError("\(source): session_lifetime must be between 1 and 31536000 seconds (a year)")
        }
        let limits = [
            loginFailuresPerAccount, loginFailuresPerAccountAnyAddress, loginFailuresPerAddress, clientAuthenticationFailuresPerClient,
            clientAuthenticationFailuresPerAddress,
        ]
        guard limits.allSatisfy({ (1...1_000_000).contains($0) })
        else {
            throw ConfigurationError("\(source): failure limits must be between 1 and 1000000 a minute")
        }
        guard (1...3600).contains(connectionIdleTimeout) else {
            throw ConfigurationError("\(source): connection_idle_timeout must be between 1 and 3600 seconds")
        }
        guard (1...3600).contains(requestTimeout) else {
            throw ConfigurationError("\(source): request_timeout must be between 1 and 3600 seconds")
        }
        guard (1...1_000_000).contains(maxConnections) else {
            throw ConfigurationError("\(source): max_connections must be between 1 and 1000000")
        }
        guard !brandName.trimmingCharacters(in: .whitespaces).isEmpty, brandName.count <= 100 else {
            throw ConfigurationError("\(source): brand_name must be 1 to 100 characters")
        }
        guard !database.isEmpty, database != "sqlite:" else { throw ConfigurationError("\(source): database must not be empty") }
        if database.hasPrefix("postgres:") || database.hasPrefix("postgresql:") {
            guard let url = URLComponents(string: database), url.host?.isEmpty == false, database.contains("://") else {
                throw ConfigurationError("\(source): database '\(database)' is not a PostgreSQL URL (postgres://user@host:5432/warden)")
            }
        }
        guard (1...1000).contains(databasePoolSize) else {
            throw ConfigurationError("\(source): database_pool_size must be between 1 and 1000")
        }
        guard (0...3600).contains(databaseStatementTimeout) else {
            throw ConfigurationError("\(source): database_statement_timeout must be between 0 and 3600 seconds")
        }
        if let metricsAddress, metricsAddress.port == port, metricsAddress.port != 0, metricsAddress.host == host {
            throw ConfigurationError("\(source): metrics_address must not be the public address \(metricsAddress)")
        }
    }
}
