-- REST connectors (issue 15): a connector is an MCP server (`mcp`) or a REST API described by
-- a descriptor (`rest`). `rest` holds the validated descriptor and the names of the credential
-- fields that are set (their values are sealed in connector_secrets as `rest_credentials`).
ALTER TABLE connectors
    ADD COLUMN kind text NOT NULL DEFAULT 'mcp' CHECK (kind IN ('mcp', 'rest')),
    ADD COLUMN rest jsonb,
    ADD CONSTRAINT connectors_rest_has_config CHECK ((kind = 'rest') = (rest IS NOT NULL));

-- `rate_limits` of REST descriptors, `per_account`: calls counted per connector in fixed
-- windows of the database's clock, so every replica counts against the same window.
CREATE TABLE rest_rate_windows (
    connector_id uuid NOT NULL REFERENCES connectors (id) ON DELETE CASCADE,
    rule         smallint NOT NULL,            -- index of the rule in the descriptor
    window_start timestamptz NOT NULL,
    calls        integer NOT NULL,
    PRIMARY KEY (connector_id, rule, window_start)
);
