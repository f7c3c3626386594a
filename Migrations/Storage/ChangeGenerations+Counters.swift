import WardenCore

extension ChangeGenerations {
    /// From the `change_counters` rows both schemas keep, by name.
    public init(counters: [String: Int64]) {
        self.init(clients: counters["clients"] ?? 0, revocations: counters["revocations"] ?? 0, signingKeys: counters["signing_keys"] ?? 0)
    }
}
