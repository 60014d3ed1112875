//! The process's background sender: a command hands it the events it just
//! committed and replies at once; the sender publishes them to `K_SINK` in
//! batches and marks them sent. Nothing here is needed for safety: the
//! events are in the outbox from the commit on, and what the sender does
//! not publish (a full queue, a failure, a killed process) the relay does.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::{OutboxEvent, Sink, send};
use crate::db::Database;

/// Events waiting to be sent, at most; past that a command leaves its
/// events to the relay rather than wait.
const QUEUE: usize = 4096;
/// Events sent at once, and recorded in one statement.
const BATCH: usize = 64;

pub struct Publisher {
    queue: Mutex<Option<mpsc::Sender<OutboxEvent>>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Publisher {
    /// Starts the sender on the current runtime.
    pub fn start(sink: Sink, db: Database) -> Publisher {
        let (queue, events) = mpsc::channel(QUEUE);
        let task = tokio::spawn(run(sink, db, events));
        Publisher { queue: Mutex::new(Some(queue)), task: Mutex::new(Some(task)) }
    }

    /// Hands over committed events; never waits. An event that does not
    /// fit stays in the outbox for the relay.
    pub fn enqueue(&self, events: Vec<OutboxEvent>) {
        let queue = self.queue.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let Some(queue) = queue else {
            tracing::debug!(count = events.len(), "stopping: the relay will publish these events");
            return;
        };
        for event in events {
            if let Err(e) = queue.try_send(event) {
                tracing::warn!(event_id = %e.into_inner().event_id, "publish queue full: the relay will publish it");
            }
        }
    }

    /// Stops taking events and sends what is queued, for at most `grace`
    /// (SIGTERM: Knative may be scaling the pod to zero). What is left is
    /// the relay's.
    pub async fn flush(&self, grace: Duration) {
        drop(self.queue.lock().unwrap_or_else(|p| p.into_inner()).take());
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task
            && tokio::time::timeout(grace, task).await.is_err()
        {
            tracing::warn!("events left unsent at shutdown: the relay will publish them");
        }
    }
}

async fn run(sink: Sink, db: Database, mut events: mpsc::Receiver<OutboxEvent>) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut marks = Marks::default();
    loop {
        // Wait for events, or for the moment the sent ones are due to be marked.
        let received = match marks.due {
            Some(due) => tokio::select! {
                received = events.recv_many(&mut batch, BATCH) => received,
                () = tokio::time::sleep_until(due) => {
                    marks.record(&db).await;
                    continue;
                }
            },
            None => events.recv_many(&mut batch, BATCH).await,
        };
        if received == 0 {
            break;
        }
        let mut sends = tokio::task::JoinSet::new();
        for event in batch.drain(..) {
            let sink = sink.clone();
            sends.spawn(async move {
                let outcome = send(&sink, &event, "after_commit").await;
                (event.event_id, outcome)
            });
        }
        while let Some(joined) = sends.join_next().await {
            match joined {
                Ok((id, Ok(()))) => {
                    super::sent("after_commit", "published");
                    marks.published.push(id);
                }
                Ok((id, Err(error))) => {
                    super::sent("after_commit", "failed");
                    tracing::warn!(event_id = %id, %error, "publish failed; the relay will retry");
                    marks.failed.push((id, error.message));
                }
                Err(e) => tracing::warn!(error = %e, "a publish task failed; the relay will retry"),
            }
        }
        if marks.published.len() >= MARK_BATCH {
            marks.record(&db).await;
        } else if marks.due.is_none() {
            marks.due = Some(tokio::time::Instant::now() + MARK_EVERY);
        }
    }
    marks.record(&db).await;
}

/// Events sent but not yet marked so: marked together, at most MARK_EVERY
/// after the first of them, so a busy process writes a few marks a second,
/// not one per booking.
#[derive(Default)]
struct Marks {
    published: Vec<Uuid>,
    failed: Vec<(Uuid, String)>,
    due: Option<tokio::time::Instant>,
}

const MARK_EVERY: Duration = Duration::from_millis(50);
const MARK_BATCH: usize = 512;

impl Marks {
    async fn record(&mut self, db: &Database) {
        self.due = None;
        if self.published.is_empty() && self.failed.is_empty() {
            return;
        }
        if let Err(e) = record(db, &self.published, &self.failed).await {
            // The events were sent; unmarked, the relay sends them again,
            // and consumers drop the duplicates by event id.
            tracing::warn!(error = %e, count = self.published.len(), "could not mark events as published");
        }
        self.published.clear();
        self.failed.clear();
    }
}

/// Marks a batch: the published in one statement, each failure with its error.
async fn record(db: &Database, published: &[Uuid], failed: &[(Uuid, String)]) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    // A mark lost in a crash costs a second publish, which consumers drop by
    // event id: it need not wait for the disk, and halves the fsyncs a
    // booking costs.
    sqlx::query("SET LOCAL synchronous_commit = off").execute(tx.exec()).await?;
    if !published.is_empty() {
        sqlx::query(
            "UPDATE outbox SET published_at = now(), attempts = attempts + 1, last_error = NULL
             WHERE event_id = ANY($1) AND published_at IS NULL",
        )
        .bind(published)
        .execute(tx.exec())
        .await?;
    }
    for (id, error) in failed {
        sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE event_id = $1")
            .bind(id)
            .bind(error)
            .execute(tx.exec())
            .await?;
    }
    tx.commit().await
}
