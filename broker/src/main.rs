//! skybook-broker: the local Knative-compatible broker on RabbitMQ.

fn main() -> std::process::ExitCode {
    broker::main()
}
