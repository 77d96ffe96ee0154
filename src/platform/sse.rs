//! An incremental `text/event-stream` parser (WHATWG HTML §9.2.6): feed it bytes as they
//! arrive, get whole events out. Used to read MCP responses that come as SSE.

/// One dispatched event. `event` is `None` for the default type (`message`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    pub event: Option<String>,
    pub data: String,
    pub id: Option<String>,
}

#[derive(Debug, Default)]
pub struct Parser {
    buffer: Vec<u8>,
    current: Event,
    has_data: bool,
}

/// Longest line we hold while waiting for its end; a longer one is a broken stream.
const MAX_LINE: usize = 4 * 1024 * 1024;
/// Largest event we assemble: `data:` lines accumulate until a blank line, so without a bound
/// an upstream that never ends its event would grow the buffer for as long as it streams.
pub const MAX_EVENT: usize = 8 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
#[error("an SSE line exceeded {MAX_LINE} bytes or an event {MAX_EVENT} bytes")]
pub struct TooLarge;

impl Parser {
    /// Feeds bytes; returns the events completed by them.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Event>, TooLarge> {
        self.buffer.extend_from_slice(bytes);
        let mut events = Vec::new();
        let mut start = 0;
        while let Some(offset) = self.buffer[start..].iter().position(|&b| b == b'\n' || b == b'\r') {
            let end = start + offset;
            // A CR at the very end may be the first half of CRLF: wait for the next byte.
            if self.buffer[end] == b'\r' && end + 1 == self.buffer.len() {
                break;
            }
            let line = String::from_utf8_lossy(&self.buffer[start..end]).into_owned();
            let crlf = self.buffer[end] == b'\r' && self.buffer.get(end + 1) == Some(&b'\n');
            start = end + if crlf { 2 } else { 1 };
            if let Some(event) = self.line(&line)? {
                events.push(event);
            }
        }
        self.buffer.drain(..start);
        if self.buffer.len() > MAX_LINE {
            return Err(TooLarge);
        }
        Ok(events)
    }

    fn line(&mut self, line: &str) -> Result<Option<Event>, TooLarge> {
        if line.is_empty() {
            let event = std::mem::take(&mut self.current);
            let had_data = std::mem::take(&mut self.has_data);
            return Ok(had_data.then_some(event));
        }
        if line.starts_with(':') {
            return Ok(None); // comment
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.current.event = Some(value.to_owned()),
            "data" => {
                if self.current.data.len() + value.len() >= MAX_EVENT {
                    return Err(TooLarge);
                }
                if self.has_data {
                    self.current.data.push('\n');
                }
                self.current.data.push_str(value);
                self.has_data = true;
            }
            "id" if !value.contains('\0') => self.current.id = Some(value.to_owned()),
            _ => {} // retry and unknown fields do not affect the event
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_and_line_endings() {
        let mut p = Parser::default();
        assert!(p.push(b"event: endpoint\r").unwrap().is_empty());
        assert!(p.push(b"\ndata: /messages?s=1\r\n").unwrap().is_empty());
        let events = p.push(b"\r\n: keep-alive\n\nid: 7\ndata: {\"a\":\ndata: 1}\n\n").unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].event.as_deref(), Some("endpoint"));
        assert_eq!(events[0].data, "/messages?s=1");
        assert_eq!(events[1], Event { event: None, data: "{\"a\":\n1}".into(), id: Some("7".into()) });
    }

    #[test]
    fn an_event_that_never_ends_is_refused_once_too_large() {
        let mut p = Parser::default();
        let line = format!("data: {}\n", "x".repeat(1024 * 1024));
        let pushed: Result<Vec<_>, _> =
            (0..MAX_EVENT / (1024 * 1024) + 1).map(|_| p.push(line.as_bytes())).collect();
        assert!(pushed.is_err());
    }

    #[test]
    fn events_without_data_are_not_dispatched() {
        let mut p = Parser::default();
        assert!(p.push(b"event: ping\n\nretry: 10\n\n").unwrap().is_empty());
        assert_eq!(p.push(b"data\n\n").unwrap()[0].data, "");
    }
}
