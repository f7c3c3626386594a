extension PostgreSQLMigrations {
    /// SQLite's 0008, in PostgreSQL's types. The clients' old CHECKs on `auth_method`
    /// carry names PostgreSQL chose, so they are found by what they say, then replaced.
    static let proofOfPossession = Migration(
        id: "0008_proof_of_possession",
        sql: """
            DO $$
            DECLARE c record;
            BEGIN
                FOR c IN SELECT conname FROM pg_constraint
                    WHERE conrelid = 'clients'::regclass AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%auth_method%'
                LOOP
                    EXECUTE format('ALTER TABLE clients DROP CONSTRAINT %I', c.conname);
                END LOOP;
            END
            $$
            ;
            ALTER TABLE clients
                ADD COLUMN jwks TEXT,
                ADD COLUMN jwks_uri TEXT,
                ADD COLUMN dpop_bound_access_tokens BOOLEAN NOT NULL DEFAULT FALSE,
                ADD COLUMN require_pushed_authorization_requests BOOLEAN NOT NULL DEFAULT FALSE,
                ADD CHECK (auth_method IN ('client_secret_basic', 'client_secret_post', 'none', 'private_key_jwt')),
                ADD CHECK ((auth_method IN ('client_secret_basic', 'client_secret_post')) = (secret_digest IS NOT NULL)),
                ADD CHECK ((auth_method = 'private_key_jwt') = ((jwks IS NOT NULL) <> (jwks_uri IS NOT NULL))),
                ADD CHECK (jwks IS NULL OR jwks_uri IS NULL)
            ;
            ALTER TABLE grants ADD COLUMN dpop_jkt TEXT
            ;
            CREATE TABLE used_jtis (
                digest BYTEA NOT NULL PRIMARY KEY CHECK (octet_length(digest) = 32),
                kind TEXT NOT NULL CHECK (kind IN ('client_assertion', 'dpop_proof')),
                expires_at BIGINT NOT NULL
            )
            ;
            CREATE INDEX used_jtis_by_expiry ON used_jtis (expires_at)
            ;
            CREATE TABLE pushed_authorization_requests (
                digest BYTEA NOT NULL PRIMARY KEY CHECK (octet_length(digest) = 32),
                client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
                parameters TEXT NOT NULL,
                expires_at BIGINT NOT NULL
            )
            ;
            CREATE INDEX pushed_authorization_requests_by_expiry ON pushed_authorization_requests (expires_at)
            ;
            CREATE INDEX pushed_authorization_requests_by_client ON pushed_authorization_requests (client_id)
            ;
            CREATE TABLE server_secrets (
                name TEXT NOT NULL PRIMARY KEY CHECK (name IN ('dpop_nonce')),
                secret BYTEA NOT NULL CHECK (octet_length(secret) = 32),
                created_at BIGINT NOT NULL
            )
            ;
            """)
}
