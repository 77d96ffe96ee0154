-- Tenants own everything; deleting a tenant removes its keys and connectors.
CREATE TABLE tenants (
    id         uuid PRIMARY KEY,
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- API keys are stored only as a SHA-256 hash; `prefix` lets people tell keys apart.
CREATE TABLE api_keys (
    id         uuid PRIMARY KEY,
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name       text,
    prefix     text NOT NULL,
    key_hash   bytea NOT NULL UNIQUE,
    scopes     text[] NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, id);

CREATE TABLE connectors (
    id             uuid PRIMARY KEY,           -- UUID v7: time-ordered, used as the list order
    tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name           text NOT NULL,
    description    text,
    url            text NOT NULL,
    transport      text NOT NULL CHECK (transport IN ('streamable_http', 'sse')),
    owner          text,
    metadata       jsonb NOT NULL DEFAULT '{}',
    -- Non-secret auth settings (mode, client_id, scopes, ...); NULL = discover on connect.
    auth           jsonb,
    preset_id      text,
    status         text NOT NULL DEFAULT 'created'
                   CHECK (status IN ('created', 'pending_authorization', 'connected', 'disconnected')),
    status_code    text,
    status_message text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
-- Keyset pagination walks (tenant_id, id); filters narrow it.
CREATE INDEX connectors_tenant_id ON connectors (tenant_id, id);
CREATE INDEX connectors_tenant_owner ON connectors (tenant_id, owner, id) WHERE owner IS NOT NULL;

-- Every secret of a connector, sealed with AES-256-GCM. The associated data binds each
-- ciphertext to (tenant_id, connector_id, field), so a value copied elsewhere fails to open.
CREATE TABLE connector_secrets (
    connector_id uuid NOT NULL REFERENCES connectors (id) ON DELETE CASCADE,
    tenant_id    uuid NOT NULL,
    field        text NOT NULL,
    key_id       text NOT NULL,
    ciphertext   bytea NOT NULL,               -- nonce (12 bytes) || ciphertext || tag
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connector_id, field)
);
CREATE INDEX connector_secrets_key_id ON connector_secrets (key_id);
