//! The normalised request every inbound dialect is translated into and every
//! backend is driven from.
//!
//! Pure data: no I/O, no wire formats.

/// One request for one answer, as the client sent it: every dialect maps
/// onto this, keeping everything, and the pipeline's capability review
/// decides what the chosen backend honours.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Turn {
    /// The model string the client asked for, untouched.
    pub model: String,
    /// The conversation, system and developer messages included, in order.
    pub messages: Vec<Message>,
    /// Whether the client wants the answer streamed.
    pub stream: bool,
    /// Requested reasoning effort.
    pub effort: Option<Effort>,
    /// A session or thread id to continue, as sent by the client.
    pub session: Option<String>,
    /// Tools the client defines for the model to call.
    pub tools: Vec<Tool>,
    /// Tools the client asks the provider to run itself (`{"type":
    /// "web_search"}`, `{"type": "image_generation", "size": …}`), as sent.
    pub hosted_tools: Vec<serde_json::Value>,
    /// Whether and which tool the model must call.
    pub tool_choice: Option<ToolChoice>,
    /// Generation parameters.
    pub params: Params,
    /// Top-level fields this vocabulary has no place for, as sent (for
    /// backends that pass them on).
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// Other things the client sent that have no meaning here, by name
    /// (e.g. `input` beside `messages`): always reported as ignored.
    pub unused: Vec<String>,
    /// The request as the client sent it, for a backend that speaks the
    /// client's own wire dialect: sent on as it is (pass-through).
    pub native: Option<Native>,
    /// Why only a backend of the client's own dialect can answer it (it
    /// names something only that upstream knows, such as one of its
    /// response ids): any other backend refuses it with this.
    pub native_only: Option<String>,
    /// `session` is the gateway's own key (a chain of Responses), not one
    /// the client sent: a backend without sessions is sent the whole
    /// history, and does not name the key as ignored.
    pub implied_session: bool,
}

/// A request in a wire dialect, as the client sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct Native {
    /// Its dialect.
    pub wire: Wire,
    /// Its body, byte for byte.
    pub body: bytes::Bytes,
    /// The client's headers that belong to the request (Anthropic's
    /// `anthropic-beta` and `anthropic-version`), by lower-case name.
    pub headers: Vec<(String, String)>,
}

/// A wire dialect both a client and an upstream may speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// Anthropic Messages.
    AnthropicMessages,
    /// OpenAI Responses.
    OpenAiResponses,
    /// Google Gemini `generateContent`.
    Gemini,
}

impl Turn {
    /// The type of each hosted tool asked for.
    pub fn hosted_tool_types(&self) -> impl Iterator<Item = &str> {
        self.hosted_tools
            .iter()
            .filter_map(|tool| tool.get("type")?.as_str())
    }

    /// The index of the first message after the last assistant answer: what
    /// a resumed session has not seen yet.
    pub fn first_new_message(&self) -> usize {
        self.messages
            .iter()
            .rposition(|m| m.role == Role::Assistant)
            .map_or(0, |i| i + 1)
    }
}

/// Generation parameters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params {
    /// Most output tokens.
    pub max_tokens: Option<u64>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// Sequences that end the answer.
    pub stop: Vec<String>,
    /// Seed for sampling.
    pub seed: Option<i64>,
    /// Requested output format (a JSON schema, JSON mode…), as sent.
    pub response_format: Option<serde_json::Value>,
    /// End-user id for the provider's abuse monitoring.
    pub user: Option<String>,
    /// Whether several tool calls may come at once.
    pub parallel_tool_calls: Option<bool>,
    /// Number of answers asked for.
    pub n: Option<u64>,
    /// The names the client gave the parameters above that it set (other
    /// than `n`), as it spelled them, for the report of what a backend ignores.
    pub named: Vec<String>,
}

/// A tool the client defines.
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    /// Its name.
    pub name: String,
    /// What it does.
    pub description: Option<String>,
    /// JSON Schema of its arguments.
    pub parameters: serde_json::Value,
    /// Other fields of its definition (e.g. `strict`), as sent.
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Whether the model must call a tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    /// The model decides.
    Auto,
    /// No tool calls.
    None,
    /// Some tool call is required.
    Required,
    /// This tool must be called.
    Named(String),
}

impl ToolChoice {
    /// Whether the answer must be a tool call.
    pub fn forces_a_call(&self) -> bool {
        matches!(self, ToolChoice::Required | ToolChoice::Named(_))
    }
}

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Operator instructions.
    System,
    /// Developer instructions (OpenAI's newer name for system).
    Developer,
    /// The user.
    User,
    /// The model.
    Assistant,
    /// A tool's result.
    Tool,
}

impl Role {
    /// Upper-case label used when a conversation is flattened into a prompt.
    pub fn label(self) -> &'static str {
        match self {
            Role::System => "SYSTEM",
            Role::Developer => "DEVELOPER",
            Role::User => "USER",
            Role::Assistant => "ASSISTANT",
            Role::Tool => "TOOL",
        }
    }
}

/// One message of the conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Author.
    pub role: Role,
    /// Content, in order.
    pub parts: Vec<Part>,
    /// For tool results: the call they answer.
    pub tool_call_id: Option<String>,
    /// Optional author or tool name.
    pub name: Option<String>,
    /// Other fields of the message, as sent.
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Message {
    /// A message of one text part.
    pub fn text_message(role: Role, text: String) -> Message {
        Message {
            role,
            parts: vec![Part::Text(text)],
            tool_call_id: None,
            name: None,
            extra: serde_json::Map::new(),
        }
    }
}

/// A piece of message content.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// Plain text.
    Text(String),
    /// An image.
    Image(Image),
    /// A document (a PDF, a text file…).
    File(File),
    /// A tool call the assistant made earlier in the conversation.
    ToolCall {
        /// Call id.
        id: String,
        /// Tool name.
        name: String,
        /// Arguments as a JSON string.
        arguments: String,
    },
    /// The result of a tool call, inside a message (Anthropic's form; OpenAI
    /// sends a `tool` message instead).
    ToolResult {
        /// The call it answers.
        id: String,
        /// What the tool returned.
        content: Vec<Part>,
        /// Whether the tool failed.
        is_error: bool,
    },
    /// The model's earlier reasoning, with the provider's signature that
    /// lets it be sent back.
    Reasoning {
        /// The reasoning text.
        text: String,
        /// Opaque signature, passed back unchanged.
        signature: Option<String>,
    },
    /// Reasoning the provider encrypted, passed back unchanged.
    RedactedReasoning(String),
}

/// An image sent by the client.
#[derive(Debug, Clone, PartialEq)]
pub enum Image {
    /// Decoded bytes of a `data:` URI.
    Inline {
        /// e.g. `image/png`.
        media_type: String,
        /// Raw bytes.
        data: Vec<u8>,
    },
    /// A remote URL (not fetched by this gateway).
    Url(String),
}

/// The text parts of `parts` joined together (a message's, or a tool
/// result's content).
pub fn text_of(parts: &[Part]) -> String {
    let mut out = String::new();
    for part in parts {
        if let Part::Text(text) = part {
            out.push_str(text);
        }
    }
    out
}

/// A document sent by the client.
#[derive(Debug, Clone, PartialEq)]
pub enum File {
    /// Its bytes, from a `data:` URI.
    Inline {
        /// e.g. `application/pdf`.
        media_type: String,
        /// Raw bytes.
        data: Vec<u8>,
        /// Its name, when the client gave one.
        filename: Option<String>,
    },
    /// A file the provider already holds, by its id (OpenAI's `file_id`).
    Id(String),
}

/// Reasoning effort levels understood by the CLIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Effort {
    /// Least reasoning.
    Low,
    /// Default for most models.
    Medium,
    /// More reasoning.
    High,
    /// Extra high (Codex, Claude).
    XHigh,
    /// Maximum (Claude).
    Max,
}

impl Effort {
    /// Parses a client value; `none` and `minimal` mean `low`, as in the original.
    pub fn parse(value: &str) -> Option<Effort> {
        Some(match value.trim().to_ascii_lowercase().as_str() {
            "none" | "minimal" | "low" => Effort::Low,
            "medium" => Effort::Medium,
            "high" => Effort::High,
            "xhigh" => Effort::XHigh,
            "max" => Effort::Max,
            _ => return None,
        })
    }

    /// Parses a configured value, with an error that lists the choices.
    pub fn parse_setting(value: &str) -> Result<Effort, String> {
        Effort::parse(value)
            .ok_or_else(|| format!("unknown effort `{value}`: use low, medium, high, xhigh or max"))
    }

    /// The effort whose token budget (by a provider's `budget_of`) is the
    /// largest at or below `budget`; below all of them, [`Effort::Low`].
    pub fn for_budget(budget: u64, budget_of: impl Fn(Effort) -> u64) -> Effort {
        [Effort::Max, Effort::XHigh, Effort::High, Effort::Medium]
            .into_iter()
            .find(|effort| budget >= budget_of(*effort))
            .unwrap_or(Effort::Low)
    }

    /// The value passed to CLIs.
    pub fn as_str(self) -> &'static str {
        match self {
            Effort::Low => "low",
            Effort::Medium => "medium",
            Effort::High => "high",
            Effort::XHigh => "xhigh",
            Effort::Max => "max",
        }
    }
}

impl Message {
    /// The message's text parts joined together.
    pub fn text(&self) -> String {
        text_of(&self.parts)
    }

    /// Whether the message holds a file (tool results included).
    pub fn has_files(&self) -> bool {
        fn any(parts: &[Part]) -> bool {
            parts.iter().any(|part| match part {
                Part::File(_) => true,
                Part::ToolResult { content, .. } => any(content),
                _ => false,
            })
        }
        any(&self.parts)
    }

    /// Whether the message holds an image (tool results included).
    pub fn has_images(&self) -> bool {
        fn any(parts: &[Part]) -> bool {
            parts.iter().any(|part| match part {
                Part::Image(_) => true,
                Part::ToolResult { content, .. } => any(content),
                _ => false,
            })
        }
        any(&self.parts)
    }

    /// The images in this message (tool results included), in order, to
    /// check them and take their bytes.
    pub fn images_mut(&mut self) -> Vec<&mut Image> {
        fn collect<'a>(parts: &'a mut [Part], out: &mut Vec<&'a mut Image>) {
            for part in parts {
                match part {
                    Part::Image(image) => out.push(image),
                    Part::ToolResult { content, .. } => collect(content, out),
                    _ => {}
                }
            }
        }
        let mut images = Vec::new();
        collect(&mut self.parts, &mut images);
        images
    }
}
