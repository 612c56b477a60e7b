//! `server.strip_answer_tags` (the original's `CODEX_STRIP_ANSWER_TAGS`):
//! removes the literal tags `<think>`, `</think>`, `<answer>` and
//! `</answer>` from answer text, keeping what is between them. Unlike the
//! original, a tag split across two deltas is removed too: the few bytes
//! that could be the start of a tag wait for the next delta.

use futures_util::StreamExt as _;

use crate::event::{Event, EventStream};

const TAGS: &[&str] = &["<think>", "</think>", "<answer>", "</answer>"];

/// Strips tags from text that arrives in pieces.
#[derive(Debug, Default)]
pub struct TagStripper {
    /// The end of the text so far that may be the start of a tag.
    pending: String,
}

impl TagStripper {
    /// Takes the next piece; returns what can be shown now.
    pub fn push(&mut self, text: &str) -> String {
        let mut out = std::mem::take(&mut self.pending);
        out.push_str(text);
        // Removing one tag can join the halves of another: repeat.
        while let Some(tag) = TAGS.iter().find(|tag| out.contains(*tag)) {
            out = out.replace(tag, "");
        }
        if let Some(start) = out.rfind('<') {
            let tail = &out[start..];
            if TAGS
                .iter()
                .any(|tag| tag.len() > tail.len() && tag.starts_with(tail))
            {
                self.pending = out.split_off(start);
            }
        }
        out
    }

    /// What was held back, once no more text comes.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }
}

/// `events` with the tags removed from their text.
pub fn strip(mut events: EventStream) -> EventStream {
    Box::pin(async_stream::stream! {
        let mut stripper = TagStripper::default();
        while let Some(event) = events.next().await {
            match event {
                Ok(Event::TextDelta(text)) => {
                    let shown = stripper.push(&text);
                    if !shown.is_empty() {
                        yield Ok(Event::TextDelta(shown));
                    }
                }
                // Anything else comes after the text before it, held-back
                // bytes included.
                other => {
                    let rest = stripper.finish();
                    if !rest.is_empty() {
                        yield Ok(Event::TextDelta(rest));
                    }
                    yield other;
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stripped(pieces: &[&str]) -> String {
        let mut stripper = TagStripper::default();
        let mut out: String = pieces.iter().map(|p| stripper.push(p)).collect();
        out.push_str(&stripper.finish());
        out
    }

    #[test]
    fn tags_go_and_their_content_stays() {
        assert_eq!(
            stripped(&["<think>plan</think><answer>do(x)</answer>"]),
            "plando(x)"
        );
    }

    #[test]
    fn tags_split_across_deltas_go_too() {
        assert_eq!(
            stripped(&["a <thi", "nk>b</th", "ink> c <", "/answer>"]),
            "a b c "
        );
        for cut in 1.."<answer>x</answer>".len() {
            let (head, tail) = "<answer>x</answer>".split_at(cut);
            assert_eq!(stripped(&[head, tail]), "x", "cut at {cut}");
        }
    }

    #[test]
    fn other_angle_brackets_are_kept_and_not_held_longer_than_needed() {
        let mut stripper = TagStripper::default();
        assert_eq!(
            stripper.push("1 < 2 and <b>bold</b>"),
            "1 < 2 and <b>bold</b>"
        );
        assert_eq!(stripper.push("x <an"), "x ");
        assert_eq!(stripper.push("d>"), "<and>");
        assert_eq!(stripped(&["ends with <"]), "ends with <");
        assert_eq!(stripped(&["<thi<think>nk>"]), "");
    }

    #[tokio::test]
    async fn held_back_text_keeps_its_place_among_other_events() {
        use crate::event::FinishReason;
        let events: EventStream = Box::pin(futures_util::stream::iter(vec![
            Ok(Event::TextDelta("a <answer>b <an".into())),
            Ok(Event::ReasoningDelta("r".into())),
            Ok(Event::TextDelta("c <thi".into())),
            Ok(Event::Finish(FinishReason::Stop)),
        ]));
        let out: Vec<Event> = strip(events).map(Result::unwrap).collect().await;
        assert_eq!(
            out,
            [
                Event::TextDelta("a b ".into()),
                Event::TextDelta("<an".into()),
                Event::ReasoningDelta("r".into()),
                Event::TextDelta("c ".into()),
                Event::TextDelta("<thi".into()),
                Event::Finish(FinishReason::Stop),
            ]
        );
    }
}
