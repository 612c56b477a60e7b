//! Tests of `launch`: a CLI started for a request that is gone by then is
//! still stopped and its run cleaned up.

use std::time::Duration;

use super::*;
use crate::backend::Kind;
use crate::config::{LoadOptions, load};

/// A backend whose CLI writes its pid and run mark to `{pidfile}`, then waits.
fn backend(dir: &std::path::Path) -> (Arc<Backend>, Arc<CliTemplate>) {
    let config = format!(
        r#"
use = []
[backends.waits]
command = "sh"
args = ["-c", "echo $$ $AGENT_CLI_TO_API_RUN > {{pidfile}}; exec sleep 30"]
vars = {{ pidfile = "{}" }}
default_model = "w"
[[backends.waits.output]]
when = {{ "/t" = "end" }}
terminal = true
"#,
        dir.join("pid").display()
    );
    let options = LoadOptions::for_text(dir, &config, &[("PATH", "/usr/bin:/bin".to_owned())]);
    let backend = Arc::clone(&load(&options).unwrap().routes.backends["waits"]);
    let Kind::Cli(cli) = &backend.kind else {
        panic!("a cli backend")
    };
    let cli = Arc::clone(cli);
    (backend, cli)
}

#[tokio::test]
async fn a_cli_launched_for_a_request_that_is_gone_is_stopped_and_cleaned_up() {
    let dir = tempfile::tempdir().unwrap();
    let (backend, cli) = backend(dir.path());
    let launch = Launch {
        backend,
        cli,
        run: RunRequest {
            request_id: "gone".into(),
            model: "w".into(),
            ..RunRequest::default()
        },
        workspaces: Arc::new(WorkspacePool::default()),
        reaper: Arc::new(Reaper::default()),
    };
    let launched = tokio::task::spawn_blocking(move || launch.launch())
        .await
        .unwrap()
        .unwrap();
    let pid = launched.guard.pgid().unwrap();
    let pidfile = dir.path().join("pid");
    let mut written = String::new();
    for _ in 0..500 {
        written = std::fs::read_to_string(&pidfile).unwrap_or_default();
        if written.ends_with('\n') {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (written_pid, mark) = written
        .trim()
        .split_once(' ')
        .expect("the CLI wrote its pid and mark");
    assert_eq!(written_pid, pid.to_string());
    assert!(crate::engine::reaper::is_active(mark));
    // The client disconnected while the CLI was being spawned: nobody takes
    // what the blocking launch returns, and its thread drops it.
    tokio::task::spawn_blocking(move || drop(launched))
        .await
        .unwrap();
    let proc_dir = std::path::PathBuf::from(format!("/proc/{pid}"));
    for _ in 0..500 {
        if !proc_dir.exists() && !crate::engine::reaper::is_active(mark) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "the CLI still runs ({}) or its run is still active ({})",
        proc_dir.exists(),
        crate::engine::reaper::is_active(mark)
    );
}
