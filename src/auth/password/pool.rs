//! `HashThreads`: the threads password hashes run on, as many as hashes may run at once
//! (`auth.password_hash_concurrency`), each at the lowest priority of normal threads (nice 19,
//! `SCHED_BATCH` on Linux). A login storm then takes the CPU only as far as proxied requests
//! leave it idle: the runtime's workers always win a core over a hash.
//!
//! Does not bound or count hashes; `Passwords` admits them (its semaphore never lets more jobs
//! in than there are threads).

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError, mpsc};

type Job = Box<dyn FnOnce() + Send>;

/// The pool was shut down, or the job panicked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("password hash thread unavailable")]
pub struct Unavailable;

pub struct HashThreads {
    jobs: mpsc::Sender<Job>,
}

impl HashThreads {
    /// Starts `count` threads (at least one). They end when the pool is dropped.
    pub fn start(count: usize) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..count.max(1) {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("sessiongate-hash-{index}"))
                .spawn(move || work(&queue));
            if let Err(err) = spawned {
                tracing::error!(error = %err, "could not start a password hash thread");
            }
        }
        Self { jobs }
    }

    /// Runs `job` on one of the threads and waits for its result without blocking the runtime.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Unavailable> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                // The receiver may be gone (the client hung up): the answer is simply dropped.
                let _ = answer.send(job());
            }))
            .map_err(|_| Unavailable)?;
        answered.await.map_err(|_| Unavailable)
    }
}

/// One thread: lower its priority, then run jobs until the pool is dropped. A job that panics
/// answers `Unavailable` (its sender is dropped) and the thread carries on.
fn work(queue: &Mutex<mpsc::Receiver<Job>>) {
    lower_priority();
    loop {
        let next = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(job) = next else {
            return;
        };
        if std::panic::catch_unwind(AssertUnwindSafe(job)).is_err() {
            tracing::error!("a password hash job panicked");
        }
    }
}

#[cfg(target_os = "linux")]
fn lower_priority() {
    use thread_priority::ThreadPriority;
    use thread_priority::unix::{
        NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy,
        thread_native_id,
    };
    let lowered = set_thread_priority_and_policy(
        thread_native_id(),
        ThreadPriority::Min,
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch),
    );
    if let Err(err) = lowered {
        tracing::warn!(error = ?err, "could not lower the priority of a password hash thread");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

#[cfg(test)]
mod tests {
    use super::*;

    /// This thread's nice value and scheduling policy, read from the kernel (`/proc`), not
    /// from the library that set them.
    #[cfg(target_os = "linux")]
    fn own_nice_and_policy() -> (i64, i64) {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        // Fields after the command name (which may hold spaces) start at field 3 (`state`).
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        let field = |number: usize| fields[number - 3].parse::<i64>().unwrap();
        (field(19), field(41))
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashes_run_at_nice_19_under_the_batch_policy_and_the_runtime_does_not() {
        const SCHED_BATCH: i64 = 3;
        let pool = HashThreads::start(2);
        let (nice, policy) = pool.run(own_nice_and_policy).await.unwrap();
        assert_eq!((nice, policy), (19, SCHED_BATCH));
        let (runtime_nice, runtime_policy) = own_nice_and_policy();
        assert_ne!((runtime_nice, runtime_policy), (19, SCHED_BATCH));
    }

    #[tokio::test]
    async fn a_panicking_job_answers_unavailable_and_the_thread_carries_on() {
        let pool = HashThreads::start(1);
        let panicked = pool.run(|| -> u8 { panic!("a job that panics") }).await;
        assert_eq!(panicked, Err(Unavailable));
        assert_eq!(pool.run(|| 7).await, Ok(7));
    }

    #[tokio::test]
    async fn jobs_run_on_the_pool_threads_not_on_the_caller() {
        let pool = HashThreads::start(1);
        let name = pool
            .run(|| std::thread::current().name().map(str::to_owned))
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("sessiongate-hash-0"));
    }
}
