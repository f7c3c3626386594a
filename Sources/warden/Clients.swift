import ArgumentParser
import Foundation
import WardenCore
import WardenServer

/// `warden clients ...`
struct Clients: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Register and manage OAuth clients.",
        subcommands: [Create.self, Update.self, List.self, Show.self, Delete.self, RotateSecret.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a client; a confidential client's secret is shown once.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Display name.") var name: String
        @Option(
            name: .customLong("grant-type"),
            help: "authorization_code, refresh_token, client_credentials or token_exchange (repeatable; default client_credentials).")
        var grantTypes: [String] = []
        @Option(name: .customLong("redirect-uri"), help: "An exactly registered redirect URI (repeatable).")
        var redirectURIs: [String] = []
        @Option(help: "Space-separated scopes the client may ask for.") var scope = ""
        @Option(name: .customLong("audience"), help: "A resource server URI the client may get tokens for (repeatable; the first is the default).")
        var audiences: [String] = []
        @Option(help: "client_secret_basic (default), client_secret_post, private_key_jwt or none (public client).")
        var authMethod: String?
        @OptionGroup var keys: ClientKeyOptions
        @Flag(help: "Every token request must carry a DPoP proof (RFC 9449 dpop_bound_access_tokens).") var requireDpop = false
        @Flag(help: "Every authorization request must be pushed to /par first (RFC 9126).") var requirePar = false
        @Option(
            name: .customLong("exchange-audience"),
            help: "token_exchange: an audience this client may get tokens for by exchange (repeatable).")
        var exchangeAudiences: [String] = []
        @Flag(help: "Never show the consent page for this client.") var skipConsent = false
        @Flag(help: "Let a confidential client use the code flow without PKCE.") var pkceOptional = false
        @Option(help: "The algorithm of this client's ID tokens: RS256 (default), ES256 or EdDSA.")
        var idTokenSignedResponseAlg: String?
        @Option(name: .customLong("post-logout-redirect-uri"), help: "Where /logout may send the browser afterwards (repeatable).")
        var postLogoutRedirectURIs: [String] = []
        @Option(help: "Where logout tokens are posted when a session ends (https, or http on a loopback address).")
        var backchannelLogoutUri: String?
        @Flag(help: "Print one JSON object (RFC 7591 names).") var json = false

        func run() async throws {
            var method: ClientAuthMethod?
            if let authMethod {
                guard let parsed = ClientAuthMethod(rawValue: authMethod) else {
                    throw ConfigurationError(
                        "--auth-method '\(authMethod)' is not one of client_secret_basic, client_secret_post, private_key_jwt, none")
                }
                method = parsed
            }
            var registration = ClientRegistration(
                name: name, grantTypes: grantTypes.map(GrantType.init(argument:)), redirectURIs: redirectURIs, scope: scope,
                audiences: audiences, authMethod: method, skipConsent: skipConsent, pkceOptional: pkceOptional)
            if let idTokenSignedResponseAlg {
                guard let algorithm = SigningAlgorithm(rawValue: idTokenSignedResponseAlg) else {
                    throw ConfigurationError("--id-token-signed-response-alg '\(idTokenSignedResponseAlg)' is not one of RS256, ES256, EdDSA")
                }
                registration.idTokenSigningAlgorithm = algorithm
            }
            registration.postLogoutRedirectURIs = postLogoutRedirectURIs
            registration.backchannelLogoutURI = backchannelLogoutUri
            registration.jwks = try keys.jwksText()
            registration.jwksURI = keys.jwksUri
            registration.allowHTTPJWKSURI = try global.configuration().allowHTTPJWKSURI
            registration.dpopBoundAccessTokens = requireDpop
            registration.requirePushedAuthorizationRequests = requirePar
            registration.exchangeAudiences = exchangeAudiences
            let (client, secret) = try registration.makeClient(now: Date())
            try await global.withStore { store, _ in
                try await store.insert(client)
                try await store.audit("client_created", ["client_id": client.id])
            }
            ClientOutput.print(client, secret: secret, json: json)
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Replace a private_key_jwt client's keys; the old ones stop working.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The client id.") var id: String
        @OptionGroup var keys: ClientKeyOptions
        @Flag(help: "Print one JSON object.") var json = false

        func run() async throws {
            let client = try await global.withStore { store, configuration in
                let client = try await Clients.existing(id, in: store)
                guard client.authMethod == .privateKeyJWT else {
                    throw ConfigurationError("client \(id) authenticates with \(client.authMethod.rawValue), not private_key_jwt: it has no keys")
                }
                let (jwks, jwksURI) = try ClientRegistration.checkKeys(
                    jwks: try keys.jwksText(), jwksURI: keys.jwksUri, method: .privateKeyJWT, allowHTTP: configuration.allowHTTPJWKSURI)
                guard try await store.updateKeys(clientID: id, jwks: jwks, jwksURI: jwksURI) else {
                    throw ConfigurationError("no client with id \(id)")
                }
                try await store.audit("client_keys_replaced", ["client_id": id])
                return try await Clients.existing(id, in: store)
            }
            ClientOutput.print(client, secret: nil, json: json)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List clients.")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Print a JSON array.") var json = false

        func run() async throws {
            let clients = try await global.withStore { store, _ in try await store.allClients() }
            if json {
                ClientOutput.printJSON(clients.map { ClientOutput.Description($0, secret: nil) })
            } else {
                for client in clients {
                    print(
                        "\(client.id)  \(client.name)  \(client.authMethod.rawValue)  [\(client.grantTypes.map(\.rawValue).joined(separator: " "))]"
                            + "  (\(client.origin))")
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one client.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The client id.") var id: String
        @Flag(help: "Print one JSON object.") var json = false

        func run() async throws {
            let client = try await global.withStore { store, _ in try await Clients.existing(id, in: store) }
            ClientOutput.print(client, secret: nil, json: json)
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a client; its tokens introspect inactive from then on.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The client id.") var id: String

        func run() async throws {
            try await global.withStore { store, _ in
                guard try await store.delete(clientID: id) else { throw ConfigurationError("no client with id \(id)") }
                try await store.audit("client_deleted", ["client_id": id])
            }
            print("deleted client \(id)")
        }
    }

    struct RotateSecret: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Give a confidential client a new secret (shown once); the old one stops working.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The client id.") var id: String
        @Flag(help: "Print one JSON object.") var json = false

        func run() async throws {
            let secret = ClientSecret.generate()
            let client = try await global.withStore { store, _ in
                let client = try await Clients.existing(id, in: store)
                guard client.authMethod.usesSecret else {
                    throw ConfigurationError("client \(id) authenticates with \(client.authMethod.rawValue) and has no secret")
                }
                guard try await store.updateSecret(clientID: id, digest: secret.digest) else {
                    throw ConfigurationError("no client with id \(id)")
                }
                try await store.audit("client_secret_rotated", ["client_id": id])
                return client
            }
            ClientOutput.print(client, secret: secret, json: json)
        }
    }
}

extension Clients {
    /// The client with `id`, or the operator's error.
    static func existing(_ id: String, in store: any WardenStorage) async throws -> Client {
        guard let client = try await store.client(id: id) else { throw ConfigurationError("no client with id \(id)") }
        return client
    }
}

/// How clients are shown: RFC 7591 field names in JSON.
enum ClientOutput {
    struct Description: Encodable {
        var client_id: String
        var client_secret: String?
        var client_name: String
        var grant_types: [String]
        var redirect_uris: [String]
        var scope: String
        var audience: [String]
        var token_endpoint_auth_method: String
        var skip_consent: Bool
        var pkce_optional: Bool
        var client_id_issued_at: Int
        var id_token_signed_response_alg: String
        var post_logout_redirect_uris: [String]
        var backchannel_logout_uri: String?
        var backchannel_logout_session_required: Bool?
        var jwks: JSONValue?
        var jwks_uri: String?
        var dpop_bound_access_tokens: Bool
        var require_pushed_authorization_requests: Bool
        var exchange_audiences: [String]?
        /// `cli`, or `registration` for clients registered over HTTP (RFC 7591).
        var origin: String

        init(_ client: Client, secret: ClientSecret?) {
            client_id = client.id
            client_secret = secret?.value
            client_name = client.name
            grant_types = client.grantTypes.map(\.rawValue)
            redirect_uris = client.redirectURIs
            scope = client.scope.description
            audience = client.audiences
            token_endpoint_auth_method = client.authMethod.rawValue
            skip_consent = client.skipConsent
            pkce_optional = client.pkceOptional
            client_id_issued_at = Int(client.createdAt.timeIntervalSince1970)
            id_token_signed_response_alg = client.idTokenSigningAlgorithm.rawValue
            post_logout_redirect_uris = client.postLogoutRedirectURIs
            backchannel_logout_uri = client.backchannelLogoutURI
            // Back-Channel Logout 1.0 §2.2: Warden always sends `sid`.
            backchannel_logout_session_required = client.backchannelLogoutURI == nil ? nil : true
            jwks = client.jwks.flatMap { try? JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) }
            jwks_uri = client.jwksURI
            dpop_bound_access_tokens = client.dpopBoundAccessTokens
            require_pushed_authorization_requests = client.requirePushedAuthorizationRequests
            exchange_audiences = client.exchangeAudiences.isEmpty ? nil : client.exchangeAudiences
            origin = client.origin
        }
    }

    static func print(_ client: Client, secret: ClientSecret?, json: Bool) {
        let description = Description(client, secret: secret)
        if json { return printJSON(description) }
        Swift.print("client_id:     \(description.client_id)")
        if let secret { Swift.print("client_secret: \(secret.value)   (shown once; store it now)") }
        Swift.print("name:          \(description.client_name)")
        Swift.print("auth method:   \(description.token_endpoint_auth_method)")
        Swift.print("origin:        \(description.origin)")
        Swift.print("grant types:   \(description.grant_types.joined(separator: " "))")
        Swift.print("scope:         \(description.scope)")
        Swift.print("audience:      \(description.audience.joined(separator: " "))")
        if !description.redirect_uris.isEmpty { Swift.print("redirect URIs: \(description.redirect_uris.joined(separator: " "))") }
        if description.grant_types.contains("authorization_code") { Swift.print("ID token alg:  \(description.id_token_signed_response_alg)") }
        if !description.post_logout_redirect_uris.isEmpty {
            Swift.print("post-logout:   \(description.post_logout_redirect_uris.joined(separator: " "))")
        }
        if let uri = description.backchannel_logout_uri { Swift.print("back-channel:  \(uri)") }
        if let jwks = client.jwks { Swift.print("jwks:          \(jwks)") }
        if let uri = description.jwks_uri { Swift.print("jwks_uri:      \(uri)") }
        if client.dpopBoundAccessTokens { Swift.print("DPoP:          required") }
        if client.requirePushedAuthorizationRequests { Swift.print("PAR:           required") }
        if !client.exchangeAudiences.isEmpty { Swift.print("exchange for:  \(client.exchangeAudiences.joined(separator: " "))") }
    }

    static func printJSON(_ value: some Encodable) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        Swift.print(String(decoding: (try? encoder.encode(value)) ?? Data("null".utf8), as: UTF8.self))
    }
}

/// `--jwks FILE` / `--jwks-uri URL`: a private_key_jwt client's public keys.
struct ClientKeyOptions: ParsableArguments {
    @Option(help: "private_key_jwt: a file holding the client's public keys as a JWK Set.") var jwks: String?
    @Option(help: "private_key_jwt: an https URL serving the client's JWK Set.") var jwksUri: String?

    /// The file's text, or the operator's error.
    func jwksText() throws -> String? {
        guard let jwks else { return nil }
        guard let data = FileManager.default.contents(atPath: jwks), let text = String(data: data, encoding: .utf8) else {
            throw ConfigurationError("--jwks: cannot read \(jwks)")
        }
        return text
    }
}

/// Any JSON value, to show stored JSON (a JWK Set) inside the CLI's JSON output.
enum JSONValue: Codable {
    case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}
