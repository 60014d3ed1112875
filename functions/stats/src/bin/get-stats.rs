//! get-stats: revenue, popularity, pets and candy.

fn main() -> std::process::ExitCode {
    shared::serve(stats::queries::get_stats::function())
}
