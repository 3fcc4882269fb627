//! The bounded queue between the webhook receiver and an integration's worker: events for one
//! device within the coalescing window become one action, replays are recognised by event id,
//! and a full queue says so (the receiver answers 503 + `Retry-After`) instead of dropping.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::source::{DeviceAction, WebhookDelivery};
use crate::model::ExternalDeviceId;

/// What happened to a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Enqueued {
    /// A new action for the device.
    Accepted,
    /// Merged into the action already waiting for the device.
    Coalesced,
    /// The event id was seen recently: a replay, ignored.
    Duplicate,
    /// No room: the sender should retry later.
    Full,
}

impl Enqueued {
    /// The metrics label.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Enqueued::Accepted => "accepted",
            Enqueued::Coalesced => "coalesced",
            Enqueued::Duplicate => "duplicate",
            Enqueued::Full => "queue_full",
        }
    }
}

#[derive(Debug)]
struct Pending {
    action: DeviceAction,
    key: (Instant, u64),
    attempts: u32,
}

#[derive(Debug, Default)]
struct State {
    pending: HashMap<ExternalDeviceId, Pending>,
    /// Due order: (due, sequence) → device.
    due: BTreeMap<(Instant, u64), ExternalDeviceId>,
    seq: u64,
    recent: HashSet<String>,
    recent_order: VecDeque<String>,
}

/// One integration's queue.
#[derive(Debug)]
pub(crate) struct EventQueue {
    state: Mutex<State>,
    notify: Notify,
    capacity: usize,
    window: Duration,
    replay_memory: usize,
}

/// An action taken off the queue, with how often it was put back.
#[derive(Debug)]
pub(crate) struct Taken {
    pub(crate) device: ExternalDeviceId,
    pub(crate) action: DeviceAction,
    pub(crate) attempts: u32,
}

impl EventQueue {
    pub(crate) fn new(capacity: usize, window: Duration, replay_memory: usize) -> Self {
        Self {
            state: Mutex::new(State::default()),
            notify: Notify::new(),
            capacity: capacity.max(1),
            window,
            replay_memory,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds a delivery (callers drop `Ignore` actions before).
    pub(crate) fn push(&self, delivery: WebhookDelivery) -> Enqueued {
        let Some(device) = delivery.action.device().cloned() else {
            return Enqueued::Duplicate;
        };
        let mut s = self.lock();
        if let Some(id) = &delivery.event_id
            && s.recent.contains(id)
        {
            return Enqueued::Duplicate;
        }
        let result = if let Some(p) = s.pending.get_mut(&device) {
            // The later event wins; it keeps the first one's due time (that is the window).
            p.action = delivery.action;
            Enqueued::Coalesced
        } else if s.pending.len() >= self.capacity {
            return Enqueued::Full;
        } else {
            let key = (Instant::now() + self.window, s.seq);
            s.seq += 1;
            s.due.insert(key, device.clone());
            s.pending.insert(
                device,
                Pending {
                    action: delivery.action,
                    key,
                    attempts: 0,
                },
            );
            Enqueued::Accepted
        };
        if let Some(id) = delivery.event_id {
            remember(&mut s, id, self.replay_memory);
        }
        drop(s);
        self.notify.notify_one();
        result
    }

    /// Puts an action back to be tried after `delay` (its integration was busy elsewhere); an
    /// event that arrived for the device meanwhile wins over it.
    pub(crate) fn retry_later(&self, taken: Taken, delay: Duration) {
        let mut s = self.lock();
        if s.pending.contains_key(&taken.device) {
            return;
        }
        let key = (Instant::now() + delay, s.seq);
        s.seq += 1;
        s.due.insert(key, taken.device.clone());
        s.pending.insert(
            taken.device,
            Pending {
                action: taken.action,
                key,
                attempts: taken.attempts + 1,
            },
        );
        drop(s);
        self.notify.notify_one();
    }

    /// The earliest due action, if it is due.
    pub(crate) fn take_due(&self, now: Instant) -> Option<Taken> {
        let mut s = self.lock();
        let (&key, _) = s.due.iter().next()?;
        if key.0 > now {
            return None;
        }
        let device = s.due.remove(&key)?;
        let p = s.pending.remove(&device)?;
        debug_assert_eq!(p.key, key);
        Some(Taken {
            device,
            action: p.action,
            attempts: p.attempts,
        })
    }

    /// When the earliest action is due.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.lock().due.keys().next().map(|k| k.0)
    }

    /// Actions waiting.
    pub(crate) fn len(&self) -> usize {
        self.lock().pending.len()
    }

    /// Resolves when something was added.
    pub(crate) async fn changed(&self) {
        self.notify.notified().await;
    }
}

fn remember(s: &mut State, id: String, cap: usize) {
    if cap == 0 || !s.recent.insert(id.clone()) {
        return;
    }
    s.recent_order.push_back(id);
    while s.recent_order.len() > cap {
        if let Some(old) = s.recent_order.pop_front() {
            s.recent.remove(&old);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refresh(device: &str, id: Option<&str>) -> WebhookDelivery {
        WebhookDelivery {
            event_id: id.map(str::to_owned),
            action: DeviceAction::Refresh(ExternalDeviceId::new(device)),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn events_for_one_device_coalesce_until_the_window_ends() {
        let q = EventQueue::new(10, Duration::from_secs(1), 100);
        assert_eq!(q.push(refresh("a", None)), Enqueued::Accepted);
        for _ in 0..99 {
            assert_eq!(q.push(refresh("a", None)), Enqueued::Coalesced);
        }
        assert_eq!(q.push(refresh("b", None)), Enqueued::Accepted);
        assert!(q.take_due(Instant::now()).is_none(), "inside the window");
        tokio::time::advance(Duration::from_secs(1)).await;
        let first = q.take_due(Instant::now()).unwrap();
        assert_eq!(first.device.as_str(), "a");
        assert_eq!(q.take_due(Instant::now()).unwrap().device.as_str(), "b");
        assert!(q.take_due(Instant::now()).is_none());
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn a_later_tombstone_wins_over_a_waiting_refresh() {
        let q = EventQueue::new(10, Duration::ZERO, 100);
        q.push(refresh("a", None));
        q.push(WebhookDelivery {
            event_id: None,
            action: DeviceAction::Tombstone {
                device: ExternalDeviceId::new("a"),
                scope: None,
            },
        });
        let t = q
            .take_due(Instant::now() + Duration::from_millis(1))
            .unwrap();
        assert!(matches!(t.action, DeviceAction::Tombstone { .. }));
    }

    #[test]
    fn replays_are_recognised_and_a_full_queue_refuses_new_devices() {
        let q = EventQueue::new(2, Duration::ZERO, 2);
        assert_eq!(q.push(refresh("a", Some("e1"))), Enqueued::Accepted);
        assert_eq!(q.push(refresh("a", Some("e1"))), Enqueued::Duplicate);
        assert_eq!(q.push(refresh("b", Some("e2"))), Enqueued::Accepted);
        assert_eq!(q.push(refresh("c", Some("e3"))), Enqueued::Full);
        // Refused, so not remembered: the sender's retry is not a replay.
        assert!(
            q.take_due(Instant::now() + Duration::from_millis(1))
                .is_some()
        );
        assert_eq!(q.push(refresh("c", Some("e3"))), Enqueued::Accepted);
        // The memory is bounded: the oldest id is forgotten.
        assert_eq!(q.push(refresh("b", Some("e4"))), Enqueued::Coalesced);
        assert_eq!(q.push(refresh("d", Some("e1"))), Enqueued::Full);
    }

    #[test]
    fn an_action_put_back_waits_and_yields_to_newer_events() {
        let q = EventQueue::new(10, Duration::ZERO, 10);
        q.push(refresh("a", None));
        let t = q
            .take_due(Instant::now() + Duration::from_millis(1))
            .unwrap();
        q.retry_later(t, Duration::from_secs(60));
        assert!(
            q.take_due(Instant::now() + Duration::from_secs(1))
                .is_none()
        );
        let t = q
            .take_due(Instant::now() + Duration::from_secs(61))
            .unwrap();
        assert_eq!(t.attempts, 1);
    }
}
