//! Wall time and the process's CPU time over the same span.
//!
//! Their ratio is how many cores the process kept busy on average. It tells a figure bound by
//! the CPU (close to the machine's cores) from one bound by waiting — an fsync, a round
//! trip, a handoff between stages — where cutting CPU alone will not make it faster. Every
//! thread counts (services, clients, helpers, even those that ended during the span), since
//! the figures run both services and their clients in this one process.

use std::ops::AddAssign;
use std::time::{Duration, Instant};

/// What one span, or several spans added up, took.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Measured {
    pub elapsed: Duration,
    /// CPU time of all the process's threads, user and system; `None` where the platform
    /// does not tell.
    pub cpu: Option<Duration>,
}

/// Nothing yet, to add spans to: no time, and CPU time known to be zero where the platform
/// tells it at all.
impl Default for Measured {
    fn default() -> Self {
        Measured {
            elapsed: Duration::ZERO,
            cpu: cfg!(unix).then_some(Duration::ZERO),
        }
    }
}

impl Measured {
    /// Starts a span now.
    pub fn start() -> Span {
        Span {
            cpu: process_cpu(),
            wall: Instant::now(),
        }
    }

    /// Runs `work` as one span.
    pub fn time<R>(work: impl FnOnce() -> R) -> (R, Measured) {
        let span = Measured::start();
        let result = work();
        (result, span.stop())
    }

    /// Cores kept busy on average: CPU time over wall time.
    pub fn cores(&self) -> Option<f64> {
        let wall = self.elapsed.as_secs_f64();
        self.cpu
            .filter(|_| wall > 0.0)
            .map(|cpu| cpu.as_secs_f64() / wall)
    }
}

impl AddAssign for Measured {
    fn add_assign(&mut self, other: Measured) {
        self.elapsed += other.elapsed;
        self.cpu = self.cpu.zip(other.cpu).map(|(a, b)| a + b);
    }
}

/// A span being measured.
pub struct Span {
    wall: Instant,
    cpu: Option<Duration>,
}

impl Span {
    pub fn stop(self) -> Measured {
        let elapsed = self.wall.elapsed();
        let cpu = self
            .cpu
            .zip(process_cpu())
            .map(|(start, end)| end.saturating_sub(start));
        Measured { elapsed, cpu }
    }
}

/// CPU time used so far by every thread of the process, living or ended.
#[cfg(unix)]
fn process_cpu() -> Option<Duration> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: getrusage writes a whole `rusage` into the pointer it is given when it returns
    // 0, and the value is read only then.
    let usage = unsafe {
        if libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) != 0 {
            return None;
        }
        usage.assume_init()
    };
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    Some(time(usage.ru_utime) + time(usage.ru_stime))
}

#[cfg(not(unix))]
fn process_cpu() -> Option<Duration> {
    None
}

/// Has the system write out every dirty page (on Linux `sync` waits for it; elsewhere it may
/// only start the writes), so that a figure does not pay for the writes of the one before
/// it. The figures write hundreds of megabytes; measured
/// here, the writeback the earlier figures left was still running during a pull (up to
/// 300 MB/s), slowing its fsyncs and taking CPU, and moved the pull's figure by a third from
/// run to run. Every figure, baselines included, starts settled.
pub fn settle() {
    #[cfg(unix)]
    // SAFETY: sync takes no arguments and cannot fail.
    unsafe {
        libc::sync()
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_span_shows_at_least_half_a_busy_core() {
        let (_, busy) = Measured::time(|| {
            let until = Instant::now() + Duration::from_millis(300);
            let mut spins = 0u64;
            while Instant::now() < until {
                spins = std::hint::black_box(spins + 1);
            }
        });
        // Only a lower bound: the other tests of this process run meanwhile and count too.
        if cfg!(unix) {
            let cores = busy.cores().expect("unix tells a process's CPU time");
            assert!(cores > 0.5, "{busy:?}");
        }
        assert!(busy.elapsed >= Duration::from_millis(300));
    }

    #[test]
    fn spans_add_up() {
        let mut total = Measured {
            elapsed: Duration::from_secs(1),
            cpu: Some(Duration::from_millis(500)),
        };
        total += Measured {
            elapsed: Duration::from_secs(1),
            cpu: Some(Duration::from_millis(1500)),
        };
        assert_eq!(total.elapsed, Duration::from_secs(2));
        assert_eq!(total.cores(), Some(1.0));
        total += Measured {
            elapsed: Duration::from_secs(1),
            cpu: None,
        };
        assert_eq!(
            total.cores(),
            None,
            "an unknown part makes the whole unknown"
        );
        assert_eq!(Measured::default().cores(), None, "no time, no rate");
    }

    #[test]
    fn spans_added_to_nothing_keep_their_cpu_time() {
        let mut total = Measured::default();
        total += Measured {
            elapsed: Duration::from_secs(2),
            cpu: Some(Duration::from_secs(3)),
        };
        let expected = if cfg!(unix) { Some(1.5) } else { None };
        assert_eq!(total.cores(), expected);
    }
}
