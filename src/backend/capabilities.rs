//! What of a request a backend can honour, declared by its kind and
//! template, and the one review every dialect's requests go through: what
//! the backend cannot honour is named (for `x-agent-cli-ignored-params`),
//! or refused when ignoring it would change what the client gets. Pure.

use crate::error::Error;
use crate::turn::{Message, Part, Turn, Wire};

/// What a backend can honour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// System messages go apart from the conversation (`{system}`).
    pub system: bool,
    /// A session can be resumed (`{session}`).
    pub sessions: bool,
    /// A reasoning effort can be set (`{effort}`).
    pub effort: bool,
    /// Images can be passed (an `each = "images"` group).
    pub images: bool,
    /// Documents (PDF and other file parts) can be passed.
    pub files: bool,
    /// Client tools can be offered and called.
    pub tools: bool,
    /// Generation parameters (max tokens, temperature, top_p, stop, seed,
    /// response format, user, parallel tool calls) are passed on.
    pub sampling: bool,
    /// Of those, the ones the backend has no place for, by the client's name.
    pub unsupported_params: &'static [&'static str],
    /// Reasoning sent back with its signature (`thinking_blocks`) is passed on.
    pub signed_reasoning: bool,
    /// Encrypted reasoning sent back (`redacted_thinking` blocks) is passed on.
    pub redacted_reasoning: bool,
    /// More than one answer per request (`n`).
    pub choices: bool,
    /// Fields outside the vocabulary are passed on as sent.
    pub pass_through: bool,
    /// Without pass-through: the fields of a tool's definition beyond its
    /// name, description and parameters that are still sent (`strict`).
    pub tool_fields: &'static [&'static str],
    /// A session id is passed on as a cache hint, though no conversation
    /// is kept (the ChatGPT backend's `session_id`).
    pub session_affinity: bool,
    /// The provider's own tools (`{"type": "web_search"}`…) it runs.
    pub hosted_tools: HostedTools,
    /// `/v1/embeddings` is served (an OpenAI-compatible upstream).
    pub embeddings: bool,
    /// A request in this wire dialect is sent on as the client sent it
    /// (an upstream of the client's own dialect): nothing is ignored.
    pub native: Option<Wire>,
}

/// Which of the provider's own tools a backend runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HostedTools {
    /// None: they are named as ignored.
    #[default]
    None,
    /// Any, as the client sent them (an OpenAI-compatible or Responses API).
    Any,
    /// These, as the operator allows them (the ChatGPT backend).
    Only {
        /// Web search (`web_search*`, or Chat's `web_search_options`).
        web_search: bool,
        /// Image generation (`image_generation`).
        image_generation: bool,
    },
}

impl HostedTools {
    /// Whether a hosted tool of type `kind` is run.
    pub fn runs(self, kind: &str) -> bool {
        match self {
            HostedTools::None => false,
            HostedTools::Any => true,
            HostedTools::Only {
                web_search,
                image_generation,
            } => {
                (web_search && kind.starts_with("web_search"))
                    || (image_generation && kind == "image_generation")
            }
        }
    }
}

impl Capabilities {
    /// The request as the client sent it, when this backend takes it so
    /// (it speaks the client's wire dialect).
    pub fn passes_through<'t>(&self, turn: &'t Turn) -> Option<&'t crate::turn::Native> {
        turn.native
            .as_ref()
            .filter(|native| self.native == Some(native.wire))
    }

    /// Reviews `turn` for backend `backend`: the names of what will be
    /// ignored, sorted, then `session_id` and `reasoning_effort` when the
    /// template has no place for them.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] for what cannot be ignored: a forced tool
    /// call, more than one answer, or images for a backend without them.
    pub fn review(&self, turn: &Turn, backend: &str) -> Result<Vec<String>, Error> {
        if self.passes_through(turn).is_some() {
            return Ok(Vec::new());
        }
        if let Some(why) = &turn.native_only {
            return Err(Error::InvalidRequest(why.clone()));
        }
        if !self.tools && turn.tool_choice.as_ref().is_some_and(|c| c.forces_a_call()) {
            return Err(Error::InvalidRequest(format!(
                "`tool_choice` forces a client tool call, but backend `{backend}` runs its own tools and answers in text"
            )));
        }
        if let Some(n) = turn.params.n.filter(|n| *n > 1 && !self.choices) {
            return Err(Error::InvalidRequest(format!(
                "`n` = {n} is not supported: backend `{backend}` gives one answer"
            )));
        }
        // A resumed session already holds the earlier messages and images.
        let first_new = if turn.session.is_some() && self.sessions {
            turn.first_new_message()
        } else {
            0
        };
        if !self.images && turn.messages[first_new..].iter().any(Message::has_images) {
            return Err(Error::InvalidRequest(format!(
                "backend `{backend}` cannot take images; send text only, or use a model routed to a backend that takes images (e.g. codex)"
            )));
        }
        if !self.files && turn.messages.iter().any(Message::has_files) {
            return Err(Error::InvalidRequest(format!(
                "backend `{backend}` cannot take files (PDF or other documents); send their text, or use a model routed to a model API that takes them (e.g. anthropic:, openai:)"
            )));
        }
        let mut names: Vec<String> = turn.unused.clone();
        if !self.tools {
            if !turn.tools.is_empty() {
                names.push("tools".into());
            }
            if turn.tool_choice.is_some() {
                names.push("tool_choice".into());
            }
        }
        let params = turn.params.named.iter();
        if self.sampling {
            names.extend(
                params
                    .filter(|n| self.unsupported_params.contains(&n.as_str()))
                    .cloned(),
            );
        } else {
            names.extend(params.cloned());
        }
        // Unsigned reasoning goes only where fields go as sent.
        let unsent = |part: &Part| match part {
            Part::Reasoning { signature, .. } => {
                !(self.signed_reasoning && (signature.is_some() || self.pass_through))
            }
            Part::RedactedReasoning(_) => !self.redacted_reasoning,
            _ => false,
        };
        if turn.messages.iter().flat_map(|m| &m.parts).any(unsent) {
            names.push("messages[].thinking_blocks".into());
        }
        if !self.pass_through && self.tools {
            let unsent = turn
                .tools
                .iter()
                .flat_map(|tool| tool.extra.iter())
                .filter(|(k, v)| !v.is_null() && !self.tool_fields.contains(&k.as_str()));
            names.extend(unsent.map(|(k, _)| format!("tools[].{k}")));
        }
        names.extend(
            turn.hosted_tool_types()
                .filter(|kind| !self.hosted_tools.runs(kind))
                .map(|kind| format!("tools[{kind}]")),
        );
        if !self.pass_through {
            // Chat's way of asking for web search, where the backend runs it.
            let searches = self.hosted_tools.runs("web_search");
            let asked = turn
                .extra
                .keys()
                .filter(|k| !(searches && *k == "web_search_options"));
            names.extend(asked.cloned());
            for message in &turn.messages {
                let fields = message.extra.iter().filter(|(_, v)| !v.is_null());
                names.extend(fields.map(|(k, _)| format!("messages[].{k}")));
            }
        }
        names.sort();
        names.dedup();
        if turn.session.is_some()
            && !turn.implied_session
            && !self.sessions
            && !self.session_affinity
        {
            names.push("session_id".into());
        }
        if turn.effort.is_some() && !self.effort {
            names.push("reasoning_effort".into());
        }
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::turn::{Role, Tool, ToolChoice};

    fn turn() -> Turn {
        Turn {
            messages: vec![Message::text_message(Role::User, "hi".into())],
            ..Turn::default()
        }
    }

    #[test]
    fn a_cli_names_what_it_ignores_in_a_stable_order() {
        let mut t = turn();
        t.params.temperature = Some(0.2);
        t.params.max_tokens = Some(10);
        t.params.named = vec!["temperature".into(), "max_tokens".into()];
        t.tools.push(Tool {
            name: "f".into(),
            description: None,
            parameters: serde_json::json!({}),
            extra: serde_json::Map::new(),
        });
        t.tool_choice = Some(ToolChoice::Auto);
        t.extra
            .insert("metadata".into(), serde_json::json!({"a": 1}));
        t.extra.insert("store".into(), serde_json::Value::Null);
        t.messages[0]
            .extra
            .insert("audio".into(), serde_json::json!({"id": "a"}));
        t.unused.push("input".into());
        t.session = Some("s".into());
        let names = Capabilities::default().review(&t, "x").unwrap();
        assert_eq!(
            names,
            [
                "input",
                "max_tokens",
                "messages[].audio",
                "metadata",
                "store",
                "temperature",
                "tool_choice",
                "tools",
                "session_id"
            ]
        );
        let all = Capabilities {
            tools: true,
            sampling: true,
            pass_through: true,
            sessions: true,
            ..Capabilities::default()
        };
        assert_eq!(all.review(&t, "x").unwrap(), ["input"]);
    }

    #[test]
    fn what_cannot_be_ignored_is_refused() {
        let mut t = turn();
        t.tool_choice = Some(ToolChoice::Named("f".into()));
        let err = Capabilities::default().review(&t, "x").unwrap_err();
        assert!(err.to_string().contains("tool_choice"), "{err}");
        let mut t = turn();
        t.params.n = Some(2);
        assert!(
            Capabilities::default()
                .review(&t, "x")
                .unwrap_err()
                .to_string()
                .contains("`n`")
        );
        t.params.n = Some(1);
        assert!(Capabilities::default().review(&t, "x").unwrap().is_empty());
    }

    #[test]
    fn images_a_resumed_session_already_holds_are_not_sent_again() {
        use crate::turn::{Image, Part};
        let image = Part::Image(Image::Url("https://example.com/a.png".into()));
        let mut t = turn();
        t.messages[0].parts.push(image.clone());
        t.messages
            .push(Message::text_message(Role::Assistant, "seen".into()));
        t.messages
            .push(Message::text_message(Role::User, "more".into()));
        t.session = Some("s".into());
        let resumable = Capabilities {
            sessions: true,
            ..Capabilities::default()
        };
        assert!(resumable.review(&t, "x").is_ok());
        assert!(
            Capabilities::default().review(&t, "x").is_err(),
            "without sessions the history is sent again, images included"
        );
        t.messages[2].parts.push(image);
        assert!(resumable.review(&t, "x").is_err(), "a new image");
    }

    #[test]
    fn reasoning_sent_back_is_named_where_it_cannot_go() {
        use crate::turn::Part;
        let with = |part: Part| {
            let mut t = turn();
            let mut answer = Message::text_message(Role::Assistant, "a".into());
            answer.parts.insert(0, part);
            t.messages.push(answer);
            t
        };
        let signed = with(Part::Reasoning {
            text: "r".into(),
            signature: Some("s".into()),
        });
        let unsigned = with(Part::Reasoning {
            text: "r".into(),
            signature: None,
        });
        let redacted = with(Part::RedactedReasoning("enc".into()));
        let api = Capabilities {
            signed_reasoning: true,
            redacted_reasoning: true,
            ..Capabilities::default()
        };
        let named = |caps: &Capabilities, t: &Turn| {
            caps.review(t, "x")
                .unwrap()
                .contains(&"messages[].thinking_blocks".to_owned())
        };
        assert!(!named(&api, &signed) && !named(&api, &redacted));
        assert!(
            named(&api, &unsigned),
            "unsigned reasoning cannot be sent back"
        );
        let as_sent = Capabilities {
            pass_through: true,
            ..api
        };
        assert!(!named(&as_sent, &unsigned));
        let no_redacted = Capabilities {
            redacted_reasoning: false,
            ..api
        };
        assert!(named(&no_redacted, &redacted) && !named(&no_redacted, &signed));
        assert!(named(&Capabilities::default(), &signed));
    }
}
