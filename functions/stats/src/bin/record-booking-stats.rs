//! record-booking-stats: applies booking events to the Redis stats, once each.

fn main() -> std::process::ExitCode {
    shared::serve(stats::consumers::record_booking_stats::function())
}
