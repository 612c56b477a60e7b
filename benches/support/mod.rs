//! What the benchmarks share: their `main`, order statistics of timings,
//! target checks, and a process's CPU time and peak memory from `/proc`.

#![allow(dead_code)] // each bench uses its part

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

/// Runs bench `name`'s `run` on a multi-threaded runtime, only under
/// `cargo bench` (which passes `--bench`; `cargo test --all-targets` runs
/// the binary without it, unoptimized: it does nothing then). Fails when
/// `run` does or says a target was missed.
pub(crate) fn main<F>(name: &str, run: impl FnOnce() -> F) -> ExitCode
where
    F: Future<Output = anyhow::Result<bool>>,
{
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("{name} bench skipped: run it with `cargo bench --bench {name}`");
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("FAILED: a target was missed (see above)");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("bench error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// One clock tick, the resolution of [`cpu_split`]: `/proc/PID/stat`
/// counts in USER_HZ, which Linux fixes at 100 per second.
pub(crate) const CPU_TICK: Duration = Duration::from_millis(10);

/// CPU time process `pid` has used (user + system, all its threads, the
/// ended ones too, without its children), to the nanosecond: its CPU
/// clock (`clock_getcpuclockid`). (`/proc/PID/stat` counts in 10 ms
/// ticks: ±0.02 ms per request over 500 requests, as large as the
/// differences measured.)
pub(crate) fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(pid)?);
    let clock = nix::time::clock_getcpuclockid(pid)?;
    Ok(Duration::from(nix::time::clock_gettime(clock)?))
}

/// CPU time process `pid` has used in user space and in the kernel, in
/// clock ticks ([`CPU_TICK`]).
pub(crate) fn cpu_split(pid: u32) -> anyhow::Result<(Duration, Duration)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| -> anyhow::Result<u64> {
        Ok(fields
            .get(i)
            .ok_or_else(|| anyhow::anyhow!("short stat"))?
            .parse()?)
    };
    // After `)`: state ppid … utime (index 11) stime (12).
    Ok((
        CPU_TICK * u32::try_from(ticks(11)?)?,
        CPU_TICK * u32::try_from(ticks(12)?)?,
    ))
}

/// The peak resident memory of process `pid` (`VmHWM`), in KiB.
pub(crate) fn peak_rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmHWM in /proc/{pid}/status"))
}

/// Prints `what` against its target; whether it was met.
pub(crate) fn check_target(what: &str, value: Duration, target: Duration) -> bool {
    let met = value <= target;
    println!(
        "{what}: {} ms (target ≤ {} ms): {}",
        ms(value),
        ms(target),
        if met { "met" } else { "MISSED" }
    );
    met
}

/// Order statistics of a set of timings.
pub(crate) struct Stats {
    pub(crate) min: Duration,
    pub(crate) median: Duration,
    pub(crate) p90: Duration,
    pub(crate) p99: Duration,
    pub(crate) max: Duration,
}

impl Stats {
    pub(crate) const HEADER: &str = "    min | median |    p90 |    p99 |    max";
    /// The markdown rule under [`Stats::HEADER`], columns right-aligned.
    pub(crate) const RULE: &str = "--------:|-------:|-------:|-------:|-------:|";

    pub(crate) fn of(mut samples: Vec<Duration>) -> Stats {
        samples.sort_unstable();
        let at = |q: f64| {
            let rank = (q * (samples.len() - 1) as f64).round() as usize;
            samples[rank]
        };
        Stats {
            min: samples[0],
            median: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            max: samples[samples.len() - 1],
        }
    }

    pub(crate) fn row(&self) -> String {
        format!(
            "{:>7} | {:>6} | {:>6} | {:>6} | {:>6}",
            ms(self.min),
            ms(self.median),
            ms(self.p90),
            ms(self.p99),
            ms(self.max)
        )
    }
}

/// Milliseconds with microsecond precision.
pub(crate) fn ms(duration: Duration) -> String {
    format!("{:.3}", duration.as_secs_f64() * 1000.0)
}
