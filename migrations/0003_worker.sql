-- Token upkeep by the background worker.
ALTER TABLE connectors
    -- When the worker should next refresh (expiry minus lead time, or keep-alive).
    ADD COLUMN next_refresh_at timestamptz,
    -- A replica working on this connector holds it until then (crash-safe claim).
    ADD COLUMN refresh_lease_until timestamptz,
    ADD COLUMN last_refreshed_at timestamptz,
    ADD COLUMN refresh_attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN last_refresh_error text;
CREATE INDEX connectors_refresh_due ON connectors (next_refresh_at) WHERE next_refresh_at IS NOT NULL;
CREATE INDEX connectors_pending_expiry ON connectors (authorization_expires_at)
    WHERE status = 'pending_authorization';

-- Status history, for consoles. Written by a trigger so that every path that changes a
-- status (API, callback, worker, proxy) is recorded without each having to remember.
CREATE TABLE connector_events (
    id           bigserial PRIMARY KEY,
    tenant_id    uuid NOT NULL,
    connector_id uuid NOT NULL REFERENCES connectors (id) ON DELETE CASCADE,
    at           timestamptz NOT NULL DEFAULT now(),
    from_status  text,
    to_status    text NOT NULL,
    code         text,
    message      text
);
CREATE INDEX connector_events_connector ON connector_events (connector_id, id);

CREATE FUNCTION record_connector_event() RETURNS trigger AS $$
BEGIN
    INSERT INTO connector_events (tenant_id, connector_id, from_status, to_status, code, message)
    VALUES (NEW.tenant_id, NEW.id, CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE OLD.status END,
            NEW.status, NEW.status_code, NEW.status_message);
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER connector_created AFTER INSERT ON connectors
    FOR EACH ROW EXECUTE FUNCTION record_connector_event();
CREATE TRIGGER connector_status_changed AFTER UPDATE OF status, status_code ON connectors
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.status_code IS DISTINCT FROM NEW.status_code)
    EXECUTE FUNCTION record_connector_event();
