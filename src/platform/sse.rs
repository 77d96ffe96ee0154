//! `text/event-stream` (WHATWG HTML §9.2.6), the one implementation: an incremental
//! [`Parser`] (bytes in as they arrive, whole events out, each with where its block ends in
//! the stream, for callers that pass the bytes on) and a [`Reader`] of a response's events.
//! Used for every SSE body we read: MCP answers, the legacy transport's stream, the probe.

use std::collections::VecDeque;

use super::net::{NetError, next_chunk};

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
    /// Stream bytes before `buffer[0]`.
    consumed: usize,
    current: Event,
    has_data: bool,
}

/// A blank line ended a block of the stream: where (the offset just past the blank line,
/// counted from the first byte ever pushed), and the event it dispatched, if any (a block
/// of comments, or of fields without `data`, dispatches none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub end: usize,
    pub event: Option<Event>,
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
        Ok(self.push_frames(bytes)?.into_iter().filter_map(|f| f.event).collect())
    }

    /// Feeds bytes; returns every block they complete, with its end offset.
    pub fn push_frames(&mut self, bytes: &[u8]) -> Result<Vec<Frame>, TooLarge> {
        self.buffer.extend_from_slice(bytes);
        let mut frames = Vec::new();
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
            if line.is_empty() {
                frames.push(Frame { end: self.consumed + start, event: self.dispatch() });
            } else {
                self.field(&line)?;
            }
        }
        self.buffer.drain(..start);
        self.consumed += start;
        if self.buffer.len() > MAX_LINE {
            return Err(TooLarge);
        }
        Ok(frames)
    }

    /// A blank line: the event assembled so far, if it has data.
    fn dispatch(&mut self) -> Option<Event> {
        let event = std::mem::take(&mut self.current);
        let had_data = std::mem::take(&mut self.has_data);
        had_data.then_some(event)
    }

    fn field(&mut self, line: &str) -> Result<(), TooLarge> {
        if line.starts_with(':') {
            return Ok(()); // comment
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
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Reading the body failed, or it grew past the reader's limit (`NetError::TooLarge`).
    #[error(transparent)]
    Net(#[from] NetError),
    #[error(transparent)]
    Event(#[from] TooLarge),
}

/// The events of a response body, read as they arrive.
pub struct Reader {
    response: reqwest::Response,
    parser: Parser,
    queue: VecDeque<Event>,
    /// Bytes still allowed, when limited.
    remaining: Option<usize>,
}

impl Reader {
    pub fn new(response: reqwest::Response) -> Self {
        Self { response, parser: Parser::default(), queue: VecDeque::new(), remaining: None }
    }

    /// From here on, read at most `max` more bytes of the body (events already read but not
    /// yet taken do not count); beyond, [`Reader::next`] fails with `NetError::TooLarge`.
    pub fn limit(&mut self, max: usize) {
        self.remaining = Some(max);
    }

    /// The next event; `None` when the body ends.
    pub async fn next(&mut self) -> Result<Option<Event>, ReadError> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Ok(Some(event));
            }
            let Some(chunk) = next_chunk(&mut self.response).await? else { return Ok(None) };
            if let Some(remaining) = &mut self.remaining {
                let limit = *remaining;
                *remaining = remaining.checked_sub(chunk.len()).ok_or(NetError::TooLarge(limit))?;
            }
            self.queue.extend(self.parser.push(&chunk)?);
        }
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

    #[test]
    fn blocks_end_at_blank_lines_of_every_line_ending() {
        let end = |bytes: &[u8]| Parser::default().push_frames(bytes).unwrap().first().map(|f| f.end);
        assert_eq!(end(b"data: a\n\nrest"), Some(9));
        assert_eq!(end(b"data: a\r\n\r\nrest"), Some(11));
        assert_eq!(end(b"data: a\r\rrest"), Some(9));
        assert_eq!(end(b": c\n\n"), Some(5));
        assert_eq!(end(b"data: a\n"), None);
        assert_eq!(end(b"data: a\r\n\r"), None);
    }

    #[test]
    fn block_ends_count_from_the_first_byte_pushed() {
        let mut p = Parser::default();
        assert!(p.push_frames(b": hi\n").unwrap().is_empty());
        let frames = p.push_frames(b"\ndata: x\n\n").unwrap();
        assert_eq!(frames.iter().map(|f| f.end).collect::<Vec<_>>(), [6, 15]);
        assert_eq!(frames[0].event, None, "a comment block dispatches nothing");
        assert_eq!(frames[1].event.as_ref().unwrap().data, "x");
    }
}
