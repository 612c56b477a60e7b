//! Flattens a conversation into the single prompt a CLI reads.
//!
//! Format (documented in the README): one block per message, `ROLE: text`,
//! blocks separated by a blank line. Tool calls and tool results keep their
//! ids and names; images become `[image #N]` markers whose files are passed
//! to the CLI separately. Pure: no I/O.

use std::fmt::Write as _;

use crate::turn::{Part, Role, Turn};

/// What a CLI is given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prompt {
    /// The flattened conversation.
    pub text: String,
    /// System and developer instructions, when the CLI takes them separately.
    pub system: Option<String>,
}

/// How a conversation is flattened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// System and developer messages go to [`Prompt::system`] instead of the text.
    pub separate_system: bool,
    /// Messages before this index are left out: the CLI resumes a session
    /// that already holds them (see [`Turn::first_new_message`]).
    pub first_new: usize,
}

/// Flattens `turn`.
pub fn flatten(turn: &Turn, options: Options) -> Prompt {
    let mut blocks = Vec::with_capacity(turn.messages.len());
    let mut system = Vec::new();
    let mut image_number = 0;
    for (index, message) in turn.messages.iter().enumerate() {
        let instructions = matches!(message.role, Role::System | Role::Developer);
        if options.separate_system && instructions {
            system.push(message.text());
            continue;
        }
        if index < options.first_new {
            continue;
        }
        let mut body = String::new();
        render(&message.parts, &mut body, &mut image_number);
        let mut label = match (message.role, &message.tool_call_id) {
            (Role::Tool, Some(id)) => format!("TOOL RESULT id={id}"),
            (role, _) => role.label().to_owned(),
        };
        if let Some(name) = message.name.as_deref().filter(|n| !n.is_empty()) {
            label = format!("{label} ({name})");
        }
        blocks.push(format!("{label}: {}", body.trim()));
    }
    let system = system
        .into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>();
    Prompt {
        text: blocks.join("\n\n").trim().to_owned(),
        system: (!system.is_empty()).then(|| system.join("\n\n")),
    }
}

/// Appends `parts` as prompt text: images become `[image #N]` markers,
/// tool calls and results keep their ids; earlier reasoning is left out
/// (a CLI thinks anew).
fn render(parts: &[Part], body: &mut String, image_number: &mut usize) {
    for part in parts {
        match part {
            Part::Text(text) => body.push_str(text),
            Part::Image(_) => {
                *image_number += 1;
                separate(body);
                let _ = write!(body, "[image #{image_number}]");
            }
            Part::ToolCall {
                id,
                name,
                arguments,
            } => {
                separate(body);
                let _ = write!(body, "[tool call {name} id={id}] {arguments}");
            }
            Part::ToolResult {
                id,
                content,
                is_error,
            } => {
                separate(body);
                let failed = if *is_error { " (error)" } else { "" };
                let _ = write!(body, "[tool result id={id}{failed}] ");
                render(content, body, image_number);
            }
            // Refused by the capability review before a CLI is planned.
            Part::File(_) | Part::Reasoning { .. } | Part::RedactedReasoning(_) => {}
        }
    }
}

fn separate(body: &mut String) {
    if !body.is_empty() && !body.ends_with('\n') {
        body.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::turn::{Image, Message};

    fn msg(role: Role, parts: Vec<Part>) -> Message {
        Message {
            role,
            parts,
            tool_call_id: None,
            name: None,
            extra: serde_json::Map::new(),
        }
    }

    fn text(s: &str) -> Part {
        Part::Text(s.to_owned())
    }

    #[test]
    fn conversation_becomes_role_blocks() {
        let turn = Turn {
            messages: vec![
                msg(Role::System, vec![text("be brief")]),
                msg(Role::User, vec![text("hi")]),
                msg(Role::Assistant, vec![text("hello")]),
                msg(Role::User, vec![text("2+2?")]),
            ],
            ..Turn::default()
        };
        let prompt = flatten(&turn, Options::default());
        assert_eq!(
            prompt.text,
            "SYSTEM: be brief\n\nUSER: hi\n\nASSISTANT: hello\n\nUSER: 2+2?"
        );
        assert_eq!(prompt.system, None);
        let separate = flatten(
            &turn,
            Options {
                separate_system: true,
                ..Options::default()
            },
        );
        assert_eq!(separate.text, "USER: hi\n\nASSISTANT: hello\n\nUSER: 2+2?");
        assert_eq!(separate.system.as_deref(), Some("be brief"));
        let resumed = flatten(
            &turn,
            Options {
                separate_system: true,
                first_new: turn.first_new_message(),
            },
        );
        assert_eq!(resumed.text, "USER: 2+2?");
        assert_eq!(resumed.system.as_deref(), Some("be brief"));
    }

    #[test]
    fn tools_and_images_keep_their_place() {
        let mut result = msg(Role::Tool, vec![text("72F")]);
        result.tool_call_id = Some("call_1".into());
        result.name = Some("weather".into());
        let turn = Turn {
            messages: vec![
                msg(
                    Role::User,
                    vec![
                        text("what is this?"),
                        Part::Image(Image::Url("http://x".into())),
                    ],
                ),
                msg(
                    Role::Assistant,
                    vec![Part::ToolCall {
                        id: "call_1".into(),
                        name: "weather".into(),
                        arguments: "{\"city\":\"Oslo\"}".into(),
                    }],
                ),
                result,
            ],
            ..Turn::default()
        };
        assert_eq!(
            flatten(&turn, Options::default()).text,
            "USER: what is this?\n[image #1]\n\nASSISTANT: [tool call weather id=call_1] {\"city\":\"Oslo\"}\n\nTOOL RESULT id=call_1 (weather): 72F"
        );
    }
}
