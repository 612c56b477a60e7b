//! Server-sent events written for a client ([`encode`]) and read off the
//! wire, as an upstream sends them ([`SseDecoder`]). Reading is linear
//! in the size of the input however it is split (an 8 MiB base64 image can
//! arrive as one event in thousands of TCP segments): each byte is scanned
//! for a line end once, and only the unfinished line is kept between
//! chunks. Pure: bytes in, events out.
//!
//! Lines end with `\n` or `\r\n`; `data:` lines are joined with `\n`,
//! `event:` names the event, comments (`:`), `id:` and `retry:` are
//! skipped, and a blank line dispatches. An event still open at the end
//! of the input is dropped, as the SSE specification says.

use crate::dialect::{Frame, Framing};

/// Writes a stream's frames in its framing, in order.
#[derive(Debug)]
pub struct Writer {
    framing: Framing,
    /// Elements of a JSON array written so far.
    written: usize,
}

impl Writer {
    /// A writer of `framing`.
    pub fn new(framing: Framing) -> Writer {
        Writer {
            framing,
            written: 0,
        }
    }

    /// The stream's content type.
    pub fn content_type(&self) -> &'static str {
        match self.framing {
            Framing::Sse => "text/event-stream",
            Framing::JsonArray => "application/json",
        }
    }

    /// The bytes of `frames`.
    pub fn frames(&mut self, frames: &[Frame]) -> Vec<u8> {
        match self.framing {
            Framing::Sse => encode(frames),
            Framing::JsonArray => {
                let mut out = Vec::new();
                for frame in frames {
                    out.extend_from_slice(if self.written == 0 { b"[" } else { b",\r\n" });
                    out.extend_from_slice(frame.data.as_bytes());
                    self.written += 1;
                }
                out
            }
        }
    }

    /// What keeps a silent stream alive when the encoder has no frame for
    /// it: an SSE comment, or whitespace between array elements.
    pub fn keepalive(&self) -> &'static [u8] {
        match self.framing {
            Framing::Sse => b": ping\n\n",
            Framing::JsonArray => b"\n",
        }
    }

    /// The bytes that end the stream.
    pub fn close(&self) -> &'static [u8] {
        match (self.framing, self.written) {
            (Framing::Sse, _) => b"",
            (Framing::JsonArray, 0) => b"[]",
            (Framing::JsonArray, _) => b"]",
        }
    }
}

/// Frames as SSE: `event:` when named, a `data:` line per line of data.
pub fn encode(frames: &[Frame]) -> Vec<u8> {
    let size: usize = frames.iter().map(|f| f.data.len() + 16).sum();
    let mut out = Vec::with_capacity(size);
    for frame in frames {
        if let Some(name) = &frame.event {
            out.extend_from_slice(b"event: ");
            out.extend_from_slice(name.as_bytes());
            out.push(b'\n');
        }
        for line in frame.data.split('\n') {
            out.extend_from_slice(b"data: ");
            out.extend_from_slice(line.trim_end_matches('\r').as_bytes());
            out.push(b'\n');
        }
        out.push(b'\n');
    }
    out
}

/// One event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// Its `event:` name, if it has one.
    pub event: Option<String>,
    /// Its `data:` lines joined with `\n`.
    pub data: String,
}

/// Decodes a byte stream into events.
#[derive(Debug)]
pub struct SseDecoder {
    /// The unfinished line.
    line: Vec<u8>,
    /// The current event's data and name.
    data: Vec<u8>,
    has_data: bool,
    event: Option<String>,
    /// Largest event (or line) accepted.
    max_event_bytes: usize,
}

/// An event larger than the decoder accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an event of the upstream's stream is larger than {max} bytes")]
pub struct TooLarge {
    /// The limit.
    pub max: usize,
}

impl SseDecoder {
    /// A decoder refusing events over `max_event_bytes`.
    pub fn new(max_event_bytes: usize) -> SseDecoder {
        SseDecoder {
            line: Vec::new(),
            data: Vec::new(),
            has_data: false,
            event: None,
            max_event_bytes,
        }
    }

    /// Takes the next bytes; returns the events they complete.
    ///
    /// # Errors
    /// [`TooLarge`] once an event passes the limit.
    pub fn push(&mut self, mut chunk: &[u8]) -> Result<Vec<SseEvent>, TooLarge> {
        let mut events = Vec::new();
        while let Some(end) = chunk.iter().position(|b| *b == b'\n') {
            self.line.extend_from_slice(&chunk[..end]);
            chunk = &chunk[end + 1..];
            let mut line = std::mem::take(&mut self.line);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if let Some(event) = self.line_done(&line)? {
                events.push(event);
            }
            line.clear();
            self.line = line;
        }
        self.line.extend_from_slice(chunk);
        self.check_size()?;
        Ok(events)
    }

    fn check_size(&self) -> Result<(), TooLarge> {
        if self.line.len() + self.data.len() > self.max_event_bytes {
            return Err(TooLarge {
                max: self.max_event_bytes,
            });
        }
        Ok(())
    }

    /// One complete line: a field of the current event, or its end.
    fn line_done(&mut self, line: &[u8]) -> Result<Option<SseEvent>, TooLarge> {
        if line.is_empty() {
            let data = std::mem::take(&mut self.data);
            let event = self.event.take();
            if !std::mem::take(&mut self.has_data) {
                return Ok(None);
            }
            return Ok(Some(SseEvent {
                event,
                data: String::from_utf8(data)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            }));
        }
        let (field, value) = match line.iter().position(|b| *b == b':') {
            Some(0) => return Ok(None), // a comment
            Some(i) => {
                let value = &line[i + 1..];
                (&line[..i], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
                self.check_size()?;
            }
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            _ => {}
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_split(input: &[u8], size: usize) -> Vec<SseEvent> {
        let mut decoder = SseDecoder::new(1 << 20);
        input
            .chunks(size)
            .flat_map(|c| decoder.push(c).unwrap())
            .collect()
    }

    #[test]
    fn events_are_the_same_however_the_bytes_are_split() {
        let input = b": keep-alive\n\nevent: message_start\r\ndata: {\"a\":1}\r\n\r\ndata: one\ndata:two\nid: 7\nretry: 10\n\ndata: [DONE]\n\ndata: unfinished";
        let whole = decode_split(input, input.len());
        assert_eq!(
            whole,
            [
                SseEvent {
                    event: Some("message_start".into()),
                    data: "{\"a\":1}".into()
                },
                SseEvent {
                    event: None,
                    data: "one\ntwo".into()
                },
                SseEvent {
                    event: None,
                    data: "[DONE]".into()
                },
            ]
        );
        for size in [1, 2, 3, 7] {
            assert_eq!(
                decode_split(input, size),
                whole,
                "split in {size}-byte chunks"
            );
        }
    }

    #[test]
    fn an_event_over_the_limit_is_an_error() {
        let mut decoder = SseDecoder::new(16);
        assert!(decoder.push(b"data: 0123456789").is_ok());
        assert_eq!(decoder.push(b"abcdefgh"), Err(TooLarge { max: 16 }));
        let mut decoder = SseDecoder::new(16);
        assert!(decoder.push(b"data: 0123456789\ndata: abc").is_err());
    }
}
