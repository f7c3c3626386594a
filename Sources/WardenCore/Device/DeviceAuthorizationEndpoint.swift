import Foundation

/// RFC 8628 §3.1–3.2 `POST /device_authorization`: a device without a browser asks for
/// a device code to poll with and a user code for its person to enter at `/device`.
/// The client authenticates as at the token endpoint (a public client sends `client_id`).
public struct DeviceAuthorizationEndpoint: Sendable {
    /// What the endpoint needs of the server's configuration.
    public struct Configuration: Sendable {
        public var issuer: String
        /// Seconds a device code lives (`device_code_lifetime`).
        public var lifetime: Int
        /// Seconds a device waits between polls at first.
        public var interval: Int
        public var defaultAudience: String

        public init(issuer: String, lifetime: Int = 600, interval: Int = 5, defaultAudience: String) {
            self.issuer = issuer
            self.lifetime = lifetime
            self.interval = interval
            self.defaultAudience = defaultAudience
        }
    }

    let configuration: Configuration
    let authenticator: ClientAuthenticator
    let store: any DeviceAuthorizationRepository
    let clock: any WardenClock

    public init(
        configuration: Configuration, authenticator: ClientAuthenticator, store: any DeviceAuthorizationRepository, clock: any WardenClock
    ) {
        self.configuration = configuration
        self.authenticator = authenticator
        self.store = store
        self.clock = clock
    }

    /// Starts a device authorization; the result carries the client for logging.
    public func authorize(
        form: FormBody, authorization: String?, address: String? = nil
    ) async throws -> (client: Client, response: DeviceAuthorizationResponse) {
        let client = try await authenticator.authenticate(
            authorization: authorization, form: form, address: address, endpoint: "/device_authorization")
        guard client.grantTypes.contains(.deviceCode) else {
            throw OAuthError(.unauthorizedClient, "This client is not registered for the device_code grant")
        }
        let scope = try Scope.granted(requested: form["scope"], registered: client.scope)
        let audience = try AudienceSelection.select(
            requested: form.values(of: "resource"), registered: client.audiences, defaultAudience: configuration.defaultAudience)
        let now = clock.now()
        let deviceCode = OpaqueToken.generate()
        // 35 bits collide rarely among live codes; a taken one is drawn again.
        for _ in 0..<4 {
            let record = DeviceAuthorizationRecord(
                deviceCodeDigest: deviceCode.digest, userCode: UserCode.generate(), clientID: client.id, scope: scope,
                audience: audience, createdAt: now, expiresAt: now.addingTimeInterval(TimeInterval(configuration.lifetime)),
                interval: configuration.interval)
            guard try await store.insertDeviceAuthorization(record) else { continue }
            let verificationURI = EndpointURL.of("/device", issuer: configuration.issuer)
            let userCode = UserCode.display(record.userCode)
            return (
                client,
                DeviceAuthorizationResponse(
                    deviceCode: deviceCode.value, userCode: userCode, verificationURI: verificationURI,
                    verificationURIComplete: verificationURI + "?user_code=" + userCode, expiresIn: configuration.lifetime,
                    interval: configuration.interval)
            )
        }
        throw OAuthError.temporarilyUnavailable(cause: "no free user code in four draws")
    }
}

/// RFC 8628 §3.2's response.
public struct DeviceAuthorizationResponse: Sendable, Equatable {
    public var deviceCode: String
    public var userCode: String
    public var verificationURI: String
    public var verificationURIComplete: String
    public var expiresIn: Int
    public var interval: Int

    /// The JSON body.
    public var json: [UInt8] {
        var writer = JSONObjectWriter(capacity: 320)
        writer.add("device_code", deviceCode)
        writer.add("user_code", userCode)
        writer.add("verification_uri", verificationURI)
        writer.add("verification_uri_complete", verificationURIComplete)
        writer.add("expires_in", expiresIn)
        writer.add("interval", interval)
        return writer.finish()
    }
}
