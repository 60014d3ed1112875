//! serve-docs: the API's documentation, to read and to try.

fn main() -> std::process::ExitCode {
    shared::serve(docs::function())
}
