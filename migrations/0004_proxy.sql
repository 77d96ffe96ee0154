-- Bumped on every change to a connector (and to its secrets), so the proxy's in-process
-- cache of opened credentials can be validated by the one read each request already makes,
-- on every replica, with no invalidation messages to miss.
ALTER TABLE connectors ADD COLUMN version bigint NOT NULL DEFAULT 1;

CREATE FUNCTION bump_connector_version() RETURNS trigger AS $$
BEGIN
    NEW.version := OLD.version + 1;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER connector_version BEFORE UPDATE ON connectors
    FOR EACH ROW EXECUTE FUNCTION bump_connector_version();

CREATE FUNCTION bump_version_of_secret_owner() RETURNS trigger AS $$
BEGIN
    UPDATE connectors SET version = version + 1
    WHERE id = CASE WHEN TG_OP = 'DELETE' THEN OLD.connector_id ELSE NEW.connector_id END;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER connector_secret_changed AFTER INSERT OR UPDATE OR DELETE ON connector_secrets
    FOR EACH ROW EXECUTE FUNCTION bump_version_of_secret_owner();
