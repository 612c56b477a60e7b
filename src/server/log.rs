//! Request logs: one summary line per request with its timings (queue,
//! spawn, first token, total), plus the question and answer (`qa`) or the
//! whole prompt and answer (`full`), and a replayable curl command
//! (`--log-curl`). Tokens never appear: the curl command reads the token
//! from an environment variable, and logged text (question, prompt, answer,
//! request body) is redacted of every secret the config knows.

use std::time::{Duration, Instant};

use crate::config::settings::{LogMode, LogSettings};
use crate::engine::Prompt;
use crate::event::Usage;
use crate::turn::{Message, Role, Turn};

/// Bytes of answer kept beyond the logged length, for redaction.
const REDACTION_MARGIN: usize = 512;

/// The log record of one request; written when it is dropped, so requests
/// that end by disconnect are logged too.
#[derive(Debug)]
pub(super) struct RequestLog {
    /// Request id.
    pub id: String,
    settings: LogSettings,
    started: Instant,
    /// Client model string.
    pub model: String,
    /// Backend name, once routed.
    pub backend: Option<String>,
    /// Model passed to the backend.
    pub backend_model: Option<String>,
    /// Streaming request.
    pub stream: bool,
    queued: Option<Duration>,
    spawned: Option<Duration>,
    first_token: Option<Duration>,
    answer: String,
    answer_chars: usize,
    /// Usage, once known.
    pub usage: Usage,
    outcome: Option<String>,
    /// Parameters the backend could not honour.
    pub ignored: Vec<String>,
    /// Values never to print.
    secrets: std::sync::Arc<[String]>,
}

impl RequestLog {
    pub(super) fn start(
        id: String,
        settings: LogSettings,
        secrets: std::sync::Arc<[String]>,
    ) -> RequestLog {
        RequestLog {
            secrets,
            id,
            settings,
            started: Instant::now(),
            model: String::new(),
            backend: None,
            backend_model: None,
            stream: false,
            queued: None,
            spawned: None,
            first_token: None,
            answer: String::new(),
            answer_chars: 0,
            usage: Usage::default(),
            outcome: None,
            ignored: Vec::new(),
        }
    }

    /// The run got its slot at `at`, and its backend started at `started`.
    pub(super) fn run_started(&mut self, at: tokio::time::Instant, started: tokio::time::Instant) {
        let since = |t: tokio::time::Instant| t.into_std().saturating_duration_since(self.started);
        self.queued = Some(since(at));
        self.spawned = Some(since(started));
    }

    /// Records one event of the answer as it goes out; returns how many
    /// bytes of answer (text and reasoning) it carried.
    pub(super) fn event(&mut self, event: &crate::event::Event) -> usize {
        use crate::event::Event;
        match event {
            Event::TextDelta(text) => {
                self.text(text);
                text.len()
            }
            Event::ReasoningDelta(text) => {
                self.reasoning();
                text.len()
            }
            Event::Usage(usage) => {
                self.usage.update(usage);
                0
            }
            Event::ToolCallStart { name, .. } => name.len(),
            Event::ToolCallArguments { fragment, .. } => fragment.len(),
            Event::ReasoningSignature(_)
            | Event::RedactedReasoning(_)
            | Event::Session(_)
            | Event::StopSequence(_)
            | Event::Finish(_)
            // Counted by the events read from it.
            | Event::Verbatim { .. } => 0,
        }
    }

    /// Records answer text as it goes out.
    fn text(&mut self, text: &str) {
        if self.first_token.is_none() {
            self.first_token = Some(self.started.elapsed());
        }
        self.answer_chars += text.chars().count();
        // A little past the limit, so a secret cut by it is still redacted whole.
        if self.settings.mode != LogMode::Summary
            && self.answer.len() < self.settings.max_chars + REDACTION_MARGIN
        {
            self.answer.push_str(text);
        }
    }

    /// Marks the first reasoning token.
    fn reasoning(&mut self) {
        if self.first_token.is_none() {
            self.first_token = Some(self.started.elapsed());
        }
    }

    pub(super) fn finished(&mut self, status: u16) {
        self.outcome = Some(status.to_string());
    }

    pub(super) fn failed(&mut self, status: u16, message: &str) {
        self.outcome = Some(format!("{status} {}", truncate(message, 300)));
    }

    /// A failure sent as an error event after `200 OK` was committed.
    pub(super) fn failed_in_stream(&mut self, status: u16, message: &str) {
        self.outcome = Some(format!(
            "200 then error event {status} {}",
            truncate(message, 300)
        ));
    }

    /// Logs the question (`qa` mode: the last user message).
    pub(super) fn question(&self, turn: &Turn) {
        if self.settings.mode != LogMode::Qa {
            return;
        }
        let question = turn
            .messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .map(Message::text)
            .unwrap_or_default();
        tracing::info!(id = %self.id, "question: {}", self.shown(&question, self.settings.max_chars));
    }

    /// Whether [`RequestLog::sent`] will log anything.
    pub(super) fn wants_sent(&self) -> bool {
        self.settings.mode == LogMode::Full
    }

    /// Logs what the backend was sent (`full` mode: the whole prompt).
    pub(super) fn sent(&self, prompt: &Prompt) {
        if !self.wants_sent() {
            return;
        }
        let max = self.settings.max_chars;
        if let Some(system) = &prompt.system {
            tracing::info!(id = %self.id, "system prompt:\n{}", self.shown(system, max));
        }
        tracing::info!(id = %self.id, "prompt:\n{}", self.shown(&prompt.text, max));
    }

    /// Logs a curl command that replays the request.
    pub(super) fn curl(
        &self,
        address: std::net::SocketAddr,
        path: &str,
        token_var: Option<&str>,
        body: &[u8],
        stream: bool,
    ) {
        if !self.settings.curl {
            return;
        }
        // Quoted for the shell: a path may hold a `'`.
        let url = format!("http://{address}{path}").replace('\'', r"'\''");
        // Bounded work on any body: a prefix is read, its base64 shortened, then cut.
        let end = body.len().min(CURL_BODY_READ);
        let text = String::from_utf8_lossy(&body[..end]);
        let text = shorten_base64(&crate::error::redact(&text, &self.secrets));
        let mut shown = truncate(&text, CURL_BODY_CHARS);
        if end < body.len() && shown.len() == text.len() {
            shown.push_str(&format!("… [{} more bytes]", body.len() - end));
        }
        let body = shown;
        let delimiter = heredoc_delimiter(&body, &self.id);
        let auth = token_var.map_or_else(String::new, |var| {
            format!(" -H \"Authorization: Bearer ${var}\"")
        });
        let no_buffer = if stream { " -N" } else { "" };
        tracing::info!(
            id = %self.id,
            "curl:\ncurl -sS{no_buffer} -X POST '{url}' -H 'Content-Type: application/json'{auth} -d @- <<'{delimiter}'\n{body}\n{delimiter}"
        );
    }
}

impl Drop for RequestLog {
    fn drop(&mut self) {
        let ms = |d: Option<Duration>| {
            d.map_or_else(|| "-".to_owned(), |d| format!("{}", d.as_millis()))
        };
        let outcome = self.outcome.as_deref().unwrap_or("client disconnected");
        let usage = match (self.usage.input_tokens, self.usage.output_tokens) {
            (None, None) => "-".to_owned(),
            (i, o) => format!("{}/{}", i.unwrap_or(0), o.unwrap_or(0)),
        };
        let ignored = self.ignored.join(",");
        tracing::info!(
            id = %self.id,
            model = %field(&self.model, MAX_NAME_CHARS),
            backend = %self.backend.as_deref().unwrap_or("-"),
            backend_model = %field(self.backend_model.as_deref().unwrap_or("-"), MAX_NAME_CHARS),
            stream = self.stream,
            status = %field(outcome, MAX_STATUS_CHARS),
            queue_ms = %ms(self.queued),
            spawn_ms = %ms(self.spawned),
            first_token_ms = %ms(self.first_token),
            total_ms = self.started.elapsed().as_millis() as u64,
            chars = self.answer_chars,
            tokens_in_out = %usage,
            ignored = %field(&ignored, MAX_STATUS_CHARS),
            "request"
        );
        if self.settings.mode != LogMode::Summary && !self.answer.is_empty() {
            tracing::info!(id = %self.id, "answer: {}", self.shown(&self.answer, self.settings.max_chars));
        }
    }
}

/// A here-document delimiter `body` does not hold, found in linear time.
fn heredoc_delimiter(body: &str, id: &str) -> String {
    ["JSON".to_owned(), format!("JSON_{id}")]
        .into_iter()
        .find(|d| !body.contains(d.as_str()))
        .unwrap_or_else(|| format!("JSON_{}", uuid::Uuid::new_v4().simple()))
}

/// Most of a request body the curl command is made from.
const CURL_BODY_READ: usize = 1 << 20;
/// Longest body a curl command shows.
const CURL_BODY_CHARS: usize = 64 * 1024;

/// Longest model name a summary line shows.
const MAX_NAME_CHARS: usize = 256;
/// Longest status or list of ignored parameters a summary line shows.
const MAX_STATUS_CHARS: usize = 400;

/// A client's text as one field of the summary line: control characters
/// escaped, so it can neither start a forged line nor drive the terminal,
/// and cut to `max` characters.
fn field(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max && !text.chars().any(misleading) {
        return std::borrow::Cow::Borrowed(text);
    }
    // Cut first: an escape is never cut in two, and the count is the text's.
    std::borrow::Cow::Owned(escape_controls(&truncate(text, max), |_| false))
}

/// Whether `c` can change how a log line reads: control characters, line
/// and paragraph separators, and bidirectional overrides.
fn misleading(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `text` with the characters that could mislead ([`misleading`]), except
/// those `keep` allows, escaped.
fn escape_controls(text: &str, keep: fn(char) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if misleading(c) && !keep(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

impl RequestLog {
    /// `text` as it may be logged: secrets redacted, control characters
    /// other than line ends and tabs escaped (no terminal escapes), then cut
    /// to `max` characters.
    fn shown(&self, text: &str, max: usize) -> String {
        let text = crate::error::redact(text, &self.secrets);
        escape_controls(&truncate(&text, max), |c| c == '\n' || c == '\t')
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max).collect();
    format!("{cut}… [{} more chars]", text.chars().count() - max)
}

/// Replaces the payload of long `data:` URIs and long base64 strings
/// (Anthropic's `source.data`, Gemini's `inlineData.data`), which would
/// flood the log.
fn shorten_base64(body: &str) -> String {
    static DATA_URI: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"data:([a-z]+/[a-z0-9.+-]+);base64,([A-Za-z0-9+/=]{64,})")
            .unwrap_or_else(|e| unreachable!("static regex: {e}"))
    });
    static BASE64: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#""([A-Za-z0-9+/]{256,}={0,2})""#)
            .unwrap_or_else(|e| unreachable!("static regex: {e}"))
    });
    let body = DATA_URI.replace_all(body, |c: &regex::Captures<'_>| {
        format!(
            "data:{};base64,<{} base64 chars omitted>",
            &c[1],
            c[2].len()
        )
    });
    BASE64
        .replace_all(&body, |c: &regex::Captures<'_>| {
            format!("\"<{} base64 chars omitted>\"", c[1].len())
        })
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_cannot_forge_a_line_or_drive_the_terminal() {
        let forged =
            "fake:x\u{1b}[2J\n2026-12-04T10:40:00Z  INFO request id=1 model=\u{202e}forged";
        let shown = field(forged, MAX_NAME_CHARS);
        assert!(!shown.chars().any(misleading), "{shown}");
        assert!(shown.starts_with(r"fake:x\u{1b}[2J\n2026"), "{shown}");
        assert_eq!(field("claude:sonnet", MAX_NAME_CHARS), "claude:sonnet");
    }

    #[test]
    fn a_long_field_is_cut() {
        let long = "x".repeat(30_000);
        let shown = field(&long, MAX_NAME_CHARS);
        assert!(shown.len() < 300, "{}", shown.len());
        assert!(shown.ends_with("… [29744 more chars]"), "{shown}");
    }

    #[test]
    fn logged_text_keeps_its_lines_but_not_its_escapes() {
        let settings = LogSettings {
            mode: LogMode::Qa,
            curl: false,
            max_chars: 100,
            events: false,
        };
        let log = RequestLog::start("r1".into(), settings, std::sync::Arc::from(vec![]));
        assert_eq!(
            log.shown("a\n\tb\u{1b}[31mc\u{7}", 100),
            "a\n\tb\\u{1b}[31mc\\u{7}"
        );
    }

    #[test]
    fn base64_in_any_dialect_is_shortened() {
        let image = "QUJD".repeat(100);
        let body = format!(
            r#"{{"a":"data:image/png;base64,{image}","b":{{"data":"{image}"}},"c":"short"}}"#
        );
        let shown = shorten_base64(&body);
        assert_eq!(
            shown,
            r#"{"a":"data:image/png;base64,<400 base64 chars omitted>","b":{"data":"<400 base64 chars omitted>"},"c":"short"}"#
        );
    }

    #[test]
    fn the_heredoc_delimiter_is_one_the_body_does_not_hold() {
        assert_eq!(heredoc_delimiter(r#"{"a":1}"#, "r1"), "JSON");
        // Every delimiter the old search would have tried, back to back.
        let body = format!("{{\"x\":\"JSON{}\"}}", "_".repeat(200_000));
        assert_eq!(heredoc_delimiter(&body, "r1"), "JSON_r1");
        let both = format!("{body} JSON_r1");
        let found = heredoc_delimiter(&both, "r1");
        assert!(
            found.starts_with("JSON_") && !both.contains(&found),
            "{found}"
        );
    }
}
