//! Tests of `reaper`.

use std::os::unix::process::CommandExt as _;

use super::*;

/// A test's own child, registered as a CLI under the same lock as its
/// spawn, so that the cleanups of other tests running in this process
/// never take it for an orphan.
struct Registered(i32);

impl Registered {
    fn spawn(command: &mut std::process::Command) -> (std::process::Child, Registered) {
        let mut registry = REGISTRY.lock().unwrap();
        let child = command.spawn().unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        registry.leaders().insert(pid, format!("test-{pid}"));
        registry.active().insert(format!("test-{pid}"));
        (child, Registered(pid))
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        let mut registry = REGISTRY.lock().unwrap();
        registry.leaders().remove(&self.0);
        registry.active().remove(&format!("test-{}", self.0));
    }
}

#[test]
fn a_child_is_found_with_its_group_and_state() {
    let (mut child, _registered) = Registered::spawn(
        std::process::Command::new("sleep")
            .arg("30")
            .process_group(0),
    );
    let pid = i32::try_from(child.id()).unwrap();
    let found = children_of_this_process();
    let seen = found
        .iter()
        .find(|c| c.pid == pid)
        .expect("the child is listed");
    assert_eq!(seen.group, pid);
    assert!(!seen.exited);
    child.kill().unwrap();
    // Killed but not yet waited for: a zombie, still a child.
    assert!(
        (0..200).any(|_| {
            std::thread::sleep(Duration::from_millis(5));
            children_of_this_process()
                .iter()
                .any(|c| c.pid == pid && c.exited)
        }),
        "the exited child shows as exited"
    );
    child.wait().unwrap();
    assert!(!children_of_this_process().iter().any(|c| c.pid == pid));
    if let Some(listed) = listed_children() {
        assert!(!listed.contains(&pid));
    }
}

#[test]
fn the_run_mark_is_read_from_the_environment() {
    let (mut child, _registered) = Registered::spawn(
        std::process::Command::new("sleep")
            .arg("30")
            .env(RUN_MARK, "mark-123"),
    );
    let pid = i32::try_from(child.id()).unwrap();
    // Until it has exec'd, the child still shows this process's environment.
    assert!(
        (0..200).any(|_| {
            std::thread::sleep(Duration::from_millis(5));
            run_mark(pid).as_deref() == Some("mark-123")
        }),
        "{:?}",
        run_mark(pid)
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
