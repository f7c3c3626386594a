import Synchronization

/// swift-metrics handles by their label values, each made once. Making a handle goes
/// through the backend's registry (a lock, label validation, allocations): once per
/// request it cost the token route a sixth of its throughput. Callers key by values
/// from fixed sets only (route patterns, methods, status codes, error codes), so the
/// map stays small.
final class MetricHandles<Key: Hashable & Sendable, Handle: Sendable>: Sendable {
    private let make: @Sendable (Key) -> Handle
    private let handles = Mutex<[Key: Handle]>([:])

    init(_ make: @escaping @Sendable (Key) -> Handle) {
        self.make = make
    }

    func callAsFunction(_ key: Key) -> Handle {
        if let handle = handles.withLock({ $0[key] }) { return handle }
        let handle = make(key)
        handles.withLock { $0[key] = handle }
        return handle
    }
}

extension MetricHandles where Key == [String] {
    func callAsFunction(_ labels: String...) -> Handle { self(labels) }
}
