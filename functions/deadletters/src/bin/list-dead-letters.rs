//! list-dead-letters: the dead letters, pending unless asked otherwise.

fn main() -> std::process::ExitCode {
    shared::serve(deadletters::queries::list_dead_letters::function())
}
