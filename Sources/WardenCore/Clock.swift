import Foundation

/// The time, injectable so that tests can move it.
public protocol WardenClock: Sendable {
    /// The current time.
    func now() -> Date
}

/// The system clock.
public struct SystemClock: WardenClock {
    public init() {}
    public func now() -> Date { Date() }
}
