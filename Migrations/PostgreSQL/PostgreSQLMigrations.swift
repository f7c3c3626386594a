/// The PostgreSQL schema, in the order it is applied. The tables and columns are the
/// SQLite schema's (so `warden export` / `warden import` move rows either way); the
/// types are PostgreSQL's own: `bytea`, `bigint` Unix seconds, `boolean`.
public enum PostgreSQLMigrations {
    /// Every migration, oldest first.
    public static let all: [Migration] = [initial, purgeAndCascadeIndexes, openIDConnect, auditEvents, proofOfPossession, tokenExchange, deviceAuthorization, dynamicRegistration]
}
