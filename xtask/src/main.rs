//! Developer commands: `cargo xtask dev` (the local stack), `cargo xtask test`
//! (every test, services included), `cargo xtask bench`, `soak`, `fuzz` and
//! `migrate`.

mod api_docs;
mod audit;
mod bench;
mod browser;
mod catalog;
mod client;
mod context;
mod contracts;
mod dev;
mod faults;
mod func_yaml;
mod fuzz;
mod issuer;
mod manifests;
mod model;
mod observability;
mod services;
mod soak;
mod supervise;
mod traces;
mod web_app;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Skybook developer commands")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the local stack: services, migrations, every function on its own port.
    Dev(dev::Args),
    /// Run every test against real PostgreSQL, Redis and RabbitMQ.
    Test {
        /// Skip `cargo fmt --check` and `cargo clippy -D warnings`.
        #[arg(long)]
        no_lint: bool,
        /// Skip the checks of the chart, manifests, workflows and Dockerfile, and cargo deny.
        #[arg(long)]
        no_deploy_checks: bool,
        /// Passed to `cargo test` (a test name filter, `--nocapture`, ...).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        cargo_args: Vec<String>,
    },
    /// Create the database if missing and apply the migrations (DATABASE_URL).
    Migrate,
    /// Run the flow under mixed load with crashes, then check nothing was lost or counted twice.
    Soak(soak::Args),
    /// Render the Helm chart into knative/ (or, with --check, fail if they differ).
    Manifests(manifests::Args),
    /// Benchmarks, each reported as a ratio to a baseline measured in the same run.
    Bench(bench::Args),
    /// Fuzz every input parser for a bounded time (cargo fuzz), then minimize the corpora.
    Fuzz(fuzz::Args),
    /// Cut Redis, kill the stats function and the broker under load; check the stats settle to PostgreSQL.
    Faults,
    /// Mint a token of the local stack's issuer: `--sub ana --role passenger`.
    Token(issuer::TokenArgs),
    /// Export the local stack's spans to a receiver here; check a booking is one trace, relayed or not.
    Traces,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Dev(args) => dev::run(args),
        Command::Test { no_lint, no_deploy_checks, cargo_args } => {
            test(!no_lint, !no_deploy_checks, cargo_args)
        }
        Command::Bench(args) => bench::run(args),
        Command::Token(args) => issuer::token(args),
        Command::Manifests(args) => manifests::run(args),
        Command::Soak(args) => soak::run(args),
        Command::Fuzz(args) => fuzz::run(args),
        Command::Faults => {
            services::ensure()?;
            faults::run()
        }
        Command::Traces => {
            services::ensure()?;
            traces::run()
        }
        Command::Migrate => {
            services::ensure()?;
            runtime()?.block_on(services::migrate(&services::database_url()))
        }
    }
}

fn test(lint: bool, deploy_checks: bool, cargo_args: Vec<String>) -> anyhow::Result<()> {
    if lint {
        cargo(&["fmt", "--all", "--check"], &[])?;
        cargo(&["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"], &[])?;
    }
    if deploy_checks {
        context::check()?;
        manifests::run_check()?;
        let script = services::workspace_root().join("scripts/check-deploy.sh");
        if !std::process::Command::new("bash").arg(script).status()?.success() {
            anyhow::bail!("the deployment checks failed");
        }
        audit::run()?;
    }
    services::ensure()?;
    // The interoperability tests run the CloudEvents SDK for Python from target/tools.
    manifests::tools(&services::workspace_root())?;
    runtime()?.block_on(services::drop_test_databases(&services::database_url()))?;
    // Tests that run functions as processes (the broker's flow, the surface)
    // need every binary, and cargo builds a package's binaries only for its
    // own integration tests.
    cargo(&["build", "--workspace", "--bins"], &[])?;
    // The smoke script the kind job runs against a cluster, against the local stack.
    dev::smoke(&services::workspace_root())?;
    // Redis cut, the stats function and the broker killed, under load: the
    // stats must come back equal to PostgreSQL with no one's help.
    faults::run()?;
    // One booking, one trace, from the client to the stats, relayed or not.
    traces::run()?;
    // Functions under test reach PostgreSQL through PgBouncer in transaction
    // mode, as in a cluster: what the pooler would break fails here.
    let pooler = ("TEST_POOLER_ADDR", services::pooler_addr());
    cargo_env(&["test", "--workspace", "--all-targets"], &cargo_args, &[pooler])
}

fn cargo(args: &[&str], more: &[String]) -> anyhow::Result<()> {
    cargo_env(args, more, &[])
}

fn cargo_env(args: &[&str], more: &[String], env: &[(&str, String)]) -> anyhow::Result<()> {
    let status = crate::services::cargo()
        .args(args)
        .args(more)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .current_dir(services::workspace_root())
        .status()?;
    if !status.success() {
        anyhow::bail!("cargo {} failed", args.join(" "));
    }
    Ok(())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}
