-- MCP gateways: one MCP endpoint per gateway, exposing tools picked from a tenant's
-- connectors under aliases, reached with gateway keys; every call through it is logged.

CREATE TABLE gateways (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- The gateway's URL segment: /api/v1/gateways/{slug}/mcp.
    slug         text NOT NULL CHECK (slug ~ '^[a-z0-9-]{1,64}$'),
    name         text NOT NULL,
    description  text,
    -- Sent to MCP clients in `initialize` / `server/discover`.
    instructions text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, slug)
);

-- A tool of a connector's catalog, exposed by a gateway under `alias`. Not a foreign key to
-- `tools`: a sync replaces catalog rows, and a tool the upstream dropped is simply not listed
-- until it comes back.
CREATE TABLE gateway_tools (
    id           uuid PRIMARY KEY,
    gateway_id   uuid NOT NULL REFERENCES gateways (id) ON DELETE CASCADE,
    connector_id uuid NOT NULL REFERENCES connectors (id) ON DELETE CASCADE,
    tool_name    text NOT NULL,
    alias        text NOT NULL,
    enabled      boolean NOT NULL DEFAULT true,
    -- Replaces the upstream's description when set.
    description  text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (gateway_id, alias),
    UNIQUE (gateway_id, connector_id, tool_name)
);
CREATE INDEX gateway_tools_connector ON gateway_tools (connector_id);

-- Keys of one gateway (`gk_…`): only the SHA-256 is kept.
CREATE TABLE gateway_keys (
    id         uuid PRIMARY KEY,
    gateway_id uuid NOT NULL REFERENCES gateways (id) ON DELETE CASCADE,
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name       text,
    prefix     text NOT NULL,
    key_hash   bytea NOT NULL UNIQUE,
    expires_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE INDEX gateway_keys_gateway ON gateway_keys (gateway_id);

-- Revocation (and the gateway's deletion, which cascades here) reaches every replica's key
-- cache through the invalidation hub (migration 0005).
CREATE TRIGGER gateway_key_announced AFTER UPDATE OR DELETE ON gateway_keys
    FOR EACH ROW EXECUTE FUNCTION announce_change('gateway_key');

-- Every tools/call through a gateway. No foreign keys to the tool or key: the log outlives
-- them (until the retention purge).
CREATE TABLE gateway_calls (
    id             uuid PRIMARY KEY,   -- UUID v7: time-ordered, the list order
    tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    gateway_id     uuid NOT NULL REFERENCES gateways (id) ON DELETE CASCADE,
    alias          text NOT NULL,
    connector_id   uuid,
    tool_name      text,
    -- The gateway key, or the tenant API key (proxy scope), that made the call.
    gateway_key_id uuid,
    api_key_id     uuid,
    status         text NOT NULL CHECK (status IN ('success', 'error')),
    duration_ms    integer NOT NULL,
    error          text,
    -- Only when the tenant's log_tool_payloads is on; cut to 16 KiB.
    arguments      text,
    result         text,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX gateway_calls_gateway ON gateway_calls (gateway_id, id DESC);
CREATE INDEX gateway_calls_created ON gateway_calls (created_at);
