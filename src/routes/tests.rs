//! Route resolution order, rewriting, aliases and fixed providers.

use std::sync::Arc;

use super::*;
use crate::config::build::cli::{BackendDefaults, compile};
use crate::config::raw::RawBackend;

fn backend(name: &str, default_model: &str) -> Arc<Backend> {
    let raw = RawBackend {
        command: Some("true".into()),
        default_model: Some(default_model.into()),
        ..RawBackend::default()
    };
    let defaults = BackendDefaults {
        timeout: std::time::Duration::from_secs(1),
        max_concurrency: 1,
        queue_size: 0,
        queue_timeout: std::time::Duration::from_secs(1),
        workspace: None,
        max_line_bytes: 1024,
    };
    Arc::new(compile(name, &raw, &defaults, &Default::default(), &[]).unwrap())
}

fn route(matcher: Matcher, backend: &str, rewrite: Option<&str>) -> Route {
    Route {
        matcher,
        backend: backend.into(),
        rewrite: rewrite.map(Into::into),
        vars: BTreeMap::new(),
        origin: Origin::Default,
        layer: 0,
        description: None,
        off: None,
        fallbacks: Vec::new(),
    }
}

fn table() -> Routes {
    let backends = [
        ("codex", "gpt-5.5"),
        ("claude", "sonnet"),
        ("gemini", "auto"),
    ]
    .into_iter()
    .map(|(n, m)| (n.to_owned(), backend(n, m)))
    .collect();
    let mut routes = Routes::new(
        backends,
        vec![
            route(Matcher::Default, "codex", None),
            route(Matcher::Prefix("claude:".into()), "claude", None),
            route(Matcher::Prefix("claude:x-".into()), "gemini", None),
            route(Matcher::Exact("claude".into()), "claude", Some("")),
            route(
                Matcher::Pattern(Regex::new("^gemini-").unwrap()),
                "gemini",
                None,
            ),
            route(Matcher::Exact("fast".into()), "claude", Some("haiku")),
            route(
                Matcher::Prefix("vertex/".into()),
                "gemini",
                Some("models/{model}-latest"),
            ),
        ],
    );
    routes.aliases.insert("gpt-4".into(), "claude:opus".into());
    routes.provider = Some(Provider::Auto);
    routes
}

fn resolve(routes: &Routes, model: &str) -> (String, String, String) {
    let r = routes.resolve(model).unwrap();
    (r.backend.name.clone(), r.model, r.echo_model)
}

#[test]
fn exact_then_longest_prefix_then_pattern_then_default() {
    let routes = table();
    assert_eq!(resolve(&routes, "claude:opus").0, "claude");
    assert_eq!(
        resolve(&routes, "claude:x-1"),
        ("gemini".into(), "1".into(), "claude:x-1".into())
    );
    assert_eq!(resolve(&routes, "gemini-3.8-flash").1, "gemini-3.8-flash");
    assert_eq!(resolve(&routes, "gpt-5.5").0, "codex");
    assert_eq!(
        resolve(&routes, "fast"),
        ("claude".into(), "haiku".into(), "fast".into())
    );
}

#[test]
fn rewrite_puts_the_matched_model_where_it_says() {
    let routes = table();
    assert_eq!(
        resolve(&routes, "vertex/gemini-pro"),
        (
            "gemini".into(),
            "models/gemini-pro-latest".into(),
            "vertex/gemini-pro".into()
        )
    );
}

#[test]
fn empty_models_use_the_backend_default_and_say_so() {
    let routes = table();
    assert_eq!(
        resolve(&routes, "claude"),
        ("claude".into(), "sonnet".into(), "sonnet".into())
    );
    assert_eq!(
        resolve(&routes, "claude:"),
        ("claude".into(), "sonnet".into(), "sonnet".into())
    );
    assert_eq!(
        resolve(&routes, ""),
        ("codex".into(), "gpt-5.5".into(), "gpt-5.5".into())
    );
}

#[test]
fn aliases_apply_once_before_matching() {
    let routes = table();
    let r = routes.resolve("gpt-4").unwrap();
    assert_eq!(
        (r.backend.name.as_str(), r.model.as_str()),
        ("claude", "opus")
    );
    assert!(r.reason.starts_with("alias"), "{}", r.reason);
}

#[test]
fn fixed_provider_ignores_or_passes_the_client_model() {
    let mut routes = table();
    routes.provider = Some(Provider::Fixed("claude".into()));
    assert_eq!(
        resolve(&routes, "gpt-4o"),
        ("claude".into(), "sonnet".into(), "sonnet".into())
    );
    routes.allow_model_override = true;
    assert_eq!(resolve(&routes, "gpt-4o").1, "gpt-4o");
    assert_eq!(resolve(&routes, "claude:opus").1, "opus");
    routes.allow_provider_override = true;
    assert_eq!(resolve(&routes, "gemini-3").0, "gemini");
    assert_eq!(resolve(&routes, "something").0, "claude");
}

#[test]
fn unknown_models_and_unsafe_names_are_refused() {
    let mut routes = table();
    routes
        .routes
        .retain(|r| !matches!(r.matcher, Matcher::Default));
    let routes = Routes::new(routes.backends.clone(), routes.routes.clone());
    let err = routes.resolve("gpt-9").unwrap_err();
    assert_eq!(err.status().as_u16(), 404);
    assert!(err.to_string().contains("\"claude:…\""), "{err}");
    let err = table().resolve("claude:--help").unwrap_err();
    assert_eq!(err.status().as_u16(), 400);
}

#[test]
fn models_lists_what_routes_serve() {
    let models = table().models();
    assert!(models.contains(&"gpt-5.5".to_owned()));
    assert!(models.contains(&"claude:sonnet".to_owned()));
    assert!(models.contains(&"fast".to_owned()));
    assert!(models.contains(&"gpt-4".to_owned()));
}

#[test]
fn patterns_match_in_file_order_later_files_first() {
    let mut first = route(Matcher::Pattern(Regex::new("^ab").unwrap()), "claude", None);
    let mut second = route(
        Matcher::Pattern(Regex::new("^abc").unwrap()),
        "gemini",
        None,
    );
    let mut preset = route(Matcher::Pattern(Regex::new("^a").unwrap()), "codex", None);
    preset.layer = 0;
    first.layer = 1;
    second.layer = 1;
    let backends = table().backends;
    let routes = Routes::new(backends, vec![preset, first, second]);
    assert_eq!(routes.matching("abcd").unwrap().0.backend, "claude");
    assert_eq!(routes.matching("axe").unwrap().0.backend, "codex");
}

#[test]
fn a_route_whose_backend_is_off_answers_instead_of_falling_through() {
    let backends = [("codex".to_owned(), backend("codex", "gpt-5.5"))]
        .into_iter()
        .collect();
    let mut cursor = route(Matcher::Prefix("cursor:".into()), "cursor-agent", None);
    cursor.off = Some("`cursor-agent` was not found on PATH".into());
    let mut routes = Routes::new(
        backends,
        vec![route(Matcher::Default, "codex", None), cursor],
    );
    routes.provider = Some(Provider::Auto);
    let Err(Error::UnknownModel { message }) = routes.resolve("cursor:auto") else {
        panic!("cursor:auto fell through to another backend");
    };
    assert!(
        message.contains("`cursor-agent` was not found"),
        "{message}"
    );
    assert_eq!(resolve(&routes, "gpt-5.5").0, "codex");
    assert!(!routes.models().iter().any(|m| m.starts_with("cursor")));
    // A fixed provider serves everything itself.
    routes.provider = Some(Provider::Fixed("codex".into()));
    assert_eq!(resolve(&routes, "cursor:auto").0, "codex");
}

#[test]
fn a_model_string_too_long_is_refused_without_being_echoed() {
    let backends = [("codex".to_owned(), backend("codex", "gpt-5.5"))]
        .into_iter()
        .collect();
    let routes = Routes::new(backends, vec![route(Matcher::Default, "codex", None)]);
    let long = "m".repeat(30_000);
    let Err(Error::InvalidRequest(message)) = routes.resolve(&long) else {
        panic!("a 30,000-byte model name was routed");
    };
    assert!(message.contains("30000 bytes"), "{message}");
    assert!(message.len() < 100, "{message}");
    assert_eq!(resolve(&routes, &"m".repeat(200)).0, "codex");
    assert_eq!(shown_model(&long), "of 30000 bytes");
    assert_eq!(shown_model("gpt-5"), "\"gpt-5\"");
}
