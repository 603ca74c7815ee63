//! Completing, in sequence order, work that threads finish in any order.
//!
//! Each item of work has a sequence number. A thread that finishes item
//! `seq` hands it in with [`Reorder::deliver`] and goes on to other work at
//! once: it does not wait for the items before it. Whichever thread hands
//! in the item that is next in sequence completes it, and every item after
//! it that is already waiting, one at a time and without holding the lock;
//! the others never block. [`Reorder::wait_room`] keeps threads from running
//! more than a window of items ahead of the next one to complete, which
//! bounds the memory the waiting items hold.

use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex};

/// Items handed in out of order, completed in order.
pub struct Reorder<T> {
    state: Mutex<State<T>>,
    room: Condvar,
    window: u64,
}

struct State<T> {
    /// The sequence number of the next item to complete.
    next: u64,
    /// Items handed in ahead of their turn.
    ready: BTreeMap<u64, T>,
    /// Whether a thread is completing items now.
    completing: bool,
    stopped: bool,
}

impl<T> Reorder<T> {
    /// At most `window` items (at least one) between the next to complete
    /// and the last one started.
    pub fn new(window: usize) -> Reorder<T> {
        Reorder {
            state: Mutex::new(State { next: 0, ready: BTreeMap::new(), completing: false, stopped: false }),
            room: Condvar::new(),
            window: window.max(1) as u64,
        }
    }

    /// Waits until item `seq` may start: until it is within the window of
    /// the next item to complete. False once [`Reorder::stop`] was called.
    pub fn wait_room(&self, seq: u64) -> bool {
        let Ok(mut s) = self.state.lock() else { return false };
        while !s.stopped && seq >= s.next + self.window {
            s = match self.room.wait(s) {
                Ok(s) => s,
                Err(_) => return false,
            };
        }
        !s.stopped
    }

    /// Hands in item `seq` (every sequence number must be handed in once,
    /// or the items after it never complete). If it is the next in sequence
    /// and no other thread is completing items, this thread runs `complete`
    /// on it and on each following item already handed in.
    pub fn deliver(&self, seq: u64, item: T, mut complete: impl FnMut(u64, T)) {
        let Ok(mut s) = self.state.lock() else { return };
        s.ready.insert(seq, item);
        if s.completing {
            return;
        }
        s.completing = true;
        loop {
            let next = s.next;
            let Some(item) = s.ready.remove(&next) else { break };
            drop(s);
            complete(next, item);
            s = match self.state.lock() {
                Ok(s) => s,
                Err(_) => return,
            };
            s.next = next + 1;
            self.room.notify_all();
        }
        s.completing = false;
    }

    /// Wakes every thread waiting for room, and makes them give up.
    pub fn stop(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.stopped = true;
        }
        self.room.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn completes_in_order_whatever_the_order_of_delivery() {
        let order = Reorder::new(4);
        let done = Mutex::new(Vec::new());
        for seq in [2u64, 0, 3, 1, 4] {
            order.deliver(seq, seq * 10, |s, v| done.lock().unwrap().push((s, v)));
        }
        assert_eq!(*done.lock().unwrap(), vec![(0, 0), (1, 10), (2, 20), (3, 30), (4, 40)]);
    }

    #[test]
    fn threads_stay_within_the_window() {
        let order = Reorder::new(3);
        let next = AtomicU64::new(0);
        let completed = Mutex::new(Vec::new());
        let max_ahead = AtomicU64::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| loop {
                    let seq = next.fetch_add(1, Ordering::SeqCst);
                    if seq >= 200 || !order.wait_room(seq) {
                        return;
                    }
                    let done = completed.lock().unwrap().len() as u64;
                    max_ahead.fetch_max(seq.saturating_sub(done), Ordering::SeqCst);
                    if seq % 7 == 0 {
                        std::thread::sleep(std::time::Duration::from_micros(200));
                    }
                    order.deliver(seq, (), |s, ()| completed.lock().unwrap().push(s));
                });
            }
        });
        assert_eq!(*completed.lock().unwrap(), (0..200).collect::<Vec<_>>());
        assert!(max_ahead.load(Ordering::SeqCst) < 3);
    }

    #[test]
    fn stop_releases_waiters() {
        let order: Reorder<()> = Reorder::new(1);
        std::thread::scope(|s| {
            let waiter = s.spawn(|| order.wait_room(5));
            std::thread::sleep(std::time::Duration::from_millis(20));
            order.stop();
            assert!(!waiter.join().unwrap());
        });
    }
}
