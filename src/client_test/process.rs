//! The client under test as a process: started in its own process group under
//! `sh -c`, interrupted like a user pressing Ctrl-C (SIGINT to the group, for the
//! Cancel-Session scenarios), and killed with its children at the time limit.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Starts `command` under `sh -c` with `env` added, in a process group of its own.
pub fn spawn(command: &str, env: &[(&str, String)]) -> Result<Child, String> {
    use std::os::unix::process::CommandExt;
    Command::new("sh")
        .args(["-c", command])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start the client (sh -c): {e}"))
}

/// Sends `signal` (`INT`, `KILL`) to the process group `group`.
pub fn signal_group(group: u32, signal: &str) {
    let _ = Command::new("sh")
        .args(["-c", &format!("kill -{signal} -{group}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Waits for `child` at most `timeout`: its exit code, or `None` when it had to be
/// killed (its whole group) or was ended by a signal.
pub fn wait(mut child: Child, timeout: Duration) -> Option<i32> {
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status.code();
        }
        if started.elapsed() > timeout {
            signal_group(child.id(), "KILL");
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
