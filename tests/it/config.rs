//! Configuration files: every valid fixture loads and every invalid one is
//! refused with a snapshotted `file:line:col key.path: message` (exit 2);
//! layering, provenance and the original's environment variables.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{
    ABSENT_CLI, FAKE_BACKEND, FAKE_ROUTE, Gateway, fake_backend_with, fake_config, repo, run_binary,
};

fn check(path: &std::path::Path, env: &[(&str, &str)]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = run_binary(
        dir.path(),
        &["check", "--config", path.to_str().unwrap()],
        env,
    );
    let root = format!("{}/", repo().display());
    (code, out.replace(&root, ""), err.replace(&root, ""))
}

#[test]
fn invalid_configs_are_refused_with_their_location() {
    insta::glob!("../fixtures/config", "invalid/*.toml", |path| {
        let (code, out, err) = check(path, &[]);
        assert_eq!(
            code,
            2,
            "{}: expected exit 2, got {code}\n{out}{err}",
            path.display()
        );
        assert!(
            out.is_empty(),
            "nothing on stdout for an invalid config: {out}"
        );
        insta::assert_snapshot!(err.trim_end());
    });
}

#[test]
fn valid_configs_load_and_show_their_routes() {
    insta::glob!("../fixtures/config", "valid/*.toml", |path| {
        let (code, out, err) = check(path, &[]);
        assert_eq!(code, 0, "{}: {err}", path.display());
        insta::assert_snapshot!(out);
    });
}

#[test]
fn the_example_config_is_valid() {
    let (code, out, err) = check(&repo().join("routes.example.toml"), &[]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn environment_errors_name_the_variable() {
    let path = repo().join("tests/fixtures/config/valid/minimal.toml");
    let (code, _, err) = check(&path, &[("CODEX_MAX_CONCURRENCY", "lots")]);
    assert_eq!(code, 2);
    assert_eq!(
        err.trim(),
        "environment CODEX_MAX_CONCURRENCY server.max_concurrency: \"lots\" is not a whole number"
    );
}

#[test]
fn every_builtin_preset_parses() {
    let dir = tempfile::tempdir().unwrap();
    for preset in [
        "claude",
        "codex",
        "gemini",
        "cursor-agent",
        "cursor-auto",
        "cursor-fast",
        "openai",
        "anthropic",
        "claude-oauth",
        "codex-fast",
        "autoglm-phone",
        "gemini-cloudcode",
        "multi-fast",
    ] {
        let (code, out, err) = run_binary(dir.path(), &["check", "--preset", preset], &[]);
        assert_eq!(code, 0, "{preset}: {out}{err}");
    }
}

#[test]
fn routes_explains_one_model() {
    let path = repo().join("tests/fixtures/config/valid/overrides.toml");
    let dir = tempfile::tempdir().unwrap();
    let (code, out, _) = run_binary(
        dir.path(),
        &["routes", "gpt-4o", "--config", path.to_str().unwrap()],
        &[],
    );
    assert_eq!(code, 0);
    assert!(
        out.starts_with("\"gpt-4o\" → backend `claude` with model \"sonnet\""),
        "{out}"
    );
    assert!(
        out.contains("alias \"gpt-4o\" → \"claude:sonnet\""),
        "{out}"
    );
    let (code, out, _) = run_binary(
        dir.path(),
        &["routes", "fast", "--config", path.to_str().unwrap()],
        &[],
    );
    assert_eq!(code, 0);
    assert!(out.contains("model \"haiku\""), "{out}");
    // With no model, the whole table and where each route is defined.
    let (code, out, _) = run_binary(
        dir.path(),
        &["routes", "--config", path.to_str().unwrap()],
        &[],
    );
    assert_eq!(code, 0);
    let fast = out
        .lines()
        .find(|l| l.trim_start().starts_with("model \"fast\""))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(fast.contains("→ claude as \"haiku\""), "{fast}");
    assert!(fast.ends_with("overrides.toml:15:1"), "{fast}");
    assert!(
        out.contains("(replaced by a later route)"),
        "an overridden preset route says so: {out}"
    );
}

#[test]
fn no_config_serves_the_installed_clis_only() {
    let dir = tempfile::tempdir().unwrap();
    // cursor-agent (the replaying fake) is first on PATH in tests; claude is
    // pointed at a name no machine has, however the host is set up.
    let (code, out, _) = run_binary(dir.path(), &["check"], &[("CLAUDE_BIN", ABSENT_CLI)]);
    assert_eq!(code, 0);
    assert!(out.contains("cursor-agent   cli `cursor-agent`"), "{out}");
    assert!(
        out.contains(&format!(
            "note: backend `claude` is off: `{ABSENT_CLI}` was not found on PATH"
        )),
        "{out}"
    );
    let claude = out
        .lines()
        .find(|l| l.contains("prefix \"claude:\""))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        claude.contains(&format!("(off: `{ABSENT_CLI}` was not found on PATH")),
        "routes of missing CLIs are shown off: {claude}"
    );
    let advertised = out
        .lines()
        .find(|l| l.starts_with("models advertised"))
        .unwrap();
    assert!(!advertised.contains("claude"), "{advertised}");
}

#[tokio::test]
async fn a_model_routed_to_a_missing_cli_is_404_and_never_another_backend() {
    // The original's auto mode: Codex installed (here: a stand-in that would
    // answer anything), Cursor Agent not.
    let gw = Gateway::without_config()
        .env("CODEX_BIN", "fake-cli")
        .env("CURSOR_AGENT_BIN", ABSENT_CLI)
        .start();
    for model in ["cursor:auto", "cursor-agent:gpt-5", "cursor"] {
        let (status, headers, body) = gw
            .chat(json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
            .await;
        assert_eq!(status, 404, "{model}: {body}");
        assert!(
            headers.get("x-agent-cli-backend").is_none(),
            "{model}: answered by {headers:?}"
        );
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("backend `cursor-agent`")
                && message.contains(&format!("`{ABSENT_CLI}` was not found on PATH")),
            "{model}: {message}"
        );
    }
    assert!(!gw.model_ids().await.iter().any(|m| m.starts_with("cursor")));
}

#[tokio::test]
async fn legacy_environment_and_flags_layer_over_files_with_provenance() {
    let config = fake_config("log_max_chars = 100", FAKE_ROUTE);
    let gw = Gateway::builder(&config)
        .env("CODEX_MAX_CONCURRENCY", "3")
        .env("CODEX_GATEWAY_TOKEN", "tok-123456789")
        .env("CODEX_MODEL_ALIASES", r#"{"gpt-4": "fake:fake-2"}"#)
        .env("CODEX_USE_CODEX_RESPONSES_API", "1")
        .arg("--log-curl")
        .start();
    let debug: Value = reqwest::Client::new()
        .get(gw.url("/debug/config"))
        .bearer_auth("tok-123456789")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sources = &debug["sources"];
    assert_eq!(
        sources["server.max_concurrency"],
        "environment CODEX_MAX_CONCURRENCY"
    );
    assert_eq!(sources["server.log_curl"], "flag --log-curl");
    assert!(
        sources["server.log_max_chars"]
            .as_str()
            .unwrap()
            .ends_with("routes.toml:3:1"),
        "{sources}"
    );
    assert_eq!(sources["server.port"], "flag --port");
    assert_eq!(sources["server.sse_keepalive_seconds"], "built-in default");
    assert_eq!(debug["effective"]["server"]["token"], "[redacted]");
    assert!(!debug.to_string().contains("tok-123456789"));
    assert_eq!(debug["effective"]["server"]["max_concurrency"], 3);
    assert!(
        debug["warnings"].as_array().unwrap().iter().any(|n| n
            .as_str()
            .unwrap()
            .starts_with("CODEX_USE_CODEX_RESPONSES_API is set but not used")),
        "{debug}"
    );
    let response = reqwest::Client::new()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth("tok-123456789")
        .json(&json!({"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-agent-cli-model"], "fake-2");
    assert!(
        gw.wait_for_log(
            "CODEX_USE_CODEX_RESPONSES_API is set but not used",
            Duration::from_secs(5)
        )
        .await
    );
}

#[test]
fn a_presets_directory_beside_the_config_overrides_and_adds_presets() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("presets")).unwrap();
    std::fs::write(
        dir.path().join("presets/claude.toml"),
        "[backends.claude]\ncommand = \"my-claude\"\ndefault_model = \"opus\"\n\n[[routes]]\nprefix = \"c:\"\nbackend = \"claude\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("presets/team.toml"),
        format!("use = [\"claude\"]\n{FAKE_BACKEND}\n[[routes]]\nprefix = \"team:\"\nbackend = \"fake\"\n"),
    )
    .unwrap();
    std::fs::write(dir.path().join("routes.toml"), "use = [\"team\"]\n").unwrap();
    let (code, out, err) = run_binary(dir.path(), &["check"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("./presets/claude.toml, ./presets/team.toml, routes.toml"),
        "{out}"
    );
    assert!(
        out.contains("cli `my-claude` (NOT FOUND on PATH); default model opus"),
        "{out}"
    );
    assert!(out.contains("prefix \"c:\""), "{out}");
    assert!(
        !out.contains("prefix \"claude:\""),
        "the directory's claude preset replaces the built-in one: {out}"
    );
    assert!(out.contains("prefix \"team:\""), "{out}");
}

#[tokio::test]
async fn secrets_in_arguments_are_redacted_from_debug_config() {
    let fake = fake_backend_with(
        "extra_args = [\"--api-key\", \"crsr_supersecret_12345\", \"--token=tok_supersecret_678\"]",
    );
    let with_args = format!("use = []\n{fake}\n{FAKE_ROUTE}");
    let gw = Gateway::builder(&with_args).start();
    let raw = gw.get_json("/debug/config").await.to_string();
    assert!(!raw.contains("crsr_supersecret_12345"), "{raw}");
    assert!(!raw.contains("tok_supersecret_678"), "{raw}");
    assert!(raw.contains("--token=[redacted]"), "{raw}");
}

#[test]
fn a_fixed_provider_can_be_a_backend_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!("[server]\nprovider = \"fake\"\n{FAKE_BACKEND}");
    std::fs::write(dir.path().join("routes.toml"), config).unwrap();
    let (code, out, err) = run_binary(dir.path(), &["check"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("provider: fake (fixed)"), "{out}");
    let (code, _, err) = run_binary(dir.path(), &["check", "--preset", "nope"], &[]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("flag --preset: unknown preset `nope`"),
        "{err}"
    );
    let (code, _, err) = run_binary(dir.path(), &["check"], &[("CODEX_PRESET", "nope")]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("environment CODEX_PRESET: unknown preset `nope`"),
        "{err}"
    );
}

/// As in the original: a fixed `codex` provider answers through the ChatGPT
/// backend (`codex-fast`) when a ChatGPT login is there, through `codex
/// exec` otherwise, and each `*_USE_*_API` variable decides for its CLI;
/// the choice and its reason are in the output.
#[test]
fn a_fixed_provider_picks_its_direct_api_preset_as_the_original_did() {
    let dir = tempfile::tempdir().unwrap();
    let check = |env: &[(&str, &str)]| run_binary(dir.path(), &["check"], env);
    let (code, out, err) = check(&[("CODEX_PROVIDER", "codex")]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("presets/codex.toml") && out.contains("no ChatGPT login in"),
        "{out}"
    );

    std::fs::create_dir(dir.path().join(".codex")).unwrap();
    let login = r#"{"tokens": {"access_token": "a.b.c", "refresh_token": "r", "account_id": "x"}}"#;
    std::fs::write(dir.path().join(".codex/auth.json"), login).unwrap();
    let (code, out, err) = check(&[("CODEX_PROVIDER", "codex"), ("CODEX_MODEL", "gpt-x")]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("presets/codex-fast.toml")
            && out.contains("codex          http openai-responses")
            && out.contains("default model gpt-x")
            && out.contains("a ChatGPT login is in"),
        "{out}"
    );
    let (code, out, _) = check(&[
        ("CODEX_PROVIDER", "codex"),
        ("CODEX_USE_CODEX_RESPONSES_API", "0"),
    ]);
    assert_eq!(code, 0);
    assert!(
        out.contains("presets/codex.toml") && out.contains("is off"),
        "{out}"
    );

    let (code, out, err) = check(&[
        ("CODEX_PROVIDER", "claude"),
        ("CLAUDE_USE_OAUTH_API", "1"),
        ("CLAUDE_CODE_OAUTH_TOKEN", "sk-ant-oat-test"),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("presets/claude-oauth.toml") && out.contains("claude         http"),
        "{out}"
    );
    let (code, _, err) = check(&[
        ("CODEX_PROVIDER", "codex"),
        ("CODEX_USE_CODEX_RESPONSES_API", "maybe"),
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("CODEX_USE_CODEX_RESPONSES_API") && err.contains("not a boolean"),
        "{err}"
    );

    // With a file that says `use`, the variable decides nothing, and says so.
    std::fs::write(dir.path().join("routes.toml"), "use = [\"codex\"]\n").unwrap();
    let (code, out, err) = check(&[("CODEX_USE_CODEX_RESPONSES_API", "1")]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("warning: CODEX_USE_CODEX_RESPONSES_API is set but not used"),
        "{out}"
    );
}

#[test]
fn multi_fast_sends_bare_names_to_the_chatgpt_backend_and_prefixes_to_their_clis() {
    let dir = tempfile::tempdir().unwrap();
    let route = |model: &str| {
        run_binary(
            dir.path(),
            &["routes", model, "--preset", "multi-fast"],
            &[],
        )
        .1
    };
    assert!(route("gpt-5.5").starts_with("\"gpt-5.5\" → backend `codex` with model \"gpt-5.5\""));
    assert!(route("claude:opus").starts_with("\"claude:opus\" → backend `claude`"));
    assert!(route("gemini-3.8-flash").starts_with("\"gemini-3.8-flash\" → backend `gemini`"));
    let (_, out, _) = run_binary(dir.path(), &["check", "--preset", "multi-fast"], &[]);
    assert!(
        out.contains("codex          http openai-responses") && out.contains("provider: auto"),
        "{out}"
    );
}

/// Each of the original's variables this version reads lands on its key (as
/// `/debug/config` reports), and the ones with an effect a request can show
/// have it: the configured workspace is where the CLI runs (that it is kept
/// is a unit test of `engine::workspace`).
#[tokio::test]
async fn each_original_variable_lands_on_its_key_and_takes_effect() {
    let outer = tempfile::tempdir().unwrap();
    let workspace = outer.path().join("ws");
    std::fs::create_dir(&workspace).unwrap();
    let cursor_ws = outer.path().join("cursor-ws");
    let workspace_text = workspace.to_str().unwrap();
    let cursor_ws_text = cursor_ws.to_str().unwrap();
    // (variable, value, key, effective value)
    let table: &[(&str, &str, &str, Value)] = &[
        (
            "CODEX_WORKSPACE",
            workspace_text,
            "server.workspace",
            json!(workspace_text),
        ),
        (
            "CODEX_TIMEOUT_SECONDS",
            "77",
            "server.timeout_seconds",
            json!(77),
        ),
        (
            "CODEX_SSE_KEEPALIVE_SECONDS",
            "3",
            "server.sse_keepalive_seconds",
            json!(3),
        ),
        (
            "CODEX_MAX_PROMPT_CHARS",
            "5000",
            "server.max_prompt_chars",
            json!(5000),
        ),
        (
            "CODEX_SUBPROCESS_STREAM_LIMIT",
            "65536",
            "server.max_line_bytes",
            json!(65536),
        ),
        (
            "CODEX_ENABLE_IMAGE_INPUT",
            "no",
            "server.images",
            json!(false),
        ),
        ("CODEX_MAX_IMAGE_COUNT", "2", "server.max_images", json!(2)),
        (
            "CODEX_MAX_IMAGE_BYTES",
            "1024",
            "server.max_image_bytes",
            json!(1024),
        ),
        (
            "CODEX_FORCE_REASONING_EFFORT",
            "high",
            "server.force_effort",
            json!("high"),
        ),
        ("CODEX_LOG_MODE", "qa", "server.log_mode", json!("qa")),
        (
            "CODEX_LOG_MAX_CHARS",
            "123",
            "server.log_max_chars",
            json!(123),
        ),
        ("CODEX_LOG_EVENTS", "on", "server.log_events", json!(true)),
        (
            "CODEX_ALLOW_CLIENT_MODEL_OVERRIDE",
            "1",
            "server.allow_client_model_override",
            json!(true),
        ),
        (
            "CODEX_CORS_ORIGINS",
            "http://a.test, http://b.test",
            "server.cors_origins",
            json!(["http://a.test", "http://b.test"]),
        ),
        (
            "CODEX_BIN",
            "fake-cli",
            "backends.codex.command",
            json!("fake-cli"),
        ),
        (
            "CODEX_MODEL",
            "gpt-env",
            "backends.codex.default_model",
            json!("gpt-env"),
        ),
        (
            "CODEX_MODEL_REASONING_EFFORT",
            "medium",
            "backends.codex.default_effort",
            json!("medium"),
        ),
        (
            "CODEX_SANDBOX",
            "workspace-write",
            "backends.codex.vars.sandbox",
            json!("workspace-write"),
        ),
        (
            "CODEX_EXTRA_ARGS",
            "--one 'two three'",
            "backends.codex.extra_args",
            json!(["--one", "two three"]),
        ),
        (
            "CLAUDE_BIN",
            "fake-cli",
            "backends.claude.command",
            json!("fake-cli"),
        ),
        (
            "CLAUDE_MODEL",
            "opus-env",
            "backends.claude.default_model",
            json!("opus-env"),
        ),
        (
            "GEMINI_BIN",
            "fake-cli",
            "backends.gemini.command",
            json!("fake-cli"),
        ),
        (
            "GEMINI_MODEL",
            "gemini-env",
            "backends.gemini.default_model",
            json!("gemini-env"),
        ),
        (
            "CURSOR_AGENT_BIN",
            "cursor-agent",
            "backends.cursor-agent.command",
            json!("cursor-agent"),
        ),
        (
            "CURSOR_AGENT_MODEL",
            "cursor-env",
            "backends.cursor-agent.default_model",
            json!("cursor-env"),
        ),
        (
            "CURSOR_AGENT_WORKSPACE",
            cursor_ws_text,
            "backends.cursor-agent.workspace",
            json!(cursor_ws_text),
        ),
        (
            "CURSOR_AGENT_STREAM_PARTIAL_OUTPUT",
            "0",
            "backends.cursor-agent.vars.stream_partial_output",
            json!(""),
        ),
        (
            "CODEX_ADD_DIRS",
            "/srv/one, /srv/two",
            "backends.codex.vars.add_dirs",
            json!(["/srv/one", "/srv/two"]),
        ),
        (
            "CODEX_ADD_DIRS",
            "/srv/one, /srv/two",
            "backends.claude.vars.add_dirs",
            json!(["/srv/one", "/srv/two"]),
        ),
        (
            "CODEX_STRIP_ANSWER_TAGS",
            "1",
            "server.strip_answer_tags",
            json!(true),
        ),
    ];
    let config = format!(
        "use = [\"codex\", \"claude\", \"gemini\", \"cursor-agent\"]\n{FAKE_BACKEND}\n\
         [[routes]]\nmodel = \"info\"\nbackend = \"fake\"\nvars = {{ mode = \"info\" }}\n"
    );
    let mut builder = Gateway::builder(&config);
    for (var, value, ..) in table {
        builder = builder.env(var, value);
    }
    let gw = builder.start();
    let debug = gw.get_json("/debug/config").await;
    for (var, _, key, expected) in table {
        assert_eq!(
            debug["sources"][*key],
            format!("environment {var}"),
            "{key}: {}",
            debug["sources"]
        );
        let effective = key
            .split('.')
            .fold(&debug["effective"], |value, part| &value[part]);
        assert_eq!(effective, expected, "{key} from {var}");
    }
    let models = gw.model_ids().await;
    for default in ["claude:opus-env", "gemini:gemini-env", "cursor:cursor-env"] {
        assert!(
            models.iter().any(|m| m == default),
            "{default} not in {models:?}"
        );
    }
    assert!(models.iter().any(|m| m == "gpt-env"), "{models:?}");

    let (status, _, body) = gw
        .chat(json!({"model": "info", "messages": [{"role": "user", "content": "where?"}]}))
        .await;
    assert_eq!(status, 200, "{body}");
    let info = crate::support::info_of(&body);
    assert_eq!(
        std::fs::canonicalize(info["cwd"].as_str().unwrap()).unwrap(),
        std::fs::canonicalize(&workspace).unwrap(),
        "the CLI runs in CODEX_WORKSPACE"
    );
    // CODEX_ADD_DIRS reaches both Claude Code and Codex as --add-dir (the
    // stand-in CLIs do not speak their JSON, so only their argv is checked).
    for model in ["claude:opus-env", "codex:gpt-env"] {
        let _ = gw
            .chat(json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
            .await;
    }
    let spawned: Vec<String> = gw
        .logs()
        .lines()
        .filter(|l| l.contains("spawned") && l.contains("--add-dir"))
        .map(str::to_owned)
        .collect();
    for backend in ["backend=claude", "backend=codex"] {
        let line = spawned
            .iter()
            .find(|l| l.contains(backend))
            .unwrap_or_else(|| panic!("no {backend} run with --add-dir:\n{}", gw.logs()));
        assert!(
            line.contains(r#""--add-dir", "/srv/one", "--add-dir", "/srv/two""#),
            "{line}"
        );
    }
}

#[tokio::test]
async fn answer_tags_are_stripped_when_asked() {
    let config = fake_config("", FAKE_ROUTE);
    let tagged = "<think>plan</think> <answer>do(x)</answer>";
    let plain = Gateway::builder(&config).start();
    let (_, _, body) = plain
        .chat(json!({"model": "fake:", "messages": [{"role": "user", "content": tagged}]}))
        .await;
    assert_eq!(
        body["choices"][0]["message"]["content"],
        format!("USER: {tagged}"),
        "off by default"
    );
    let stripping = Gateway::builder(&config)
        .env("CODEX_STRIP_ANSWER_TAGS", "1")
        .start();
    let (_, _, body) = stripping
        .chat(json!({"model": "fake:", "messages": [{"role": "user", "content": tagged}]}))
        .await;
    assert_eq!(body["choices"][0]["message"]["content"], "USER: plan do(x)");
    let events = stripping
        .stream_events(json!({"model": "fake:", "stream": true, "messages": [{"role": "user", "content": tagged}]}))
        .await;
    assert_eq!(crate::support::sse::content(&events), "USER: plan do(x)");
}
