//! store-dead-letter: the Triggers' dead-letter sink; keeps what the broker gave up on.

fn main() -> std::process::ExitCode {
    shared::serve(deadletters::consumers::store_dead_letter::function())
}
