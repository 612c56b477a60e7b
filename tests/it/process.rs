//! Process hygiene: every way a request can end early kills the CLI's whole
//! process group (its own children included) and reaps it.

use std::time::Duration;

use serde_json::json;

use crate::support::{
    Gateway, assert_processes_gone, eventually, fake_backend_with, processes_with_env,
};

/// A config whose fake CLI hangs after its first chunk, with a grandchild,
/// and carries `marker` in its environment so its processes can be found.
fn hanging(marker: &str, server: &str) -> String {
    format!(
        r#"use = []
[server]
{server}

{fake}

[[routes]]
model = "hang"
backend = "fake"
vars = {{ mode = "hang" }}
"#,
        fake = fake_backend_with(&format!(
            "extra_args = [\"--spawn-child\"]\nenv = {{ TEST_MARKER = \"{marker}\" }}"
        )),
    )
}

fn marker() -> String {
    format!("proc-test-{}", uuid::Uuid::new_v4().simple())
}

async fn wait_for_group(marker: &str) {
    assert!(
        eventually(Duration::from_secs(10), || processes_with_env(marker).len()
            >= 2)
        .await,
        "the CLI and its child never started"
    );
}

#[tokio::test]
async fn streaming_client_disconnect_kills_the_process_group() {
    let marker = marker();
    let gw = Gateway::builder(&hanging(&marker, "")).start();
    let mut reader = gw.chat_stream(json!({"model": "hang", "stream": true, "messages": [{"role": "user", "content": "x"}]})).await;
    loop {
        let event = reader.next().await.expect("stream ended early");
        if event.data.contains("working") {
            break;
        }
    }
    wait_for_group(&marker).await;
    drop(reader);
    assert_processes_gone(&marker, Duration::from_secs(5)).await;
    assert!(
        gw.wait_for_log("status=client disconnected", Duration::from_secs(5))
            .await,
        "{}",
        gw.logs()
    );
}

#[tokio::test]
async fn non_streaming_client_disconnect_kills_the_process_group() {
    let marker = marker();
    let gw = Gateway::builder(&hanging(&marker, "")).start();
    let url = gw.url("/v1/chat/completions");
    let request = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .json(&json!({"model": "hang", "messages": [{"role": "user", "content": "x"}]}))
            .send()
            .await
    });
    wait_for_group(&marker).await;
    request.abort();
    assert_processes_gone(&marker, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn timeout_kills_the_process_group() {
    let marker = marker();
    let gw = Gateway::builder(&hanging(&marker, "timeout_seconds = 2")).start();
    let (status, _, _) = gw
        .chat(json!({"model": "hang", "messages": [{"role": "user", "content": "x"}]}))
        .await;
    assert_eq!(status, 504);
    assert_processes_gone(&marker, Duration::from_secs(3)).await;
}

#[tokio::test]
async fn shutdown_kills_running_clis_and_exits() {
    let marker = marker();
    let gw = Gateway::builder(&hanging(&marker, "")).start();
    let mut reader = gw.chat_stream(json!({"model": "hang", "stream": true, "messages": [{"role": "user", "content": "x"}]})).await;
    let _ = reader.next().await;
    wait_for_group(&marker).await;
    let pid = nix::unistd::Pid::from_raw(i32::try_from(gw.pid()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let events = tokio::time::timeout(Duration::from_secs(5), reader.collect())
        .await
        .expect("stream did not end");
    let last = events.last().map(|e| e.json()).unwrap_or_default();
    assert_eq!(last["error"]["code"], "shutting_down", "{events:?}");
    assert_processes_gone(&marker, Duration::from_secs(5)).await;
    assert!(
        gw.wait_for_log("shutting down", Duration::from_secs(5))
            .await
    );
}

#[tokio::test]
async fn a_cli_that_lingers_after_its_answer_is_stopped_and_the_answer_stands() {
    let marker = marker();
    let config = hanging(&marker, "").replace("mode = \"hang\"", "mode = \"linger\"");
    let gw = Gateway::builder(&config).start();
    let started = std::time::Instant::now();
    let (status, _, body) = gw
        .chat(json!({"model": "hang", "messages": [{"role": "user", "content": "x"}]}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "done, but still running"
    );
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(6),
        "waited {took:?} for a finished CLI"
    );
    assert_processes_gone(&marker, Duration::from_secs(3)).await;
}
