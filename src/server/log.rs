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
        let body = crate::error::redact(&String::from_utf8_lossy(body), &self.secrets);
        let body = shorten_data_uris(&body);
        let mut delimiter = "JSON".to_owned();
        while body.contains(&delimiter) {
            delimiter.push('_');
        }
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
        let outcome = self
            .outcome
            .clone()
            .unwrap_or_else(|| "client disconnected".to_owned());
        let usage = match (self.usage.input_tokens, self.usage.output_tokens) {
            (None, None) => "-".to_owned(),
            (i, o) => format!("{}/{}", i.unwrap_or(0), o.unwrap_or(0)),
        };
        tracing::info!(
            id = %self.id,
            model = %self.model,
            backend = %self.backend.as_deref().unwrap_or("-"),
            backend_model = %self.backend_model.as_deref().unwrap_or("-"),
            stream = self.stream,
            status = %outcome,
            queue_ms = %ms(self.queued),
            spawn_ms = %ms(self.spawned),
            first_token_ms = %ms(self.first_token),
            total_ms = self.started.elapsed().as_millis() as u64,
            chars = self.answer_chars,
            tokens_in_out = %usage,
            ignored = %self.ignored.join(","),
            "request"
        );
        if self.settings.mode != LogMode::Summary && !self.answer.is_empty() {
            tracing::info!(id = %self.id, "answer: {}", self.shown(&self.answer, self.settings.max_chars));
        }
    }
}

impl RequestLog {
    /// `text` as it may be logged: secrets redacted, then cut to `max` characters.
    fn shown(&self, text: &str, max: usize) -> String {
        truncate(&crate::error::redact(text, &self.secrets), max)
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max).collect();
    format!("{cut}… [{} more chars]", text.chars().count() - max)
}

/// Replaces the payload of long `data:` URIs, which would flood the log.
fn shorten_data_uris(body: &str) -> String {
    static DATA_URI: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"data:([a-z]+/[a-z0-9.+-]+);base64,([A-Za-z0-9+/=]{64,})")
            .unwrap_or_else(|e| unreachable!("static regex: {e}"))
    });
    DATA_URI
        .replace_all(body, |c: &regex::Captures<'_>| {
            format!(
                "data:{};base64,<{} base64 chars omitted>",
                &c[1],
                c[2].len()
            )
        })
        .into_owned()
}
