//! replay-dead-letters: sends dead letters back to the broker and records the outcome.

fn main() -> std::process::ExitCode {
    shared::serve(deadletters::commands::replay_dead_letters::function())
}
