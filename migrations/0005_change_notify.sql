-- Announces changed connectors and API keys on the `switchboard_changes` channel, so every
-- replica can drop its in-process copies (src/cache.rs). NOTIFY is delivered at commit, and
-- only then, so a listener never hears of a change it cannot yet read. A change to a
-- connector's secrets bumps the connector's version (0004), so it is announced too.
CREATE FUNCTION announce_change() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('switchboard_changes', TG_ARGV[0] || ':' || OLD.id);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER connector_announced AFTER UPDATE OR DELETE ON connectors
    FOR EACH ROW EXECUTE FUNCTION announce_change('connector');

CREATE TRIGGER api_key_announced AFTER UPDATE OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION announce_change('api_key');
