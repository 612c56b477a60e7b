//! Token estimates of a `Turn`, for the count endpoints of backends that
//! have none of their own (CLIs, OpenAI-compatible upstreams): a real BPE
//! tokenizer, OpenAI's `o200k_base` (exact for the GPT-4o and GPT-5
//! families), over what the model reads. Claude's and Gemini's tokenizers
//! are not public; for them this is an estimate (see the README's "Token
//! counts").
//!
//! What is counted: the text of every message (tool calls' names and
//! arguments, tool results, reasoning), each tool's name, description and
//! JSON schema, plus OpenAI's framing (3 tokens a message, 3 to prime the
//! answer) and a fixed cost per image and document, whose size the
//! gateway does not decode.
//!
//! The tokenizer's cost grows with what it reads, and some text (one
//! character repeated) costs far more than prose: the first
//! [`EXACT_BYTES`] of a request are counted exactly, the rest at the rate
//! they gave, so one request's count is bounded.

use tiktoken_rs::CoreBPE;

use crate::turn::{Part, Turn};

/// Tokens of framing per message.
const PER_MESSAGE: u64 = 3;
/// Tokens that prime the answer.
const PRIMING: u64 = 3;
/// Tokens counted for an image: Anthropic's cost of a ~1.15 megapixel
/// image (its largest before resizing), width × height / 750.
pub const PER_IMAGE: u64 = 1_600;
/// Tokens counted for a document the gateway cannot read (a PDF).
pub const PER_DOCUMENT: u64 = 1_600;

/// Bytes of a request's text the tokenizer reads; the rest is counted at
/// the rate they gave.
pub const EXACT_BYTES: usize = 256 * 1024;

/// The estimated prompt tokens of `turn`. Runs the tokenizer: call it
/// where blocking is allowed.
pub fn estimate(turn: &Turn) -> u64 {
    // Loaded on first use (~0.1 s); its ranks are compiled in. Were they
    // broken, the panic would fail the count (a 500), not make it 0.
    let bpe = tiktoken_rs::o200k_base_singleton();
    let mut counter = Counter {
        bpe,
        budget: EXACT_BYTES,
        read_bytes: 0,
        read_tokens: 0,
    };
    let mut tokens = PRIMING;
    for message in &turn.messages {
        tokens += PER_MESSAGE + parts(&message.parts, &mut counter);
        if let Some(name) = &message.name {
            tokens += counter.count(name);
        }
    }
    for tool in &turn.tools {
        tokens += counter.count(&tool.name) + counter.count(&tool.parameters.to_string());
        if let Some(description) = &tool.description {
            tokens += counter.count(description);
        }
    }
    for tool in &turn.hosted_tools {
        tokens += counter.count(&tool.to_string());
    }
    tokens
}

/// Counts text with the tokenizer until its budget is spent, then at the
/// rate of what it read.
struct Counter<'a> {
    bpe: &'a CoreBPE,
    budget: usize,
    read_bytes: usize,
    read_tokens: u64,
}

impl Counter<'_> {
    fn count(&mut self, text: &str) -> u64 {
        let mut cut = text.len().min(self.budget);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let read = self.bpe.encode_ordinary(&text[..cut]).len() as u64;
        self.budget -= cut;
        self.read_bytes += cut;
        self.read_tokens += read;
        let rest = (text.len() - cut) as u64;
        // Before anything was read (an empty budget), about 4 bytes a token.
        let rate = if self.read_bytes == 0 {
            0.25
        } else {
            self.read_tokens as f64 / self.read_bytes as f64
        };
        read + (rest as f64 * rate).ceil() as u64
    }
}

fn parts(of: &[Part], counter: &mut Counter<'_>) -> u64 {
    of.iter()
        .map(|part| match part {
            Part::Text(text) | Part::Reasoning { text, .. } => counter.count(text),
            Part::Image(_) => PER_IMAGE,
            Part::File(crate::turn::File::Inline {
                media_type, data, ..
            }) if media_type.starts_with("text/") => counter.count(&String::from_utf8_lossy(data)),
            Part::File(_) => PER_DOCUMENT,
            Part::ToolCall {
                name, arguments, ..
            } => counter.count(name) + counter.count(arguments),
            Part::ToolResult { content, .. } => parts(content, counter),
            Part::RedactedReasoning(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::turn::{Message, Role, Tool};

    #[test]
    fn text_is_counted_by_the_tokenizer_not_by_characters() {
        let turn = |text: &str| Turn {
            messages: vec![Message::text_message(Role::User, text.into())],
            ..Turn::default()
        };
        // "hello world" is two o200k tokens, plus the framing.
        assert_eq!(estimate(&turn("hello world")), 2 + PER_MESSAGE + PRIMING);
        // 395 characters of one repeated word: 66 tokens, not 99.
        let repeated = vec!["token"; 66].join(" ");
        let tokens = estimate(&turn(&repeated)) - PER_MESSAGE - PRIMING;
        assert_eq!(tokens, 66);
    }

    #[test]
    fn tools_images_and_tool_calls_count() {
        let mut turn = Turn {
            messages: vec![Message {
                role: Role::Assistant,
                parts: vec![
                    Part::ToolCall {
                        id: "c".into(),
                        name: "Bash".into(),
                        arguments: r#"{"command":"ls"}"#.into(),
                    },
                    Part::Image(crate::turn::Image::Url("https://x/y.png".into())),
                ],
                tool_call_id: None,
                name: None,
                extra: serde_json::Map::new(),
            }],
            ..Turn::default()
        };
        let without_tools = estimate(&turn);
        assert!(without_tools > PER_IMAGE + PER_MESSAGE + PRIMING);
        turn.tools.push(Tool {
            name: "Bash".into(),
            description: Some("Runs a shell command".into()),
            parameters: serde_json::json!({"type": "object"}),
            extra: serde_json::Map::new(),
        });
        assert!(estimate(&turn) > without_tools + 5);
    }

    #[test]
    fn past_its_budget_text_is_counted_at_the_rate_read_so_far() {
        let turn = |text: String| Turn {
            messages: vec![Message::text_message(Role::User, text)],
            ..Turn::default()
        };
        let prose = "the quick brown fox jumps over the lazy dog ";
        let long = prose.repeat(EXACT_BYTES / prose.len() * 4);
        let tokens = estimate(&turn(long.clone())) - PER_MESSAGE - PRIMING;
        // Nine tokens per sentence, read or scaled.
        let sentences = (long.len() / prose.len()) as u64;
        assert!(
            tokens.abs_diff(sentences * 9) <= sentences / 100,
            "{tokens}"
        );
        // One character repeated costs the tokenizer the most: it reads
        // only its budget of it.
        let mut counter = Counter {
            bpe: tiktoken_rs::o200k_base_singleton(),
            budget: EXACT_BYTES,
            read_bytes: 0,
            read_tokens: 0,
        };
        let tokens = counter.count(&"a".repeat(8 << 20));
        assert_eq!((counter.read_bytes, counter.budget), (EXACT_BYTES, 0));
        assert!(tokens > counter.read_tokens * 31, "{tokens}");
    }
}
