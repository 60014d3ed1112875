//! The test oracle (feature "testing"): what get-stats should answer, by the
//! contract's rules, computed from PostgreSQL with SQL of its own, apart from
//! the code that rebuilds the stats.

use serde_json::{Value, json};

/// get-stats' answer (every destination, no candy log) as the bookings table implies it.
pub async fn expected_stats(db: &sqlx::PgPool) -> Result<Value, sqlx::Error> {
    let (revenue, bookings, pets, infants): (String, i64, i64, i64) = sqlx::query_as(
        "SELECT COALESCE(sum(total) FILTER (WHERE status = 'confirmed'), 0)::numeric(14, 2)::text,
                count(*) FILTER (WHERE status = 'confirmed'),
                count(*) FILTER (WHERE status = 'confirmed' AND has_pet),
                count(*) FILTER (WHERE passenger_age < 12)
         FROM bookings",
    )
    .fetch_one(db)
    .await?;
    let destinations: Vec<(uuid::Uuid, String, i64, String)> = sqlx::query_as(
        "SELECT d.id, d.name, count(*), sum(b.total)::numeric(14, 2)::text
         FROM bookings b JOIN flights f ON f.id = b.flight_id JOIN destinations d ON d.id = f.destination_id
         WHERE b.status = 'confirmed'
         GROUP BY d.id, d.name
         ORDER BY count(*) DESC, d.name",
    )
    .fetch_all(db)
    .await?;
    Ok(json!({
        "total_revenue": revenue,
        "total_bookings": bookings,
        "pet_bookings": pets,
        "total_candy_cost": format!("{}.00", infants * 5),
        "passengers_under_12": infants,
        "destinations": destinations
            .into_iter()
            .map(|(id, name, bookings, revenue)| json!({"id": id, "name": name, "bookings": bookings, "revenue": revenue}))
            .collect::<Vec<_>>(),
    }))
}
