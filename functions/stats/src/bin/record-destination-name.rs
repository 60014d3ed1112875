//! record-destination-name: keeps the stats' destination names current on rename.

fn main() -> std::process::ExitCode {
    shared::serve(stats::consumers::record_destination_name::function())
}
