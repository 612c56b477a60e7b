//! Process hygiene: every way a request can end early kills the CLI's whole
//! process group (its own children included) and reaps it.

use std::time::Duration;

use serde_json::json;

use crate::support::{
    Gateway, assert_no_zombies, assert_processes_gone, eventually, fake_backend_with,
    processes_with_env,
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

/// Like [`hanging`], with more options for the fake CLI.
fn hanging_with(marker: &str, server: &str, mode: &str, options: &[&str]) -> String {
    let args: Vec<String> = options.iter().map(|o| format!("{o:?}")).collect();
    format!(
        r#"use = []
[server]
{server}

{fake}

[[routes]]
model = "run"
backend = "fake"
vars = {{ mode = "{mode}" }}
"#,
        fake = fake_backend_with(&format!(
            "extra_args = [{}]\nenv = {{ TEST_MARKER = \"{marker}\" }}",
            args.join(", ")
        )),
    )
}

/// Waits until the CLI marked `marker` has started its `sleep` child.
async fn wait_for_sleeper(marker: &str) {
    let sleeping = || {
        processes_with_env(marker).iter().any(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "sleep")
        })
    };
    assert!(
        eventually(Duration::from_secs(10), sleeping).await,
        "the CLI never started its child"
    );
}

fn ask(model: &str) -> serde_json::Value {
    json!({"model": model, "messages": [{"role": "user", "content": "x"}]})
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z'))
    })
}

#[tokio::test]
async fn processes_that_leave_the_group_die_with_the_run() {
    let marker = marker();
    // A `setsid` child and a double-forked daemon: neither is in the CLI's group.
    let gw = Gateway::builder(&hanging_with(
        &marker,
        "timeout_seconds = 2",
        "hang",
        &["--spawn-setsid", "--daemonize"],
    ))
    .start();
    let (status, _, _) = gw.chat(ask("run")).await;
    assert_eq!(status, 504);
    assert_processes_gone(&marker, Duration::from_secs(3)).await;
    assert_no_zombies(&gw, Duration::from_secs(3)).await;
}

#[tokio::test]
async fn a_daemon_left_by_a_finished_run_is_stopped_and_reaped() {
    let marker = marker();
    let scratch = tempfile::tempdir().unwrap();
    let clean_pidfile = scratch.path().join("clean-daemon.pid");
    let gw = Gateway::builder(&hanging_with(
        &marker,
        "",
        "echo",
        &["--daemonize", "--spawn-setsid"],
    ))
    .start();
    let (status, _, body) = gw.chat(ask("run")).await;
    assert_eq!(status, 200, "{body}");
    assert_processes_gone(&marker, Duration::from_secs(3)).await;
    // One that even clears its environment is found as an orphan of the
    // gateway once no other run is active.
    let config = hanging_with(
        &marker,
        "",
        "echo",
        &[
            "--daemonize",
            "--daemon-clean-env",
            "--daemon-pidfile",
            clean_pidfile.to_str().unwrap(),
        ],
    );
    std::fs::write(gw.config_path(), &config).unwrap();
    assert!(
        gw.wait_for_log("config reloaded", Duration::from_secs(5))
            .await
    );
    let (status, _, body) = gw.chat(ask("run")).await;
    assert_eq!(status, 200, "{body}");
    let pid: i32 = std::fs::read_to_string(&clean_pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        eventually(Duration::from_secs(3), || !alive(pid)).await,
        "the daemon with a cleared environment survived the run"
    );
    assert_no_zombies(&gw, Duration::from_secs(3)).await;
}

#[tokio::test]
async fn client_disconnect_kills_processes_outside_the_group() {
    let marker = marker();
    let gw = Gateway::builder(&hanging_with(&marker, "", "hang", &["--spawn-setsid"])).start();
    let url = gw.url("/v1/chat/completions");
    let request = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .json(&ask("run"))
            .send()
            .await
    });
    wait_for_sleeper(&marker).await;
    request.abort();
    assert_processes_gone(&marker, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn shutdown_right_after_a_disconnect_leaves_no_workspace() {
    let marker = marker();
    let gw = Gateway::builder(&hanging_with(&marker, "", "hang", &["--spawn-setsid"])).start();
    let url = gw.url("/v1/chat/completions");
    let request = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .json(&ask("run"))
            .send()
            .await
    });
    wait_for_sleeper(&marker).await;
    let tmp = gw.dir.path().join("tmp");
    let workspaces = || {
        std::fs::read_dir(&tmp)
            .unwrap()
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("agent-cli-to-api-ws-")
            })
            .count()
    };
    // The run's own (where its processes work), and the ones made ahead of
    // time for the next runs.
    let run_workspace = processes_with_env(&marker)
        .iter()
        .find_map(|pid| std::fs::read_link(format!("/proc/{pid}/cwd")).ok())
        .expect("the CLI's working directory");
    assert!(
        run_workspace.starts_with(&tmp) && run_workspace.is_dir(),
        "the run's workspace is a fresh directory under the gateway's TMPDIR: {}",
        run_workspace.display()
    );
    assert!(workspaces() >= 1);
    request.abort();
    let pid = nix::unistd::Pid::from_raw(i32::try_from(gw.pid()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    assert!(
        eventually(Duration::from_secs(10), || !alive(pid.as_raw())).await,
        "the gateway did not exit:\n{}",
        gw.logs()
    );
    assert_eq!(workspaces(), 0, "a workspace outlived the gateway");
    assert_processes_gone(&marker, Duration::from_secs(2)).await;
}
