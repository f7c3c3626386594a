extension JSONObjectWriter {
    /// `"name":value` for a user claim, whose name is known only at run time.
    public mutating func add(claim name: String, _ value: ClaimValue) {
        switch value {
        case .string(let text): add(name: name, text)
        case .bool(let flag): add(name: name, flag)
        case .int(let number): add(name: name, number)
        }
    }
}
