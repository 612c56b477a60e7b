//! Reads a CLI's stdout, one line at a time, through its output rules and
//! keeps the state of the run: text emitted so far (to diff snapshots),
//! pending separators, usage, the terminal event and any reported error.
//! Pure: no I/O, no clock.

use serde_json::Value;

use crate::backend::rules::{Extract, OutputRules};
use crate::event::{Event, Usage};

/// The state of one run's output.
#[derive(Debug, Default)]
pub struct Decoder {
    emitted: String,
    pending_break: Option<String>,
    usage: Usage,
    session: Option<String>,
    terminal: bool,
    error: Option<ReportedError>,
    warnings: Vec<String>,
    non_json_lines: usize,
}

/// A failure the CLI reported in its output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportedError {
    /// The CLI's message.
    pub message: String,
    /// HTTP status of the model API, when reported.
    pub status: Option<u16>,
}

impl Decoder {
    /// Decodes one stdout line into the events it produces now.
    pub fn line(&mut self, rules: &OutputRules, line: &str) -> Vec<Event> {
        let line = line.trim();
        if line.is_empty() {
            return Vec::new();
        }
        let Ok(value) = serde_json::from_str::<Value>(line) else {
            self.non_json_lines += 1;
            return Vec::new();
        };
        let mut extracted = Vec::new();
        rules.apply(&value, &mut extracted);
        // A line that reports a failure is never answer text, even if some
        // rule also read text from it (e.g. an error `result` line).
        if extracted.iter().any(|e| matches!(e, Extract::Error { .. })) {
            extracted.retain(|e| {
                !matches!(
                    e,
                    Extract::Text(_) | Extract::Snapshot(_) | Extract::Break(_)
                )
            });
        }
        let mut events = Vec::new();
        for item in extracted {
            self.take(item, &mut events);
        }
        events
    }

    fn take(&mut self, item: Extract, events: &mut Vec<Event>) {
        match item {
            Extract::Break(sep) => {
                if !self.emitted.is_empty() {
                    self.pending_break = Some(sep);
                }
            }
            Extract::Text(text) => self.emit_text(text, events),
            Extract::Snapshot(snapshot) => {
                if let Some(new) = snapshot.strip_prefix(self.emitted.as_str()) {
                    let new = new.to_owned();
                    self.emit_text(new, events);
                }
            }
            Extract::Reasoning(text) if !text.is_empty() => {
                events.push(Event::ReasoningDelta(text))
            }
            Extract::Reasoning(_) => {}
            Extract::Session(id) => {
                if self.session.as_deref() != Some(id.as_str()) {
                    self.session = Some(id.clone());
                    events.push(Event::Session(id));
                }
            }
            Extract::Usage(usage) => self.usage.update(&usage),
            Extract::Error { message, status } => {
                // The first error is the cause; later ones are consequences.
                self.error.get_or_insert(ReportedError { message, status });
            }
            Extract::Warning(text) => self.warnings.push(text),
            Extract::Terminal => self.terminal = true,
        }
    }

    fn emit_text(&mut self, text: String, events: &mut Vec<Event>) {
        if text.is_empty() {
            return;
        }
        if let Some(sep) = self.pending_break.take() {
            self.emitted.push_str(&sep);
            events.push(Event::TextDelta(sep));
        }
        self.emitted.push_str(&text);
        events.push(Event::TextDelta(text));
    }

    /// Whether the terminal event was seen.
    pub fn terminal(&self) -> bool {
        self.terminal
    }

    /// The first error the CLI reported, if any.
    pub fn error(&self) -> Option<&ReportedError> {
        self.error.as_ref()
    }

    /// Token counts reported so far.
    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// Warnings reported so far, drained.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// How many stdout lines were not JSON.
    pub fn non_json_lines(&self) -> usize {
        self.non_json_lines
    }
}
