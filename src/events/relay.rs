//! The relay: one task per sink carries the outbox to it, at least once,
//! each user's events in `seq` order. A round reads the sink's due parked
//! deliveries and the events after its cursor, tries them (users side by
//! side, each user's one after another), and records every outcome and the
//! new cursor in one transaction. A crash between delivering and recording
//! delivers again: consumers dedup by the event id.
//!
//! A failed attempt parks the event for the next wait of the retry
//! schedule; the user's later events park behind it (only that user's, only
//! at that sink). After the last wait it is marked failed and the user's
//! later events go on. Woken at once by a local commit, and every
//! `POLL` for commits by other instances and due retries.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::nats::NatsSink;
use super::webhook::WebhookSink;
use crate::store::outbox::{Outcome, SinkProgress, SinkWork, StoredEvent};
use crate::store::{now_ms, Store};

/// Events read per round and sink.
const BATCH: u32 = 200;
/// Users delivered to side by side at one sink.
const PARALLEL_USERS: usize = 32;
/// How often a sink looks for work nobody woke it for.
const POLL: Duration = Duration::from_millis(500);
/// Pause after the database failed a round.
const BACKOFF: Duration = Duration::from_secs(1);

/// Where events go.
pub enum Sink {
    Webhook(WebhookSink),
    Nats(Box<NatsSink>),
}

impl Sink {
    /// The sink's name in the outbox and in metrics: stable across
    /// restarts as long as its configuration is.
    pub fn name(&self) -> String {
        match self {
            Sink::Webhook(w) => webhook_sink_name(w.url()),
            Sink::Nats(n) => nats_sink_name(n.stream()),
        }
    }

    async fn deliver(&self, event: &StoredEvent) -> Result<(), String> {
        let body = super::render(event).map_err(|e| format!("cannot render the event: {e}"))?;
        match self {
            Sink::Webhook(w) => w.deliver(&event.id, body).await,
            Sink::Nats(n) => n
                .publish(&event.id, &event.kind, body.into_bytes())
                .await
                .map_err(|e| e.to_string()),
        }
    }
}

pub fn webhook_sink_name(url: &str) -> String {
    format!("webhook:{url}")
}

pub fn nats_sink_name(stream: &str) -> String {
    format!("nats:{stream}")
}

/// The waits between attempts (`--webhook-retry-schedule`).
#[derive(Debug, Clone)]
pub struct RetrySchedule(pub Vec<Duration>);

impl RetrySchedule {
    /// The outcome of a failed attempt that was the `attempts`-th.
    pub(crate) fn after_failure(&self, attempts: i64, error: String, now_ms: i64) -> Outcome {
        match usize::try_from(attempts - 1)
            .ok()
            .and_then(|i| self.0.get(i))
        {
            Some(wait) => Outcome::Retry {
                attempts,
                next_at_ms: now_ms + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 2),
                error,
            },
            None => Outcome::Failed { attempts, error },
        }
    }
}

/// Wakes the relay (and the event streams) after a local commit.
#[derive(Clone)]
pub struct Wake(Arc<watch::Sender<()>>);

impl Default for Wake {
    fn default() -> Self {
        Self(Arc::new(watch::channel(()).0))
    }
}

impl Wake {
    pub fn notify(&self) {
        self.0.send_modify(|_| {});
    }

    pub fn subscribe(&self) -> watch::Receiver<()> {
        self.0.subscribe()
    }
}

/// How often an instance without the deliverer's turn asks for it, and
/// the holder checks it still has it: another instance takes over within
/// this (plus a round) after the holder dies.
const LEASE_CHECK: Duration = Duration::from_secs(2);

/// Delivers to every sink while this instance holds the deliverer's turn
/// (always on SQLite; one instance at a time on PostgreSQL), until `stop`.
pub async fn run(
    store: Store,
    sinks: Vec<Arc<Sink>>,
    schedule: RetrySchedule,
    wake: Wake,
    stop: CancellationToken,
) {
    if sinks.is_empty() {
        return;
    }
    let mut waiting = false;
    while !stop.is_cancelled() {
        let lease = match store.deliverer_lease().await {
            Ok(Some(lease)) => lease,
            Ok(None) => {
                if !waiting {
                    tracing::info!(
                        "another instance delivers events; this one takes over if it stops"
                    );
                    metrics::gauge!("events_deliverer").set(0.0);
                    waiting = true;
                }
                pause(&stop, LEASE_CHECK).await;
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot ask for the deliverer's turn");
                pause(&stop, LEASE_CHECK).await;
                continue;
            }
        };
        waiting = false;
        tracing::info!(sinks = sinks.len(), "this instance delivers events");
        metrics::gauge!("events_deliverer").set(1.0);
        let leading = stop.child_token();
        let tasks = tokio_util::task::TaskTracker::new();
        for sink in &sinks {
            tasks.spawn(run_sink(
                store.clone(),
                sink.clone(),
                schedule.clone(),
                wake.clone(),
                leading.clone(),
            ));
        }
        tasks.close();
        loop {
            pause(&stop, LEASE_CHECK).await;
            if stop.is_cancelled() {
                break;
            }
            if !lease.is_held().await {
                tracing::warn!("lost the deliverer's turn; another instance may take it");
                break;
            }
        }
        leading.cancel();
        tasks.wait().await;
        metrics::gauge!("events_deliverer").set(0.0);
        drop(lease);
    }
}

/// Runs one sink until `stop`.
async fn run_sink(
    store: Store,
    sink: Arc<Sink>,
    schedule: RetrySchedule,
    wake: Wake,
    stop: CancellationToken,
) {
    let name = sink.name();
    let mut woken = wake.subscribe();
    loop {
        if stop.is_cancelled() {
            return;
        }
        let busy = match store.sink_work(&name, BATCH).await {
            Ok(work) => {
                let full = work.fresh.len() as u32 >= BATCH || work.due.len() as u32 >= BATCH;
                let progress = round(&sink, &name, work, &schedule).await;
                let oldest = oldest_undelivered(&progress);
                match store.record_progress(name.clone(), progress).await {
                    Ok(()) => {
                        metrics::gauge!("events_oldest_undelivered_seconds", "sink" => name.clone())
                            .set(oldest);
                        full
                    }
                    Err(e) => {
                        tracing::warn!(sink = %name, error = %e, "cannot record deliveries; they will be made again");
                        pause(&stop, BACKOFF).await;
                        false
                    }
                }
            }
            Err(e) => {
                tracing::warn!(sink = %name, error = %e, "cannot read the outbox");
                pause(&stop, BACKOFF).await;
                false
            }
        };
        if !busy {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = woken.changed() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }
}

async fn pause(stop: &CancellationToken, wait: Duration) {
    tokio::select! {
        _ = stop.cancelled() => {}
        _ = tokio::time::sleep(wait) => {}
    }
}

/// Seconds since the oldest event this round left undelivered committed.
fn oldest_undelivered(progress: &SinkProgress) -> f64 {
    let now = now_ms();
    progress
        .outcomes
        .iter()
        .filter(|(_, _, o)| *o != Outcome::Delivered)
        .map(|(e, _, _)| (now - e.at_ms).max(0) as f64 / 1000.0)
        .fold(0.0, f64::max)
}

/// One user's share of a round: their due parked events (only when the
/// first is the user's head), then their fresh ones, in `seq` order.
#[derive(Default)]
struct UserQueue {
    parked: Vec<(StoredEvent, i64)>,
    fresh: Vec<StoredEvent>,
    /// An earlier event of this user is parked and not due: wait.
    blocked: bool,
}

/// Tries a round's events and says what became of each.
async fn round(sink: &Sink, name: &str, work: SinkWork, schedule: &RetrySchedule) -> SinkProgress {
    let delivered_through = work.fresh.last().map(|e| e.seq);
    let mut users: HashMap<i64, UserQueue> = HashMap::new();
    for parked in work.due {
        users
            .entry(parked.event.user_id)
            .or_default()
            .parked
            .push((parked.event, parked.attempts));
    }
    for event in work.fresh {
        users.entry(event.user_id).or_default().fresh.push(event);
    }
    for (user, q) in users.iter_mut() {
        if let Some(head) = work.heads.get(user) {
            // The user's head is parked: either it is due (first in
            // `parked`) or everything of theirs waits.
            if q.parked.first().map(|(e, _)| e.seq) != Some(*head) {
                q.blocked = true;
                q.parked.clear();
            }
        }
    }
    let outcomes = stream::iter(users.into_values())
        .map(|q| deliver_in_order(sink, name, q, schedule))
        .buffer_unordered(PARALLEL_USERS)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .flatten()
        .collect();
    SinkProgress {
        outcomes,
        delivered_through,
    }
}

async fn deliver_in_order(
    sink: &Sink,
    name: &str,
    q: UserQueue,
    schedule: &RetrySchedule,
) -> Vec<(StoredEvent, bool, Outcome)> {
    let mut blocked = q.blocked;
    let mut outcomes = Vec::with_capacity(q.parked.len() + q.fresh.len());
    let items = q
        .parked
        .into_iter()
        .map(|(e, attempts)| (e, true, attempts))
        .chain(q.fresh.into_iter().map(|e| (e, false, 0)));
    for (event, parked, attempts) in items {
        if blocked {
            if !parked {
                outcomes.push((event, false, Outcome::Held));
            }
            continue;
        }
        let outcome = match sink.deliver(&event).await {
            Ok(()) => {
                metrics::counter!("events_delivered_total", "sink" => name.to_owned()).increment(1);
                Outcome::Delivered
            }
            Err(error) => {
                metrics::counter!("event_delivery_errors_total", "sink" => name.to_owned())
                    .increment(1);
                let outcome = schedule.after_failure(attempts + 1, error.clone(), now_ms());
                match &outcome {
                    Outcome::Failed { attempts, .. } => {
                        metrics::counter!("events_failed_total", "sink" => name.to_owned())
                            .increment(1);
                        tracing::error!(sink = %name, event = %event.id, seq = event.seq, attempts, %error, "event delivery failed for good; `user-api events retry` queues it again");
                    }
                    _ => {
                        tracing::warn!(sink = %name, event = %event.id, seq = event.seq, %error, "event delivery failed; will retry");
                        blocked = true;
                    }
                }
                outcome
            }
        };
        outcomes.push((event, parked, outcome));
    }
    outcomes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_retries_then_gives_up() {
        let schedule = RetrySchedule(vec![Duration::from_secs(5), Duration::from_secs(300)]);
        assert_eq!(
            schedule.after_failure(1, "e".into(), 1000),
            Outcome::Retry {
                attempts: 1,
                next_at_ms: 6000,
                error: "e".into()
            }
        );
        assert!(matches!(
            schedule.after_failure(2, "e".into(), 0),
            Outcome::Retry {
                next_at_ms: 300_000,
                ..
            }
        ));
        assert!(matches!(
            schedule.after_failure(3, "e".into(), 0),
            Outcome::Failed { attempts: 3, .. }
        ));
    }
}
