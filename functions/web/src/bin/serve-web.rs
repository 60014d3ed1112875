//! serve-web: the web app, for passengers, agents, admins and operators.

fn main() -> std::process::ExitCode {
    shared::serve(web::function())
}
