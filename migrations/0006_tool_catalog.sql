-- The tool catalog: what each connector's upstream answered to tools/list at the last sync,
-- and a log of direct tool calls made through the REST API.

ALTER TABLE connectors ADD COLUMN tools_synced_at timestamptz;
-- Periodic resync (SWITCHBOARD_TOOL_RESYNC_INTERVAL): a replica claims a connector for this long.
ALTER TABLE connectors ADD COLUMN tools_resync_lease_until timestamptz;

-- Whether direct tool calls of this tenant keep (truncated) arguments and results in the log.
ALTER TABLE tenants ADD COLUMN log_tool_payloads boolean NOT NULL DEFAULT false;

CREATE TABLE tools (
    connector_id  uuid NOT NULL REFERENCES connectors (id) ON DELETE CASCADE,
    name          text NOT NULL,
    title         text,
    description   text,
    input_schema  jsonb NOT NULL,
    output_schema jsonb,
    annotations   jsonb,
    -- SHA-256 over the canonical JSON of everything above: "changed" means this changed.
    content_hash  bytea NOT NULL,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connector_id, name)
);

CREATE TABLE tool_calls (
    id             uuid PRIMARY KEY,   -- UUID v7: time-ordered, the list order
    tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    connector_id   uuid NOT NULL REFERENCES connectors (id) ON DELETE CASCADE,
    tool_name      text NOT NULL,
    api_key_id     uuid REFERENCES api_keys (id) ON DELETE SET NULL,
    status         text NOT NULL
                   CHECK (status IN ('ok', 'tool_error', 'invalid_arguments', 'upstream_error', 'timeout')),
    duration_ms    integer NOT NULL,
    error          text,
    request_bytes  integer NOT NULL,
    response_bytes integer,
    -- Only when the tenant's log_tool_payloads is on; cut to a bounded size.
    arguments      text,
    result         text,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tool_calls_connector ON tool_calls (connector_id, id DESC);
