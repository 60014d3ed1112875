//! ai-chat: answers questions about flights from real data.

fn main() -> std::process::ExitCode {
    shared::serve(ai::queries::ai_chat::function())
}
