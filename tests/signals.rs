//! Signals are watched from the moment a server says where it listens: `shutdown_signal()`
//! installs its handlers when called, before the address is printed, not when its future is
//! first polled (a SIGTERM in between killed `listen` with status 143 and no summary, about one
//! run in thirty). A test binary of its own: the handlers are process-wide and stay installed
//! once any test has installed them.

use std::time::Duration;

/// The signals this process catches, from `/proc/self/status`'s `SigCgt` mask.
fn caught_signals() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let mask = status
        .lines()
        .find_map(|line| line.strip_prefix("SigCgt:"))
        .expect("a SigCgt line");
    u64::from_str_radix(mask.trim(), 16).expect("a hexadecimal mask")
}

/// Whether signal number `signal` is in `mask` (bit `signal - 1`).
fn has(mask: u64, signal: u32) -> bool {
    mask & (1 << (signal - 1)) != 0
}

#[test]
fn the_handlers_are_installed_before_the_future_is_polled() {
    const SIGINT: u32 = 2;
    const SIGTERM: u32 = 15;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let before = caught_signals();
        assert!(!has(before, SIGTERM) && !has(before, SIGINT), "{before:x}");
        let signalled = hookscope::commands::listen::shutdown_signal();
        // Not polled yet: what a server has between printing its address and serving.
        let after = caught_signals();
        assert!(has(after, SIGTERM), "SIGTERM not caught yet: {after:x}");
        assert!(has(after, SIGINT), "SIGINT not caught yet: {after:x}");
        // And it does complete on one.
        let me = std::process::id().to_string();
        let waiting = tokio::spawn(signalled);
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &me])
            .status()
            .expect("kill");
        assert!(sent.success());
        tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .expect("the future completes on SIGTERM")
            .expect("the task ran");
    });
}
