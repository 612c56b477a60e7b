//! A CLI's output read as bytes: stdout split into lines (with a length
//! cap) that are decoded as UTF-8 where they can be and lossily where they
//! cannot, and stderr drained to its end whatever it contains, keeping the
//! last lines for error messages. A stray byte never fails a run, and a CLI
//! is never blocked writing to a pipe nobody reads.

use std::collections::VecDeque;

use bytes::{Buf as _, Bytes, BytesMut};
use futures_util::StreamExt as _;
use tokio::io::AsyncRead;
use tokio_util::codec::{Decoder, FramedRead};

use crate::error::redact;

/// How many stderr lines are kept for error messages.
const STDERR_TAIL_LINES: usize = 20;
/// Longest stderr line kept whole.
const MAX_STDERR_LINE: usize = 8 * 1024;

/// Newline-separated lines of bytes, none longer than a cap.
pub(crate) type ByteLines<R> = FramedRead<R, LineCodec>;

/// Splits `reader` into lines of at most `max` bytes.
pub(crate) fn byte_lines<R: AsyncRead>(reader: R, max: usize) -> ByteLines<R> {
    FramedRead::new(
        reader,
        LineCodec {
            max,
            scanned: 0,
            discarding: false,
        },
    )
}

/// One line of output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Line {
    /// The line's bytes, without the newline.
    Bytes(Bytes),
    /// A line longer than the cap; its bytes are skipped and reading goes on.
    TooLong,
}

/// Splits bytes at newlines. Unlike `LinesCodec`, it neither requires UTF-8
/// nor ends the stream at an over-long line, so a reader can go on draining.
#[derive(Debug)]
pub(crate) struct LineCodec {
    max: usize,
    /// Bytes of the buffer already searched for a newline.
    scanned: usize,
    /// Skipping the rest of an over-long line.
    discarding: bool,
}

impl Decoder for LineCodec {
    type Item = Line;
    type Error = std::io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> std::io::Result<Option<Line>> {
        loop {
            let newline = buf[self.scanned..]
                .iter()
                .position(|b| *b == b'\n')
                .map(|i| self.scanned + i);
            match (newline, self.discarding) {
                (Some(end), true) => {
                    buf.advance(end + 1);
                    self.scanned = 0;
                    self.discarding = false;
                }
                (Some(end), false) => {
                    self.scanned = 0;
                    if end > self.max {
                        buf.advance(end + 1);
                        return Ok(Some(Line::TooLong));
                    }
                    let mut line = buf.split_to(end + 1);
                    line.truncate(end);
                    return Ok(Some(Line::Bytes(line.freeze())));
                }
                (None, true) => {
                    buf.clear();
                    self.scanned = 0;
                    return Ok(None);
                }
                (None, false) if buf.len() > self.max => {
                    buf.clear();
                    self.scanned = 0;
                    self.discarding = true;
                    return Ok(Some(Line::TooLong));
                }
                (None, false) => {
                    self.scanned = buf.len();
                    return Ok(None);
                }
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> std::io::Result<Option<Line>> {
        if let Some(line) = self.decode(buf)? {
            return Ok(Some(line));
        }
        // A last line without a newline.
        self.scanned = 0;
        if buf.is_empty() || std::mem::take(&mut self.discarding) {
            buf.clear();
            return Ok(None);
        }
        Ok(Some(Line::Bytes(buf.split().freeze())))
    }
}

/// A line as text; `false` when invalid UTF-8 had to be replaced.
pub(crate) fn decode(line: &[u8]) -> (std::borrow::Cow<'_, str>, bool) {
    match std::str::from_utf8(line) {
        Ok(text) => (text.into(), true),
        Err(_) => (String::from_utf8_lossy(line), false),
    }
}

/// Reads `stderr` to its end, logging each line (secrets redacted) and
/// returning the last ones.
pub(crate) async fn drain_stderr(
    stderr: impl AsyncRead + Unpin,
    backend: String,
    secrets: Vec<String>,
    log_events: bool,
) -> Vec<String> {
    let mut lines = byte_lines(stderr, MAX_STDERR_LINE);
    let mut tail = VecDeque::with_capacity(STDERR_TAIL_LINES);
    while let Some(line) = lines.next().await {
        let line = match line {
            Ok(Line::Bytes(bytes)) => redact(decode(&bytes).0.trim_end(), &secrets),
            Ok(Line::TooLong) => "[long stderr line omitted]".to_owned(),
            // A read error ends the pipe; there is nothing more to drain.
            Err(_) => break,
        };
        if line.is_empty() {
            continue;
        }
        log_cli_line(&backend, &line, log_events);
        if tail.len() == STDERR_TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line);
    }
    tail.into()
}

/// Logs a line the CLI printed (stderr or a warning event).
pub(crate) fn log_cli_line(backend: &str, line: &str, log_events: bool) {
    if log_events {
        tracing::info!(backend, "cli: {line}");
    } else {
        tracing::debug!(backend, "cli: {line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stderr_is_drained_past_invalid_bytes_and_long_lines() {
        let mut input = b"first\n\xff\xfe broken \xc3\n".to_vec();
        input.extend(vec![b'x'; MAX_STDERR_LINE + 10]);
        input.extend(b"\nlast words token=s3cret-value\n");
        let tail = drain_stderr(&input[..], "b".into(), vec!["s3cret-value".into()], false).await;
        assert_eq!(
            tail,
            [
                "first",
                "\u{fffd}\u{fffd} broken \u{fffd}",
                "[long stderr line omitted]",
                "last words token=[redacted]"
            ]
        );
    }

    #[tokio::test]
    async fn stdout_lines_are_bytes_and_decode_lossily() {
        let input: &[u8] = b"{\"a\":1}\n{\"t\":\"caf\xe9\"}\ntoo long a line\nlast";
        let lines: Vec<Line> = byte_lines(input, 8).map(Result::unwrap).collect().await;
        let text = |line: &Line| match line {
            Line::Bytes(bytes) => decode(bytes).0.into_owned(),
            Line::TooLong => "<too long>".to_owned(),
        };
        assert_eq!(
            lines.iter().map(text).collect::<Vec<_>>(),
            ["{\"a\":1}", "<too long>", "<too long>", "last"]
        );
        let lines: Vec<Line> = byte_lines(input, 64).map(Result::unwrap).collect().await;
        let Line::Bytes(second) = &lines[1] else {
            panic!("{lines:?}")
        };
        assert_eq!(decode(second), ("{\"t\":\"caf\u{fffd}\"}".into(), false));
        assert_eq!(lines.len(), 4);
    }

    #[tokio::test]
    async fn a_line_split_across_reads_is_one_line() {
        let (mut writer, reader) = tokio::io::duplex(4);
        let lines = tokio::spawn(
            byte_lines(reader, 1024)
                .map(Result::unwrap)
                .collect::<Vec<_>>(),
        );
        use tokio::io::AsyncWriteExt as _;
        for piece in [&b"ab"[..], b"cd\nef", b"g\n", b"tail"] {
            writer.write_all(piece).await.unwrap();
        }
        drop(writer);
        assert_eq!(
            lines.await.unwrap(),
            [
                Line::Bytes(Bytes::from_static(b"abcd")),
                Line::Bytes(Bytes::from_static(b"efg")),
                Line::Bytes(Bytes::from_static(b"tail")),
            ]
        );
    }
}
