extension SQLiteMigrations {
    /// Counters that triggers bump whenever clients, revocations or signing keys change,
    /// whichever process or connection changed them. Running servers compare them to
    /// keep their in-memory caches exact without reading the tables on every request.
    static let changeCounters = Migration(
        id: "0003_change_counters",
        sql: """
            CREATE TABLE change_counters (
                name TEXT NOT NULL PRIMARY KEY CHECK (name IN ('clients', 'revocations', 'signing_keys')),
                generation INTEGER NOT NULL
            ) STRICT, WITHOUT ROWID;
            INSERT INTO change_counters (name, generation) VALUES ('clients', 0), ('revocations', 0), ('signing_keys', 0);

            CREATE TRIGGER clients_inserted AFTER INSERT ON clients BEGIN
                UPDATE change_counters SET generation = generation + 1 WHERE name = 'clients';
            END;
            CREATE TRIGGER clients_updated AFTER UPDATE ON clients BEGIN
                UPDATE change_counters SET generation = generation + 1 WHERE name = 'clients';
            END;
            CREATE TRIGGER clients_deleted AFTER DELETE ON clients BEGIN
                UPDATE change_counters SET generation = generation + 1 WHERE name = 'clients';
            END;

            CREATE TRIGGER access_token_revoked AFTER INSERT ON revoked_access_tokens BEGIN
                UPDATE change_counters SET generation = generation + 1 WHERE name = 'revocations';
            END;
            CREATE TRIGGER grant_revoked AFTER UPDATE OF revoked_at ON grants
                WHEN OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL BEGIN
                UPDATE change_counters SET generation = generation + 1 WHERE name = 'revocations';
            END;
            -- Deleting a user or client takes its grants (ON DELETE CASCADE) and so their tokens.
            CREATE TRIGGER grant_deleted AFTER DELETE ON grants BEGIN
                UPDATE change_counters SET generation = generation + 1 WHERE name = 'revocations';
            END;

            CREATE TRIGGER signing_key_inserted AFTER INSERT ON signing_keys BEGIN
                UPDATE change_counters SET generation = generation + 1 WHERE name = 'signing_keys';
            END;
            CREATE TRIGGER signing_key_updated AFTER UPDATE ON signing_keys BEGIN
                UPDATE change_counters SET generation = generation + 1 WHERE name = 'signing_keys';
            END;
            CREATE TRIGGER signing_key_deleted AFTER DELETE ON signing_keys BEGIN
                UPDATE change_counters SET generation = generation + 1 WHERE name = 'signing_keys';
            END;
            """
    )
}
