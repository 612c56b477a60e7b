//! The `doctor` command, and what the request log shows in each log mode.

use std::time::Duration;

use serde_json::json;

use crate::support::{FAKE_BACKEND, FAKE_ROUTE, Gateway, fake_config, run_binary};

fn write_config(dir: &std::path::Path, text: &str) -> String {
    let path = dir.join("routes.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn doctor_reports_ok_warn_and_fail_per_check() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "use = [\"cursor-agent\"]\n{FAKE_BACKEND}\n[backends.fake.doctor]\ncredentials = [\"env:FAKE_KEY\", \"~/.fake/auth.json\"]\nlogin_hint = \"run `fake-cli login`\"\n"
        ),
    );
    let (code, out, err) = run_binary(dir.path(), &["doctor", "--config", &config], &[]);
    assert_eq!(code, 0, "warnings only: {out}{err}");
    assert!(out.contains("[OK  ] fake: version fake-cli 1.2.3"), "{out}");
    assert!(out.contains("[WARN] fake: no login found (looked for env:FAKE_KEY, ~/.fake/auth.json); run `fake-cli login`"), "{out}");
    assert!(
        out.contains("[OK  ] cursor-agent: version 2026.11.20-fake"),
        "{out}"
    );
    assert!(out.ends_with("Result: OK (with warnings)\n"), "{out}");

    std::fs::create_dir_all(dir.path().join(".fake")).unwrap();
    std::fs::write(dir.path().join(".fake/auth.json"), "{}").unwrap();
    let (_, out, _) = run_binary(
        dir.path(),
        &["doctor", "--config", &config],
        &[("CURSOR_API_KEY", "k")],
    );
    assert!(
        out.contains(&format!(
            "[OK  ] fake: credentials in {}/.fake/auth.json",
            dir.path().display()
        )),
        "{out}"
    );
    assert!(
        out.contains("[OK  ] cursor-agent: credentials from $CURSOR_API_KEY"),
        "{out}"
    );
    assert!(out.ends_with("Result: OK\n"), "{out}");

    let broken = write_config(
        dir.path(),
        &FAKE_BACKEND.replace("command = \"fake-cli\"", "command = \"no-such-cli\""),
    );
    let (code, out, _) = run_binary(dir.path(), &["doctor", "--config", &broken], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("[FAIL] fake: `no-such-cli` not found on PATH"),
        "{out}"
    );
    assert!(out.ends_with("Result: FAIL\n"), "{out}");
}

async fn logs_for_mode(mode: &str) -> String {
    let config = fake_config(&format!("log_mode = \"{mode}\""), FAKE_ROUTE);
    let gw = Gateway::builder(&config).start();
    let (status, _, _) = gw
        .chat(json!({"model": "fake:", "messages": [{"role": "system", "content": "be terse"}, {"role": "user", "content": "what is 2+2?"}]}))
        .await;
    assert_eq!(status, 200);
    assert!(gw.wait_for_log(" request ", Duration::from_secs(5)).await);
    gw.logs()
}

#[tokio::test]
async fn log_modes_show_the_question_the_prompt_and_the_answer() {
    let summary = logs_for_mode("summary").await;
    let line = summary.lines().find(|l| l.contains(" request ")).unwrap();
    for field in [
        "model=fake:",
        "backend=fake",
        "status=200",
        "queue_ms=",
        "spawn_ms=",
        "first_token_ms=",
        "total_ms=",
        "tokens_in_out=3/4",
    ] {
        assert!(line.contains(field), "{field} missing from: {line}");
    }
    assert!(!summary.contains("question:") && !summary.contains("answer:"));

    let qa = logs_for_mode("qa").await;
    assert!(qa.contains("question: what is 2+2?"), "{qa}");
    assert!(qa.contains("answer: USER: what is 2+2?"), "{qa}");
    assert!(!qa.contains("prompt:"));

    let full = logs_for_mode("full").await;
    assert!(full.contains("system prompt:\nbe terse"), "{full}");
    assert!(full.contains("prompt:\nUSER: what is 2+2?"), "{full}");
    assert!(full.contains("answer: "), "{full}");
}

#[tokio::test]
async fn secrets_passed_to_a_cli_stay_out_of_every_log_line() {
    // A template value given to a secret option, from a route's vars, and a
    // CLI that prints its arguments (`info` mode) into the answer.
    const KEY: &str = "sk-route-secret-0123456789";
    let backend = FAKE_BACKEND
        .replace(
            "vars = { mode = \"echo\",",
            "vars = { api_key = \"none\", mode = \"echo\",",
        )
        .replace(
            "\"--model\", \"{model}\",",
            "\"--model\", \"{model}\", \"--api-key\", \"{api_key}\",",
        );
    let config = format!(
        "use = []\n[server]\nlog_mode = \"full\"\nlog_curl = true\n{backend}\n\
         [[routes]]\nmodel = \"keyed\"\nbackend = \"fake\"\n\
         vars = {{ mode = \"info\", api_key = \"{KEY}\" }}\n"
    );
    let gw = Gateway::builder(&config).start();
    let (status, _, body) = gw
        .chat(json!({"model": "keyed", "messages": [{"role": "user", "content": format!("my key is {KEY}")}]}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        crate::support::info_of(&body)["argv"]
            .to_string()
            .contains(KEY),
        "the CLI got the key: {body}"
    );
    // The summary and the answer are separate lines, in either order.
    assert!(gw.wait_for_log(" request ", Duration::from_secs(5)).await);
    assert!(gw.wait_for_log("answer:", Duration::from_secs(5)).await);
    let logs = gw.logs();
    for line in ["spawned", "prompt:", "answer:", "curl:"] {
        assert!(logs.contains(line), "no {line:?} line to check:\n{logs}");
    }
    assert!(!logs.contains(KEY), "the key was logged:\n{logs}");
    assert!(logs.contains("[redacted]"), "{logs}");
}

/// Runs the gateway on a free port with `env` (and no RUST_LOG), has one
/// request refused at the edge (a warning), stops it and returns its log.
async fn logs_at_level(env: &[(&str, &str)]) -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("routes.toml");
    std::fs::write(&config, fake_config("", FAKE_ROUTE)).unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_agent-cli-to-api"))
        .args([
            "--port",
            &port.to_string(),
            "--config",
            config.to_str().unwrap(),
        ])
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let up = crate::support::eventually(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    })
    .await;
    assert!(up, "the gateway did not listen");
    // Refused at the edge: logged as a warning.
    let refused = reqwest::Client::new()
        .get(format!("{base}/healthz"))
        .header("host", "rebind.example")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let output = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn the_originals_log_level_names_work() {
    let warning = logs_at_level(&[("CODEX_LOG_LEVEL", "warning")]).await;
    assert!(warning.contains("refused at the edge"), "{warning}");
    assert!(
        !warning.contains("listening on"),
        "info lines hidden: {warning}"
    );
    let critical = logs_at_level(&[("CODEX_LOG_LEVEL", "CRITICAL")]).await;
    assert!(!critical.contains("refused at the edge"), "{critical}");
    let info = logs_at_level(&[]).await;
    assert!(info.contains("listening on"), "{info}");
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run_binary(dir.path(), &["check"], &[("CODEX_LOG_LEVEL", "loud")]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown log level `loud`"), "{err}");
}

#[tokio::test]
async fn the_curl_mode_argument_works_alone_and_after_a_provider() {
    let config = fake_config("", FAKE_ROUTE);
    for args in [&["curl"][..], &["auto", "curl"][..], &[][..]] {
        let mut builder = Gateway::builder(&config);
        for arg in args {
            builder = builder.arg(arg);
        }
        let gw = builder.start();
        let (status, _, body) = gw
            .chat(json!({"model": "fake:", "messages": [{"role": "user", "content": "hi"}]}))
            .await;
        assert_eq!(status, 200, "{args:?}: {body}");
        assert!(gw.wait_for_log(" request ", Duration::from_secs(5)).await);
        let logged = gw.logs().contains("curl -sS");
        assert_eq!(logged, !args.is_empty(), "{args:?}:\n{}", gw.logs());
    }
}
