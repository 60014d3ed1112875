//! relay-outbox: publishes outbox rows left unsent, on each PingSource tick.

fn main() -> std::process::ExitCode {
    shared::serve(outbox::consumers::relay_outbox::function())
}
