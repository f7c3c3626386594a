/// The SQLite schema, in the order it is applied.
public enum SQLiteMigrations {
    /// Every migration, oldest first.
    public static let all: [Migration] = [initial, browserFlow, changeCounters, codesInIssueOrder, purgeAndCascadeIndexes, openIDConnect, auditEvents, proofOfPossession, tokenExchange, deviceAuthorization, dynamicRegistration]
}
