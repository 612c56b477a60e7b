//! The responses the gateway keeps so that a later request can continue
//! one by `previous_response_id`: each holds only what it added (its new
//! input and its output) and the response it continued, so a chain costs
//! memory in proportion to its length. Bounded by count, bytes and age;
//! the oldest go first. A request with `store: false` is not kept.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::turn::{File, Image, Message, Part};

/// Responses kept at most.
const CAPACITY: usize = 10_000;
/// Bytes of conversation kept at most (text, images, documents).
const MAX_BYTES: usize = 256 * 1024 * 1024;
/// The most one response may add (its input and output): larger ones are
/// answered but not kept, so one cannot push every other out.
pub const MAX_RESPONSE_BYTES: usize = MAX_BYTES / 16;
/// How long a response can be continued.
pub const TTL: Duration = Duration::from_secs(60 * 60);

/// Kept responses, by id.
#[derive(Debug, Default)]
pub struct ResponseStore {
    inner: Mutex<Kept>,
}

#[derive(Debug, Default)]
struct Kept {
    by_id: HashMap<String, Stored>,
    order: VecDeque<String>,
    bytes: usize,
}

/// One response: what it added to the conversation.
#[derive(Debug, Clone)]
struct Stored {
    previous: Option<String>,
    /// The conversation's key (the first response's id), for warm sessions.
    chain: String,
    /// Its new input, then its output (shared: a chain is rebuilt from
    /// these outside the lock).
    messages: Arc<[Message]>,
    bytes: usize,
    at: Instant,
}

/// What a `previous_response_id` finds.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// The conversation up to it.
    Found(History),
    /// Not a response the gateway keeps (any more).
    Unknown,
    /// A conversation larger than a request may be.
    TooLarge,
}

/// A conversation to continue.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    /// Every message, oldest first.
    pub messages: Vec<Message>,
    /// The conversation's key.
    pub chain: String,
}

impl ResponseStore {
    /// Keeps response `id`, which continued `previous` (in conversation
    /// `chain`) with `messages`.
    pub fn keep(&self, id: &str, previous: Option<String>, chain: String, messages: Vec<Message>) {
        let bytes = messages.iter().map(size).sum::<usize>() + id.len();
        if bytes > MAX_RESPONSE_BYTES {
            tracing::warn!("response {id} is too large to be kept ({bytes} bytes)");
            return;
        }
        let mut kept = self.lock();
        kept.bytes += bytes;
        let stored = Stored {
            previous,
            chain,
            messages: messages.into(),
            bytes,
            at: Instant::now(),
        };
        if let Some(old) = kept.by_id.insert(id.to_owned(), stored) {
            kept.bytes -= old.bytes;
        } else {
            kept.order.push_back(id.to_owned());
        }
        // The oldest go first: past the bounds, or past their time (so
        // memory is given back, not only refused to readers).
        while let Some(oldest) = kept.order.front() {
            let expired = kept.by_id.get(oldest).is_none_or(|s| s.at.elapsed() >= TTL);
            if !expired && kept.order.len() <= CAPACITY && kept.bytes <= MAX_BYTES {
                break;
            }
            let Some(oldest) = kept.order.pop_front() else {
                break;
            };
            if let Some(gone) = kept.by_id.remove(&oldest) {
                kept.bytes -= gone.bytes;
            }
        }
    }

    /// The whole conversation up to and including response `id`, if every
    /// response of it is still kept; [`Lookup::TooLarge`] past `max_bytes`
    /// (found before anything is copied).
    pub fn history(&self, id: &str, max_bytes: usize) -> Lookup {
        let (key, pieces) = {
            let kept = self.lock();
            let mut pieces: Vec<Arc<[Message]>> = Vec::new();
            let mut key = None;
            let mut bytes = 0;
            let mut next = Some(id);
            while let Some(id) = next {
                let Some(stored) = kept.by_id.get(id).filter(|s| s.at.elapsed() < TTL) else {
                    return Lookup::Unknown;
                };
                bytes += stored.bytes;
                if bytes > max_bytes {
                    return Lookup::TooLarge;
                }
                pieces.push(Arc::clone(&stored.messages));
                key.get_or_insert_with(|| stored.chain.clone());
                next = stored.previous.as_deref();
                if pieces.len() > kept.by_id.len() {
                    return Lookup::Unknown;
                }
            }
            match key {
                Some(key) => (key, pieces),
                None => return Lookup::Unknown,
            }
        };
        let messages = pieces
            .iter()
            .rev()
            .flat_map(|piece| piece.iter().cloned())
            .collect();
        Lookup::Found(History {
            messages,
            chain: key,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Kept> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// About how many bytes a message holds.
fn size(message: &Message) -> usize {
    fn parts(of: &[Part]) -> usize {
        of.iter()
            .map(|part| match part {
                Part::Text(text) | Part::RedactedReasoning(text) => text.len(),
                Part::Reasoning { text, signature } => {
                    text.len() + signature.as_ref().map_or(0, String::len)
                }
                Part::Image(Image::Inline { data, .. }) | Part::File(File::Inline { data, .. }) => {
                    data.len()
                }
                Part::Image(Image::Url(url)) => url.len(),
                Part::File(File::Id(id)) => id.len(),
                Part::ToolCall {
                    id,
                    name,
                    arguments,
                } => id.len() + name.len() + arguments.len(),
                Part::ToolResult { id, content, .. } => id.len() + parts(content),
            })
            .sum()
    }
    64 + parts(&message.parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::turn::Role;

    fn said(role: Role, text: &str) -> Message {
        Message::text_message(role, text.into())
    }

    #[test]
    fn a_chain_is_rebuilt_in_order_from_what_each_response_added() {
        let store = ResponseStore::default();
        store.keep(
            "r1",
            None,
            "r1".into(),
            vec![said(Role::User, "a"), said(Role::Assistant, "b")],
        );
        store.keep(
            "r2",
            Some("r1".into()),
            "r1".into(),
            vec![said(Role::User, "c"), said(Role::Assistant, "d")],
        );
        let Lookup::Found(history) = store.history("r2", usize::MAX) else {
            panic!("r2 is kept")
        };
        assert_eq!(history.chain, "r1");
        let texts: Vec<String> = history.messages.iter().map(Message::text).collect();
        assert_eq!(texts, ["a", "b", "c", "d"]);
        assert!(
            matches!(store.history("r1", usize::MAX), Lookup::Found(h) if h.messages.len() == 2)
        );
        assert_eq!(store.history("nope", usize::MAX), Lookup::Unknown);
    }

    #[test]
    fn responses_past_their_time_are_given_back_when_another_is_kept() {
        let store = ResponseStore::default();
        store.keep("old", None, "old".into(), vec![said(Role::User, "a")]);
        {
            let mut kept = store.lock();
            let stored = kept.by_id.get_mut("old").unwrap();
            stored.at = Instant::now().checked_sub(TTL).unwrap();
        }
        store.keep("new", None, "new".into(), vec![said(Role::User, "b")]);
        let kept = store.lock();
        assert!(!kept.by_id.contains_key("old"));
        assert_eq!(kept.order, ["new"]);
        assert_eq!(kept.bytes, kept.by_id["new"].bytes);
    }

    #[test]
    fn a_chain_larger_than_a_request_may_be_is_not_rebuilt() {
        let store = ResponseStore::default();
        let big = "x".repeat(1000);
        store.keep("r1", None, "r1".into(), vec![said(Role::User, &big)]);
        store.keep(
            "r2",
            Some("r1".into()),
            "r1".into(),
            vec![said(Role::User, &big)],
        );
        assert!(matches!(store.history("r1", 1500), Lookup::Found(_)));
        assert_eq!(store.history("r2", 1500), Lookup::TooLarge);
    }

    #[test]
    fn a_chain_with_a_lost_link_is_not_continued_and_the_oldest_go_first() {
        let store = ResponseStore::default();
        store.keep("first", None, "first".into(), vec![said(Role::User, "a")]);
        for n in 0..CAPACITY {
            store.keep(&format!("r{n}"), None, format!("r{n}"), vec![]);
        }
        assert_eq!(
            store.history("first", usize::MAX),
            Lookup::Unknown,
            "evicted"
        );
        store.keep("child", Some("first".into()), "first".into(), vec![]);
        assert_eq!(
            store.history("child", usize::MAX),
            Lookup::Unknown,
            "its parent is gone"
        );
        assert!(matches!(store.history("r5", usize::MAX), Lookup::Found(_)));
    }
}
