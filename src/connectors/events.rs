//! What connectors announce, in this process, after a change has committed: a connector
//! connected, is waiting for authorization, was disconnected (with the reason's code), or
//! was deleted. Whatever reacts to connectors (the tool catalog syncs after a connect;
//! webhooks next) subscribes here instead of being called from connectors, so connectors
//! import none of them (decision 0012).
//!
//! Events go out on a broadcast channel. A publisher may wait, within a bound, until every
//! subscriber has handled its event: each event carries a [`Handled`] token, and the
//! publisher's [`Delivery`] completes when the last copy of it is dropped — by the channel,
//! once every subscriber has received the event, and by each subscriber once it is done.
//! Connect uses that to answer only after the first tool sync, or after 3 s.
//!
//! Status changes made by set-based SQL (the worker expiring many pending authorizations at
//! once) are announced too; the status history itself is written by a database trigger
//! (decision 0007), not from here.

use std::time::Duration;

use tokio::sync::{broadcast, mpsc};
use uuid::Uuid;

/// Events a slow subscriber may fall behind by before it misses some (and is told so).
const CAPACITY: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Connected,
    PendingAuthorization,
    /// Not usable until connected again; `code` is the `disconnect_reason` code.
    Disconnected {
        code: String,
    },
    Deleted,
    /// A connected REST connector's descriptor changed, and with it its tools.
    Reconfigured,
}

#[derive(Debug, Clone)]
pub struct Event {
    pub tenant_id: Uuid,
    pub connector_id: Uuid,
    pub change: Change,
    /// Keep the event (or this token) while handling it; dropping it tells the publisher.
    pub handled: Handled,
}

/// Held for as long as an event is being handled.
#[derive(Debug, Clone)]
pub struct Handled {
    _open: mpsc::Sender<()>,
}

/// The subscribers' handling of one published event.
#[derive(Debug)]
pub struct Delivery(mpsc::Receiver<()>);

impl Delivery {
    /// Waits until every subscriber has handled the event, or `bound` has passed; says which.
    pub async fn handled_within(mut self, bound: Duration) -> bool {
        // `recv` returns `None` once every `Handled` is dropped; nothing is ever sent.
        tokio::time::timeout(bound, self.0.recv()).await.is_ok()
    }
}

/// The connector event channel of this process; cheap to clone.
#[derive(Clone)]
pub struct Events {
    sender: broadcast::Sender<Event>,
}

impl Default for Events {
    fn default() -> Self {
        Self { sender: broadcast::channel(CAPACITY).0 }
    }
}

impl Events {
    /// Every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }

    pub fn publish(&self, tenant_id: Uuid, connector_id: Uuid, change: Change) -> Delivery {
        let (open, closed) = mpsc::channel(1);
        let event = Event { tenant_id, connector_id, change, handled: Handled { _open: open } };
        // Without subscribers the event comes back and is dropped: delivered at once.
        let _ = self.sender.send(event);
        Delivery(closed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn without_subscribers_an_event_is_handled_at_once() {
        let events = Events::default();
        assert!(events.publish(Uuid::nil(), Uuid::nil(), Change::Deleted).handled_within(LONG).await);
    }

    #[tokio::test]
    async fn the_publisher_waits_for_every_subscriber_within_its_bound() {
        let events = Events::default();
        let (mut fast, mut slow) = (events.subscribe(), events.subscribe());
        let delivery = events.publish(Uuid::nil(), Uuid::now_v7(), Change::Connected);
        let seen = fast.recv().await.unwrap();
        assert_eq!(seen.change, Change::Connected);
        drop(seen);
        let kept = slow.recv().await.unwrap(); // still being handled
        assert!(!delivery.handled_within(Duration::from_millis(50)).await, "bounded");

        let delivery = events.publish(Uuid::nil(), Uuid::now_v7(), Change::Deleted);
        drop(kept);
        let (a, b) = (fast.recv().await.unwrap(), slow.recv().await.unwrap());
        let handler = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            drop((a, b));
        });
        assert!(delivery.handled_within(LONG).await);
        handler.await.unwrap();
    }
}
