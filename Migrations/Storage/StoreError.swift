/// A store failure described in one line for an operator.
public struct StoreError: Error, CustomStringConvertible {
    public let description: String

    public init(description: String) {
        self.description = description
    }
}
