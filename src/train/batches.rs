//! Batch preparation on a pool of worker threads, delivered in step order through a bounded
//! queue: the network never waits on cutting, augmenting and computing features when the
//! accelerator is faster than one core, and a run stays deterministic (batch `n` is a pure
//! function of `n`, whichever worker makes it).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

/// Runs `consume` on `make(step)` for every step of `steps`, in order, while `workers`
/// threads make batches ahead (at most `depth` waiting). Returns what `consume` returned
/// first as an error, or `Ok`; workers stop when the consumer does.
pub fn for_each_batch<T: Send, E>(
    steps: std::ops::Range<usize>,
    workers: usize,
    depth: usize,
    make: impl Fn(usize) -> T + Sync,
    mut consume: impl FnMut(usize, T) -> Result<(), E>,
) -> Result<(), E> {
    let workers = workers.max(1);
    let next = AtomicUsize::new(steps.start);
    let (tx, rx) = mpsc::sync_channel::<(usize, T)>(depth.max(workers));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let (tx, next, make, end) = (tx.clone(), &next, &make, steps.end);
            scope.spawn(move || loop {
                let step = next.fetch_add(1, Ordering::Relaxed);
                if step >= end || tx.send((step, make(step))).is_err() {
                    return;
                }
            });
        }
        drop(tx);
        // Owned here, so that an early return drops it before the scope joins the workers:
        // their next send fails and they stop.
        let rx = rx;
        // Batches arrive in any order; hand them on in step order.
        let mut waiting = BTreeMap::new();
        let mut expected = steps.start;
        for (step, batch) in rx.iter() {
            waiting.insert(step, batch);
            while let Some(batch) = waiting.remove(&expected) {
                consume(expected, batch)?;
                expected += 1;
            }
        }
        Ok(())
    })
}

/// Workers for batch preparation: the cores beyond the one that runs the network (at least
/// one), unless set.
pub fn default_workers(asked: Option<usize>) -> usize {
    asked.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .saturating_sub(1)
            .max(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_arrive_in_step_order_whatever_the_workers() {
        for workers in [1, 2, 5] {
            let mut seen = Vec::new();
            let made = |step: usize| {
                // Uneven work, so workers finish out of order.
                std::thread::sleep(std::time::Duration::from_micros(
                    ((step * 7919) % 5) as u64 * 300,
                ));
                step * 10
            };
            for_each_batch::<_, ()>(3..40, workers, 4, made, |step, batch| {
                assert_eq!(batch, step * 10);
                seen.push(step);
                Ok(())
            })
            .unwrap();
            assert_eq!(seen, (3..40).collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_consumer_error_stops_the_run() {
        let mut seen = 0;
        let r = for_each_batch(
            0..1000,
            3,
            2,
            |s| s,
            |step, _| {
                seen += 1;
                if step == 5 {
                    Err("stop")
                } else {
                    Ok(())
                }
            },
        );
        assert_eq!(r, Err("stop"));
        assert_eq!(seen, 6);
    }
}
