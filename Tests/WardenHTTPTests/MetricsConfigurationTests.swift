import Testing
@testable import WardenServer

@Suite("Metrics configuration")
struct MetricsConfigurationTests {
    @Test("metrics_address reads host:port, IPv6 in brackets; anything else is refused", arguments: [
        ("127.0.0.1:9464", "127.0.0.1", 9464), ("localhost:0", "localhost", 0), ("[::1]:9464", "::1", 9464), ("0.0.0.0:65535", "0.0.0.0", 65535),
    ])
    func reads(text: String, host: String, port: Int) throws {
        let address = try #require(ListenAddress(text))
        #expect(address == ListenAddress(host: host, port: port))
        #expect(address.description == text)
    }

    @Test("not a host:port", arguments: ["", "9464", ":9464", "host:", "host:port", "host:65536", "host:-1", "[::1:9464", "a b:1", "h/x:1"])
    func refuses(text: String) {
        #expect(ListenAddress(text) == nil)
        #expect(throws: ConfigurationError.self) { try WardenConfiguration.listenAddress(text, source: "test") }
    }

    @Test("the metrics listener may not take the public address")
    func notThePublicAddress() throws {
        var configuration = WardenConfiguration()
        configuration.metricsAddress = ListenAddress(host: configuration.host, port: configuration.port)
        #expect(throws: ConfigurationError.self) { try configuration.validate(source: "test") }
        configuration.metricsAddress?.port = configuration.port + 1
        try configuration.validate(source: "test")
    }
}
