//! Which session ids a one-shot CLI backend may be asked to resume: only
//! those the gateway handed out, each under the key the client uses for
//! it. A client-chosen id the gateway has not seen (`X-Session-Id:
//! my-chat`) starts a new conversation with the whole history, whose CLI
//! session is then bound to that id; it never reaches `--resume`, where a
//! CLI would fail on it. Bounded: the oldest bindings go first.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Bindings kept at most.
const CAPACITY: usize = 10_000;

/// Client session keys → the CLI session ids they continue, per backend.
#[derive(Debug, Default)]
pub struct Resumable {
    inner: Mutex<Bindings>,
}

#[derive(Debug, Default)]
struct Bindings {
    native: HashMap<(String, String), String>,
    order: VecDeque<(String, String)>,
}

impl Resumable {
    /// The CLI session that `key` continues on `backend`, if the gateway
    /// handed it out.
    pub fn native(&self, backend: &str, key: &str) -> Option<String> {
        let bindings = self.lock();
        bindings
            .native
            .get(&(backend.to_owned(), key.to_owned()))
            .cloned()
    }

    /// `key` continues CLI session `native` on `backend` from now on.
    pub fn bind(&self, backend: &str, key: &str, native: &str) {
        let mut bindings = self.lock();
        let entry = (backend.to_owned(), key.to_owned());
        if bindings
            .native
            .insert(entry.clone(), native.to_owned())
            .is_none()
        {
            bindings.order.push_back(entry);
        }
        while bindings.order.len() > CAPACITY {
            if let Some(oldest) = bindings.order.pop_front() {
                bindings.native.remove(&oldest);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Bindings> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bound_keys_resume_and_the_oldest_go_first() {
        let known = Resumable::default();
        assert_eq!(known.native("b", "mine"), None);
        known.bind("b", "mine", "cli-1");
        assert_eq!(known.native("b", "mine").as_deref(), Some("cli-1"));
        assert_eq!(known.native("other", "mine"), None, "per backend");
        known.bind("b", "mine", "cli-2");
        assert_eq!(known.native("b", "mine").as_deref(), Some("cli-2"));
        for n in 0..CAPACITY {
            known.bind("b", &format!("k{n}"), "x");
        }
        assert_eq!(known.native("b", "mine"), None, "evicted");
        assert!(known.native("b", "k1").is_some());
    }
}
