//! skybook-migrate: applies the migrations to `DATABASE_URL`, then exits (the cluster's migration Job).

fn main() -> std::process::ExitCode {
    shared::db::migrate_main()
}
