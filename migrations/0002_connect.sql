-- Origins a tenant's redirect_url may point to, on top of SWITCHBOARD_REDIRECT_ALLOWLIST.
ALTER TABLE tenants ADD COLUMN redirect_allowlist text[] NOT NULL DEFAULT '{}';

-- OAuth clients Switchboard registered (RFC 7591) at an authorization server, one per tenant
-- and issuer, reused by every connector of the tenant that uses that issuer.
CREATE TABLE oauth_clients (
    id                          uuid PRIMARY KEY,
    tenant_id                   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    issuer                      text NOT NULL,
    redirect_uri                text NOT NULL,
    client_id                   text NOT NULL,
    token_endpoint_auth_method  text NOT NULL,
    secret_key_id               text,
    secret_ciphertext           bytea,          -- sealed client_secret, AAD bound to this row
    client_secret_expires_at    timestamptz,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, issuer),
    CHECK ((secret_key_id IS NULL) = (secret_ciphertext IS NULL))
);

ALTER TABLE connectors
    ADD COLUMN server_info jsonb,
    -- How the current OAuth grant was obtained: issuer, endpoints, client, resource, scopes.
    ADD COLUMN oauth_grant jsonb,
    ADD COLUMN token_expires_at timestamptz,
    ADD COLUMN authorization_url text,
    ADD COLUMN authorization_expires_at timestamptz;

-- Pending authorizations. The state value itself is never stored, only its SHA-256, so a
-- database reader cannot complete someone else's authorization. Single use: consumed with
-- DELETE ... RETURNING.
CREATE TABLE oauth_states (
    state_hash          bytea PRIMARY KEY,
    tenant_id           uuid NOT NULL,
    connector_id        uuid NOT NULL REFERENCES connectors (id) ON DELETE CASCADE,
    -- The grant parameters fixed at connect time (mix-up defence: the code goes only to
    -- this token endpoint, for this issuer).
    grant_params        jsonb NOT NULL,
    redirect_url        text,
    verifier_key_id     text NOT NULL,
    verifier_ciphertext bytea NOT NULL,
    expires_at          timestamptz NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX oauth_states_connector ON oauth_states (connector_id);
CREATE INDEX oauth_states_expires ON oauth_states (expires_at);
