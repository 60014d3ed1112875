//! The process's connection pool against a real PostgreSQL (through the
//! test command's PgBouncer when there is one): a connection handed back
//! unfinished is made clean before anyone else gets it.

use std::time::Duration;

use shared::db::Database;
use shared::testing::TestDb;

/// `db` with one connection at most, so each test's next request gets the
/// very connection the last one gave back.
fn one_connection(db: &TestDb) -> Database {
    db.database(&[("db_pool_size", "1"), ("db_acquire_timeout_ms", "5000")])
}

async fn name_of(db: &TestDb, id: uuid::Uuid) -> String {
    sqlx::query_scalar("SELECT name FROM destinations WHERE id = $1")
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_transaction_dropped_unfinished_is_rolled_back_and_its_locks_freed() {
    let db = TestDb::new().await;
    let id = uuid::Uuid::new_v4();
    sqlx::query("INSERT INTO destinations (id, name, tax_amount) VALUES ($1, 'Lima', 1)")
        .bind(id)
        .execute(&db.pool)
        .await
        .unwrap();
    let database = one_connection(&db);

    // A request that fails after its write: the transaction is dropped,
    // holding the row's lock, with no COMMIT or ROLLBACK sent.
    let mut tx = database.begin().await.unwrap();
    sqlx::query("UPDATE destinations SET name = 'Held' WHERE id = $1")
        .bind(id)
        .execute(tx.exec())
        .await
        .unwrap();
    drop(tx);

    // The lock goes with the rollback, sent at once, not with the
    // connection's next use (which, here, never comes).
    let mut other = db.pool.begin().await.unwrap();
    sqlx::query("SET LOCAL lock_timeout = '5s'").execute(&mut *other).await.unwrap();
    sqlx::query("UPDATE destinations SET name = 'Cusco' WHERE id = $1")
        .bind(id)
        .execute(&mut *other)
        .await
        .expect("the dropped transaction's lock is freed");
    other.rollback().await.unwrap();
    assert_eq!(name_of(&db, id).await, "Lima", "the dropped transaction's write is rolled back");

    // The one connection is back, out of any transaction: what is
    // committed on it now stays.
    let mut tx = database.begin().await.unwrap();
    sqlx::query("UPDATE destinations SET name = 'Quito' WHERE id = $1")
        .bind(id)
        .execute(tx.exec())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(name_of(&db, id).await, "Quito");
}

#[tokio::test]
async fn a_statement_dropped_mid_flight_leaves_no_reply_for_the_next() {
    let db = TestDb::new().await;
    let database = one_connection(&db);

    // A request dropped (its client gone) while its statement runs.
    let mut read = database.read().await.unwrap();
    let slow = sqlx::query_scalar::<_, i32>("SELECT 1 FROM pg_sleep(0.3)").fetch_one(read.exec());
    assert!(tokio::time::timeout(Duration::from_millis(50), slow).await.is_err());
    drop(read);

    // The next request on that connection reads its own reply, not the one
    // still owed to the dropped statement.
    for n in 2..5 {
        let mut read = database.read().await.unwrap();
        let got: i32 = sqlx::query_scalar("SELECT $1::int").bind(n).fetch_one(read.exec()).await.unwrap();
        assert_eq!(got, n);
    }
}

#[tokio::test]
async fn a_connection_broken_on_the_wire_is_closed_not_given_back() {
    // Behind the pooler, where nothing pings a connection before its reuse.
    let Some(pooler) = shared::testing::pooler() else { return };
    let db = TestDb::new().await;
    let proxy = shared::testing::TcpProxy::start(pooler).await;
    let url = db.url_via(Some(proxy.addr));
    let settings = shared::config::Settings::with_overrides(&[
        ("database_url", &url),
        ("db_pool_mode", "transaction"),
        ("db_pool_size", "1"),
        ("db_acquire_timeout_ms", "5000"),
    ])
    .expect("settings");
    let database = Database::new(&settings).expect("a database");
    let read = |n: i32| {
        let database = database.clone();
        async move {
            let mut conn = database.read().await?;
            sqlx::query_scalar::<_, i32>("SELECT $1::int").bind(n).fetch_one(conn.exec()).await
        }
    };
    assert_eq!(read(1).await.unwrap(), 1);

    proxy.cut();
    assert!(read(2).await.is_err(), "the connection was cut");
    proxy.restore();
    // The cut connection is gone: the next read opens another.
    assert_eq!(read(3).await.unwrap(), 3);
}
