-- The store's schema, as numbered migrations. A store records the versions applied in
-- schema_migrations; opening a store applies the missing ones in order, in one transaction each.
-- Never edit a migration that has shipped: add the next one. {serial} is the dialect's
-- auto-increment primary key.
return {
  {
    version = 1,
    name = "cases, events, meta",
    sql = {
      [[CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)]],
      [[CREATE TABLE cases (
          id TEXT PRIMARY KEY,
          payer TEXT,
          code TEXT,
          input TEXT NOT NULL,
          idem_key TEXT NOT NULL,
          auth_id TEXT,
          status TEXT NOT NULL,
          next_action TEXT,
          outcome TEXT,
          version BIGINT,
          waiting_for TEXT,
          person TEXT,
          next_look DOUBLE PRECISION,
          looks BIGINT NOT NULL DEFAULT 0,
          attempts BIGINT NOT NULL DEFAULT 0,
          requests BIGINT NOT NULL DEFAULT 0,
          last_error TEXT,
          imported_at DOUBLE PRECISION NOT NULL,
          created_at DOUBLE PRECISION,
          decided_at DOUBLE PRECISION,
          updated_at DOUBLE PRECISION NOT NULL,
          lease_owner TEXT,
          lease_until DOUBLE PRECISION)]],
      [[CREATE INDEX cases_due ON cases (next_look)]],
      [[CREATE INDEX cases_status ON cases (status)]],
      [[CREATE TABLE events (
          id {serial},
          case_id TEXT NOT NULL,
          at DOUBLE PRECISION NOT NULL,
          actor TEXT NOT NULL,
          kind TEXT NOT NULL,
          from_status TEXT,
          to_status TEXT,
          detail TEXT)]],
      [[CREATE INDEX events_case ON events (case_id, id)]],
    },
  },
}
