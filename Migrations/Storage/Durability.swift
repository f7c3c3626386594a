/// When a SQLite commit counts as done (`database_durability`).
public enum Durability: String, Sendable, CaseIterable {
    /// `synchronous = FULL`: every commit is fsynced; nothing acknowledged is lost,
    /// even on power loss. The default.
    case full
    /// `synchronous = NORMAL`: survives a crash of the process, but the last commits
    /// may be lost if the machine loses power.
    case normal
}
