//! Gemini through Code Assist (`POST {base}/v1internal:generateContent`,
//! `:streamGenerateContent?alt=sse`), as the Gemini CLI reaches it with a
//! Google login: the Gemini request wrapped with the model and the
//! project, each answer wrapped as `{"response": …}`; and `loadCodeAssist`,
//! which names the user's project. Pure.

use serde_json::{Value, json};

use super::upstream::ContentDecoder;
use crate::event::Event;

/// The Code Assist request for `request` (a Gemini `generateContent` body).
pub fn wrap(request: Value, model: &str, project: &str) -> Value {
    let model = model.strip_prefix("models/").unwrap_or(model);
    json!({"model": model, "project": project, "request": request})
}

/// A whole answer as events.
///
/// # Errors
/// As [`super::upstream::answer`].
pub fn answer(body: &Value, id_prefix: &str) -> Result<Vec<Event>, String> {
    let inner = body
        .get("response")
        .filter(|r| r.is_object())
        .unwrap_or(body);
    super::upstream::answer(inner, id_prefix)
}

/// A decoder of a streamed answer.
pub fn decoder(id_prefix: &str) -> ContentDecoder {
    ContentDecoder::enveloped(id_prefix)
}

/// The `loadCodeAssist` request, as the Gemini CLI sends it.
pub fn load_request() -> Value {
    json!({"metadata": {"ideType": "IDE_UNSPECIFIED", "platform": "PLATFORM_UNSPECIFIED",
                        "pluginType": "GEMINI"}})
}

/// The project in a `loadCodeAssist` answer: a name, or `{"id": …}`.
pub fn project_of(answer: &Value) -> Option<String> {
    let project = answer.get("cloudaicompanionProject")?;
    project
        .as_str()
        .or_else(|| project.get("id")?.as_str())
        .filter(|p| !p.trim().is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::upstream::StreamDecoder as _;
    use crate::event::FinishReason;

    #[test]
    fn requests_are_wrapped_and_answers_unwrapped() {
        let wrapped = wrap(json!({"contents": []}), "models/gemini-3-flash", "proj-1");
        assert_eq!(
            wrapped,
            json!({"model": "gemini-3-flash", "project": "proj-1", "request": {"contents": []}})
        );
        let inner = json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "hi"}]},
                                           "finishReason": "STOP"}]});
        let whole = answer(&json!({"response": inner, "traceId": "t"}), "r").unwrap_or_default();
        assert_eq!(whole[0], Event::TextDelta("hi".into()));
        let mut stream = decoder("r");
        let events = stream
            .event(None, &json!({"response": inner}).to_string())
            .unwrap_or_default();
        assert_eq!(events[0], Event::TextDelta("hi".into()));
        assert!(stream.finished());
        assert!(
            stream
                .end()
                .iter()
                .any(|e| matches!(e, Event::Finish(FinishReason::Stop)))
        );
    }

    #[test]
    fn the_project_is_read_in_both_shapes() {
        assert_eq!(
            project_of(&json!({"cloudaicompanionProject": "p-1"})).as_deref(),
            Some("p-1")
        );
        assert_eq!(
            project_of(&json!({"cloudaicompanionProject": {"id": "p-2", "name": "x"}})).as_deref(),
            Some("p-2")
        );
        assert_eq!(project_of(&json!({"currentTier": {}})), None);
    }
}
