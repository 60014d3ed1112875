//! suggest-price: a demand-based price for a flight, explained.

fn main() -> std::process::ExitCode {
    shared::serve(ai::queries::suggest_price::function())
}
