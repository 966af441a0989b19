//! Work that yields to the dashboards: console statements, drill-down and event pages run on
//! a runtime of their own whose threads have a lower OS priority (nice 9), so when the cores
//! are busy the dashboards' queries get most of them, and when they are not, this work gets
//! all of them. A task is cancelled when its request is (a timeout, a closed connection).

use std::future::Future;

use tokio::runtime::Runtime;

/// The Crossplatform priority (0-99) that thread-priority maps to nice 9 on Linux.
const PRIORITY: u8 = 23;
/// The nice value it gives.
const NICE: i64 = 9;

/// The calling thread's nice value (Linux: field 19 of /proc/thread-self/stat).
fn current_nice() -> Option<i64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(16)?
        .parse()
        .ok()
}

pub(crate) struct Background(Option<Runtime>);

impl std::fmt::Debug for Background {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Background")
    }
}

impl Background {
    pub(crate) fn new() -> std::io::Result<Background> {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("trawl-background")
            .thread_stack_size(trawl_query::QUERY_STACK_BYTES)
            .enable_all()
            .on_thread_start(|| {
                // Threads start with their creator's nice value: never raise it (a server
                // started with `nice` keeps its background below or at its own).
                if current_nice().is_some_and(|n| n >= NICE) {
                    return;
                }
                let priority = thread_priority::ThreadPriorityValue::try_from(PRIORITY)
                    .expect("a priority within 0-99");
                // Where threads cannot be given a lower priority, they run at the same one.
                if let Err(e) = thread_priority::set_current_thread_priority(
                    thread_priority::ThreadPriority::Crossplatform(priority),
                ) {
                    tracing::debug!("background threads keep their priority: {e:?}");
                }
            })
            .build()?;
        Ok(Background(Some(runtime)))
    }

    /// Runs `work` on the background threads and waits for it; dropping the returned future
    /// cancels it.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
    ) -> T {
        let runtime = self
            .0
            .as_ref()
            .expect("the runtime lives as long as the app");
        let mut task = Abort(runtime.spawn(work));
        match (&mut task.0).await {
            Ok(v) => v,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("a background task was cancelled while awaited: {e}"),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        // Dropped from async code (the app ends with its server): no blocking wait.
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// A task aborted when its handle is dropped.
struct Abort<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for Abort<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_runs_on_threads_of_lower_priority_and_stops_with_its_request() {
        let bg = Background::new().unwrap();
        let (name, nice) = bg
            .run(async {
                (
                    std::thread::current().name().map(str::to_string),
                    current_nice(),
                )
            })
            .await;
        assert_eq!(name.as_deref(), Some("trawl-background"));
        #[cfg(target_os = "linux")]
        {
            let (nice, here) = (nice.unwrap(), current_nice().unwrap());
            // Lower priority than the caller's, never higher (tests may run under `nice`).
            assert_eq!(
                nice,
                here.max(NICE),
                "background nice {nice}, caller's {here}"
            );
        }
        // A request that goes away takes its work with it.
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let waiting = bg.run(async move {
            let _tx = tx;
            std::future::pending::<()>().await;
        });
        drop(tokio::time::timeout(std::time::Duration::from_millis(50), waiting).await);
        assert!(rx.await.is_err(), "the cancelled task dropped its sender");
    }
}
