//! relay-outbox's backlog gauge against a real PostgreSQL: what it counts,
//! and that every part of it is read through an index, so a tick costs what
//! the backlog holds and not the days of published rows kept beside it.

use shared::outbox::{Backlog, COUNT_BACKLOG, backlog};
use shared::testing::TestDb;

/// An outbox row created `age` seconds ago, published or parked or neither.
async fn row(db: &TestDb, age: i32, published: bool, parked: bool) {
    sqlx::query(
        "INSERT INTO outbox (event_id, type, source, subject, data, created_at, published_at, parked_at)
         VALUES (gen_random_uuid(), 'skybook.booking.created', '/test', 's', '{}',
                 now() - make_interval(secs => $1),
                 CASE WHEN $2 THEN now() END, CASE WHEN $3 THEN now() END)",
    )
    .bind(age)
    .bind(published)
    .bind(parked)
    .execute(&db.pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn the_backlog_counts_the_rows_to_publish_and_the_parked_apart_from_the_published() {
    let db = TestDb::new().await;
    for _ in 0..3 {
        row(&db, 3600, true, false).await;
    }
    row(&db, 120, false, false).await;
    row(&db, 5, false, false).await;
    // Parked long ago: not what the oldest pending row's age is about.
    row(&db, 7200, false, true).await;

    let Backlog { pending, parked, oldest_pending_secs } = backlog(&db.database(&[])).await.unwrap();
    assert_eq!((pending, parked), (2, 1));
    assert!((120.0..180.0).contains(&oldest_pending_secs), "{oldest_pending_secs}");
}

#[tokio::test]
async fn an_empty_backlog_is_none_pending_and_no_age() {
    let db = TestDb::new().await;
    row(&db, 60, true, false).await;
    let backlog = backlog(&db.database(&[])).await.unwrap();
    assert_eq!(backlog, Backlog { pending: 0, parked: 0, oldest_pending_secs: 0.0 });
}

/// With sequential scans priced out, PostgreSQL still takes one for any part
/// no index serves: the plan names none.
#[tokio::test]
async fn every_part_of_the_backlog_is_read_through_an_index() {
    let db = TestDb::new().await;
    let mut conn = db.pool.acquire().await.unwrap();
    sqlx::query("SET enable_seqscan = off").execute(&mut *conn).await.unwrap();
    let plan: Vec<String> =
        sqlx::query_scalar(&format!("EXPLAIN {COUNT_BACKLOG}")).fetch_all(&mut *conn).await.unwrap();
    let plan = plan.join("\n");
    assert!(!plan.contains("Seq Scan"), "{plan}");
    assert!(plan.contains("outbox_parked_idx") && plan.contains("outbox_due_idx"), "{plan}");
}
