-- Switchboard as an OAuth 2.1 authorization server for gateway endpoints (issue 14): MCP
-- clients that speak only OAuth (Claude.ai's and ChatGPT's connectors) register, send a person
-- to a consent page where a gateway key of the gateway signs them in, and get opaque access
-- and refresh tokens (hashed here, like keys) that open that gateway with the granted scopes.

-- Clients registered through Dynamic Client Registration (RFC 7591). Clients that name
-- themselves by a Client ID Metadata Document URL are not stored: their document is fetched
-- and cached in process.
CREATE TABLE authz_clients (
    client_id     text PRIMARY KEY,
    client_name   text,
    redirect_uris text[] NOT NULL CHECK (cardinality(redirect_uris) > 0),
    -- Who registered it (the peer address), for the registration rate limit.
    source        text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX authz_clients_source ON authz_clients (source, created_at);

-- An authorization request waiting for the person on the consent page. The form carries a
-- token whose hash is `csrf_hash`: single use (replaced on sign-in, deleted on the decision),
-- expiring with the request. Once a key of the gateway signed in, the last four columns say
-- which gateway and key, and the scopes the approval would grant (asked ∩ the key's).
CREATE TABLE authz_pending (
    id             uuid PRIMARY KEY,
    csrf_hash      bytea NOT NULL UNIQUE,
    client_id      text NOT NULL,
    client_name    text,
    redirect_uri   text NOT NULL,
    state          text,
    code_challenge text NOT NULL,
    resource       text NOT NULL,
    slug           text NOT NULL,
    scopes         text[] NOT NULL,
    expires_at     timestamptz NOT NULL,
    tenant_id      uuid REFERENCES tenants (id) ON DELETE CASCADE,
    gateway_id     uuid REFERENCES gateways (id) ON DELETE CASCADE,
    gateway_key_id uuid REFERENCES gateway_keys (id) ON DELETE CASCADE,
    granted        text[],
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX authz_pending_expires ON authz_pending (expires_at);

-- One approval: a client's access to one gateway, through the key that signed in, with
-- `scopes` (the asked ∩ the key's). Its authorization code is single use; a second use
-- revokes the grant. Revoking the key (or deleting the gateway) ends the grant's tokens: a
-- token is only good while its grant and its key are.
CREATE TABLE authz_grants (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    gateway_id      uuid NOT NULL REFERENCES gateways (id) ON DELETE CASCADE,
    gateway_key_id  uuid NOT NULL REFERENCES gateway_keys (id) ON DELETE CASCADE,
    client_id       text NOT NULL,
    client_name     text,
    redirect_uri    text NOT NULL,
    resource        text NOT NULL,
    scopes          text[] NOT NULL
        CHECK (scopes <@ '{mcp:read,mcp:write,mcp:admin}'::text[] AND cardinality(scopes) > 0),
    code_hash       bytea NOT NULL UNIQUE,
    code_challenge  text NOT NULL,
    code_expires_at timestamptz NOT NULL,
    code_used_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz
);
CREATE INDEX authz_grants_gateway ON authz_grants (gateway_id, id DESC);

-- Access and refresh tokens of a grant: only the SHA-256. A refresh token is used once
-- (rotation); presenting a used one again revokes the grant.
CREATE TABLE authz_tokens (
    token_hash bytea PRIMARY KEY,
    grant_id   uuid NOT NULL REFERENCES authz_grants (id) ON DELETE CASCADE,
    kind       text NOT NULL CHECK (kind IN ('access', 'refresh')),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX authz_tokens_grant ON authz_tokens (grant_id);
CREATE INDEX authz_tokens_expires ON authz_tokens (expires_at);
