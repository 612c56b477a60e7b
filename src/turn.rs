//! The normalised request every inbound dialect is translated into and every
//! backend is driven from.
//!
//! Pure data: no I/O, no wire formats.

/// One request for one answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Turn {
    /// The model string the client asked for, untouched.
    pub model: String,
    /// The conversation, system and developer messages included, in order.
    pub messages: Vec<Message>,
    /// Whether the client wants the answer streamed.
    pub stream: bool,
    /// Whether a streamed answer should end with a usage report.
    pub include_usage: bool,
    /// Requested reasoning effort.
    pub effort: Option<Effort>,
    /// A session or thread id to continue, as sent by the client.
    pub session: Option<String>,
    /// Request parameters this gateway cannot honour for CLI backends, by
    /// name; they are reported back to the client, never dropped silently.
    pub ignored: Vec<String>,
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
}

/// A piece of message content.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// Plain text.
    Text(String),
    /// An image.
    Image(Image),
    /// A tool call the assistant made earlier in the conversation.
    ToolCall {
        /// Call id.
        id: String,
        /// Tool name.
        name: String,
        /// Arguments as a JSON string.
        arguments: String,
    },
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
        let mut out = String::new();
        for part in &self.parts {
            if let Part::Text(text) = part {
                out.push_str(text);
            }
        }
        out
    }

    /// The images in this message, to check them and take their bytes.
    pub fn images_mut(&mut self) -> impl Iterator<Item = &mut Image> {
        self.parts.iter_mut().filter_map(|p| match p {
            Part::Image(image) => Some(image),
            _ => None,
        })
    }
}
