//! Hot reload: an editor's rename-save puts new routes live within a second,
//! a bad edit keeps the old routes and reports the error, SIGHUP reloads,
//! and requests already running are not disturbed.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{FAKE_BACKEND, FAKE_ROUTE, Gateway, fake_config};

fn config(routes: &str) -> String {
    fake_config("", routes)
}

const ROUTE_A: &str = "[[routes]]\nmodel = \"model-a\"\nbackend = \"fake\"\n";
const ROUTE_B: &str = "[[routes]]\nmodel = \"model-b\"\nbackend = \"fake\"\n";
const SLOW: &str = "[[routes]]\nmodel = \"slow\"\nbackend = \"fake\"\nvars = { mode = \"stream\", chunks = \"4\", delay = \"0.4\" }\n";

/// Saves like an editor: write a temporary file beside it, then rename over it.
fn rename_save(gw: &Gateway, text: &str) {
    let tmp = gw.dir.path().join(".routes.toml.swp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, gw.config_path()).unwrap();
}

#[tokio::test]
async fn an_edit_to_the_file_a_symlinked_config_points_to_goes_live() {
    let gw = Gateway::without_config()
        .file("dotfiles/gateway.toml", &config(ROUTE_A))
        .symlink("link.toml", "dotfiles/gateway.toml")
        .arg("--config")
        .arg("link.toml")
        .start();
    assert!(gw.model_ids().await.contains(&"model-a".to_owned()));
    let target = gw.dir.path().join("dotfiles/gateway.toml");
    let tmp = gw.dir.path().join("dotfiles/.gateway.toml.swp");
    std::fs::write(&tmp, config(ROUTE_B)).unwrap();
    std::fs::rename(&tmp, &target).unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    while !gw.model_ids().await.contains(&"model-b".to_owned()) {
        assert!(
            Instant::now() < deadline,
            "the edit never went live:\n{}",
            gw.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn rename_save_goes_live_within_a_second() {
    let gw = Gateway::builder(&config(ROUTE_A)).start();
    assert!(gw.model_ids().await.contains(&"model-a".to_owned()));
    let saved = Instant::now();
    rename_save(&gw, &config(ROUTE_B));
    let mut live = false;
    while saved.elapsed() < Duration::from_secs(3) {
        let now = gw.model_ids().await;
        if now.contains(&"model-b".to_owned()) && !now.contains(&"model-a".to_owned()) {
            live = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = saved.elapsed();
    assert!(live, "the new routes never went live:\n{}", gw.logs());
    assert!(took < Duration::from_secs(1), "reload took {took:?}");
    let (status, _, _) = gw
        .chat(json!({"model": "model-b", "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_bad_edit_keeps_the_old_routes_and_reports_where_it_is() {
    let gw = Gateway::builder(&config(ROUTE_A)).start();
    rename_save(
        &gw,
        &config("[[routes]]\nmodel = \"model-b\"\nbackend = \"nope\"\n"),
    );
    let mut error = String::new();
    let reported = {
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            if let Some(e) = gw.get_json("/debug/config").await["reload"]["last_error"].as_str() {
                error = e.to_owned();
                break true;
            }
            if Instant::now() > deadline {
                break false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    assert!(reported, "the bad edit was not reported:\n{}", gw.logs());
    let path = gw.config_path().display().to_string();
    assert!(error.starts_with(&format!("{path}:")), "{error}");
    assert!(
        error.contains(" routes[0].backend: unknown backend `nope`"),
        "{error}"
    );
    let health = gw.get_json("/healthz").await;
    assert_eq!(health["config_error"], error.as_str());
    assert!(
        gw.logs()
            .contains("config reload failed, keeping the previous config")
    );
    assert_eq!(gw.model_ids().await, ["model-a"]);
    let (status, _, _) = gw
        .chat(json!({"model": "model-a", "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert_eq!(status, 200, "the old routes keep serving");
    // fixing the file clears the error
    rename_save(&gw, &config(ROUTE_B));
    assert!(
        gw.wait_for_log("config reloaded", Duration::from_secs(3))
            .await
    );
    let mut last_error = Value::Null;
    for _ in 0..50 {
        last_error = gw.get_json("/debug/config").await["reload"]["last_error"].clone();
        if last_error.is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(last_error.is_null(), "{last_error}");
    assert!(gw.model_ids().await.contains(&"model-b".to_owned()));
}

#[tokio::test]
async fn sighup_reloads() {
    let gw = Gateway::builder(&config(ROUTE_A)).start();
    let before = gw.get_json("/debug/config").await["reload"]["reloads"]
        .as_u64()
        .unwrap();
    let pid = nix::unistd::Pid::from_raw(i32::try_from(gw.pid()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    assert!(
        gw.wait_for_log("trigger=\"SIGHUP\"", Duration::from_secs(3))
            .await,
        "{}",
        gw.logs()
    );
    assert_eq!(
        gw.get_json("/debug/config").await["reload"]["reloads"]
            .as_u64()
            .unwrap(),
        before + 1
    );
}

#[tokio::test]
async fn running_requests_keep_their_config_through_a_reload() {
    let gw = Gateway::builder(&config(&format!("{ROUTE_A}{SLOW}"))).start();
    let mut reader = gw
        .chat_stream(json!({"model": "slow", "stream": true, "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    let _role = reader.next().await.unwrap();
    rename_save(&gw, &config(ROUTE_B));
    assert!(
        gw.wait_for_log("config reloaded", Duration::from_secs(3))
            .await
    );
    let (status, _, _) = gw
        .chat(json!({"model": "slow", "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert_eq!(status, 404, "new requests see the new routes");
    let events = reader.collect().await;
    assert_eq!(
        events.last().unwrap().data,
        "[DONE]",
        "the running stream finished normally: {events:?}"
    );
    assert_eq!(
        crate::support::sse::content(&events),
        "chunk1 chunk2 chunk3 "
    );
}

#[tokio::test]
async fn no_request_fails_while_routes_reload() {
    let fake = FAKE_ROUTE;
    let gw = Gateway::builder(&config(&format!("{ROUTE_A}{fake}"))).start();
    let url = gw.url("/v1/chat/completions");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let traffic = {
        let stop = std::sync::Arc::clone(&stop);
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut statuses = Vec::new();
            // At least a few requests, however slow the machine.
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || statuses.len() < 5 {
                let response = client
                    .post(&url)
                    .json(
                        &json!({"model": "fake:", "messages": [{"role": "user", "content": "hi"}]}),
                    )
                    .send()
                    .await
                    .unwrap();
                statuses.push(response.status().as_u16());
            }
            statuses
        })
    };
    for round in 0..6 {
        let extra = if round % 2 == 0 { ROUTE_B } else { "" };
        let text = config(&format!("{ROUTE_A}{extra}{fake}"));
        rename_save(&gw, &text);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let statuses = traffic.await.unwrap();
    assert!(
        gw.get_json("/debug/config").await["reload"]["reloads"]
            .as_u64()
            .unwrap()
            >= 1,
        "the routes never reloaded:\n{}",
        gw.logs()
    );
    let failed: Vec<&u16> = statuses.iter().filter(|s| **s != 200).collect();
    assert!(
        failed.is_empty(),
        "requests failed during reloads: {failed:?}"
    );
    assert!(
        gw.logs().matches("config reloaded").count() >= 3,
        "{}",
        gw.logs()
    );
}

#[tokio::test]
async fn saving_a_preset_beside_the_config_reloads_too() {
    let preset = |model: &str| {
        format!("{FAKE_BACKEND}\n[[routes]]\nmodel = \"{model}\"\nbackend = \"fake\"\n")
    };
    let gw = Gateway::builder("use = [\"team\"]\n")
        .file("presets/team.toml", &preset("from-preset-1"))
        .start();
    assert_eq!(gw.model_ids().await, ["from-preset-1"]);
    let tmp = gw.dir.path().join("presets/.team.toml.tmp");
    std::fs::write(&tmp, preset("from-preset-2")).unwrap();
    std::fs::rename(&tmp, gw.dir.path().join("presets/team.toml")).unwrap();
    let mut live = false;
    for _ in 0..60 {
        if gw.model_ids().await == ["from-preset-2"] {
            live = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(live, "{}", gw.logs());
}

#[tokio::test]
async fn opening_or_reading_the_files_does_not_reload() {
    let gw = Gateway::builder(&config(ROUTE_A)).start();
    for _ in 0..3 {
        std::fs::read_to_string(gw.config_path()).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Waiting for nothing to happen: several debounce periods, time enough
    // for a reload the reads might have caused.
    tokio::time::sleep(4 * agent_cli_to_api::config::watch::DEBOUNCE).await;
    let pid = nix::unistd::Pid::from_raw(i32::try_from(gw.pid()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    assert!(
        gw.wait_for_log("trigger=\"SIGHUP\"", Duration::from_secs(5))
            .await
    );
    assert_eq!(
        gw.get_json("/debug/config").await["reload"]["reloads"],
        1,
        "only the SIGHUP reloads:\n{}",
        gw.logs()
    );
}

#[tokio::test]
async fn a_reload_keeps_counting_the_clis_already_running() {
    let limits = |timeout: u32| {
        format!(
            "use = []\n[server]\nmax_concurrency = 1\nqueue_timeout_seconds = {timeout}\n{FAKE_BACKEND}\n\
             {FAKE_ROUTE}\
             [[routes]]\nmodel = \"hang\"\nbackend = \"fake\"\nvars = {{ mode = \"hang\" }}\n"
        )
    };
    let gw = Gateway::builder(&limits(30)).start();
    let mut running = gw
        .chat_stream(json!({"model": "hang", "stream": true, "messages": [{"role": "user", "content": "x"}]}))
        .await;
    let _ = running.next().await;
    rename_save(&gw, &limits(31));
    assert!(
        gw.wait_for_log("config reloaded", Duration::from_secs(3))
            .await
    );
    let second = reqwest::Client::new()
        .post(gw.url("/v1/chat/completions"))
        .timeout(Duration::from_millis(1500))
        .json(&json!({"model": "fake:", "messages": [{"role": "user", "content": "y"}]}))
        .send()
        .await;
    assert!(
        second.as_ref().is_err_and(reqwest::Error::is_timeout),
        "the second request must wait for the only slot, not run beside the first: {second:?}"
    );
    drop(running);
}

#[tokio::test]
async fn browser_origins_are_allowed_as_configured_and_follow_reloads() {
    let with_origins = |origins: &str| fake_config(&format!("cors_origins = {origins}"), ROUTE_A);
    let gw = Gateway::builder(&with_origins(r#"["http://app.test"]"#)).start();
    let preflight = |origin: &'static str| {
        reqwest::Client::new()
            .request(reqwest::Method::OPTIONS, gw.url("/v1/chat/completions"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let allowed = |response: &reqwest::Response| {
        response
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let answer = preflight("http://app.test").await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(allowed(&answer).as_deref(), Some("http://app.test"));
    assert!(
        answer
            .headers()
            .get("access-control-allow-headers")
            // By name: the Fetch standard's `*` does not cover `Authorization`.
            .is_some_and(|v| v.to_str().unwrap().contains("authorization")),
        "{:?}",
        answer.headers()
    );
    let answer = preflight("http://other.test").await.unwrap();
    assert_eq!(
        allowed(&answer),
        None,
        "an origin not listed is not allowed"
    );
    // A real request from the allowed origin carries the header too.
    let answer = reqwest::Client::new()
        .post(gw.url("/v1/chat/completions"))
        .header("origin", "http://app.test")
        .json(&json!({"model": "model-a", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(allowed(&answer).as_deref(), Some("http://app.test"));
    let exposed = answer.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_owned();
    for name in ["x-should-retry", "retry-after", "x-request-id"] {
        assert!(exposed.contains(name), "{name} not in {exposed}");
    }

    rename_save(&gw, &with_origins("[]"));
    let mut closed = false;
    for _ in 0..100 {
        if allowed(&preflight("http://app.test").await.unwrap()).is_none() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert!(
        closed,
        "removing the origin takes effect on reload:\n{}",
        gw.logs()
    );
}

/// Waits until `/healthz` reports a refused reload whose message contains `needle`.
async fn refused_with(gw: &Gateway, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let health = gw.get_json("/healthz").await;
        if let Some(error) = health["config_error"].as_str()
            && error.contains(needle)
        {
            return error.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no refused reload mentioning {needle:?}: {health}\n{}",
            gw.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Status of a chat request for `model` with `token` (or none).
async fn chat_status(gw: &Gateway, model: &str, token: Option<&str>) -> u16 {
    let mut request = reqwest::Client::new()
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn a_half_saved_file_never_drops_the_routes_or_the_token() {
    let with_token =
        |token: &str, routes: &str| fake_config(&format!("token = \"{token}\""), routes);
    let gw = Gateway::builder(&with_token("first-token", ROUTE_A)).start();
    assert_eq!(chat_status(&gw, "model-a", None).await, 401);
    // An editor that truncates before it writes; an accidental blank save.
    for text in ["", " \n\t\n"] {
        std::fs::write(gw.config_path(), text).unwrap();
        let error = refused_with(&gw, "the file is empty").await;
        assert!(
            error.starts_with(&gw.config_path().display().to_string()),
            "{error}"
        );
        assert_eq!(
            chat_status(&gw, "model-a", None).await,
            401,
            "auth stays on"
        );
        assert_eq!(chat_status(&gw, "model-a", Some("first-token")).await, 200);
        // A good save clears the error, so the next round sees a fresh refusal.
        rename_save(&gw, &with_token("first-token", ROUTE_A));
        let cleared = async {
            for _ in 0..250 {
                if gw.get_json("/healthz").await.get("config_error").is_none() {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            false
        };
        assert!(
            cleared.await,
            "the good save was not loaded:\n{}",
            gw.logs()
        );
    }
    // A valid file that lost its token: refused as a whole, and the log says why.
    rename_save(&gw, &config(ROUTE_B));
    refused_with(&gw, "never turns authentication off").await;
    assert!(
        gw.logs()
            .contains("restart the gateway to run without a token")
    );
    assert_eq!(chat_status(&gw, "model-a", None).await, 401);
    assert_eq!(chat_status(&gw, "model-b", Some("first-token")).await, 404);
    // Changing the token is a normal reload.
    let reloads = gw.logs().matches("config reloaded").count();
    rename_save(&gw, &with_token("second-token", ROUTE_B));
    assert!(
        crate::support::eventually(Duration::from_secs(5), || gw
            .logs()
            .matches("config reloaded")
            .count()
            > reloads)
        .await
    );
    assert_eq!(chat_status(&gw, "model-b", Some("first-token")).await, 401);
    assert_eq!(chat_status(&gw, "model-b", Some("second-token")).await, 200);
}

#[tokio::test]
async fn a_routes_file_that_disappears_keeps_its_routes() {
    // Read from the working directory, as without --config.
    let gw = Gateway::without_config()
        .file("routes.toml", &config(ROUTE_A))
        .start();
    assert_eq!(gw.model_ids().await, ["model-a"]);
    std::fs::remove_file(gw.dir.path().join("routes.toml")).unwrap();
    refused_with(&gw, "routes.toml was removed").await;
    assert_eq!(gw.model_ids().await, ["model-a"]);
    assert_eq!(chat_status(&gw, "model-a", None).await, 200);
}
