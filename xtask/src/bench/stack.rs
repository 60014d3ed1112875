//! The stack the README starts (`cargo xtask dev --release`: every function
//! through PgBouncer in transaction mode, the local broker, the stats
//! consumer, identities from the development issuer), on the bench database,
//! and what a load on it costs each of its processes.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use serde_json::Value;

use super::cpu::{Roles, spent, wait_gone};
use super::{Bench, Figure, Process, median};
use crate::dev::{self, Identities, Options};

/// The running stack, and a passenger's token (who books for themself) for the load.
pub struct BenchStack {
    pub stack: dev::Stack,
    pub token: String,
}

/// One load's outcome: wrk's summary, how many it did (requests answered,
/// or bookings made), and the CPU seconds each process spent on it.
pub struct Load {
    pub summary: Value,
    pub done: f64,
    pub cpu: BTreeMap<String, f64>,
}

impl BenchStack {
    pub fn start(bench: &Bench, env: &[(String, String)]) -> anyhow::Result<BenchStack> {
        let options = Options {
            base_port: 28081,
            release: true,
            database_url: bench.database_url.clone(),
            redis_url: Some(super::redis_url()),
            logs: false,
            env: env.to_vec(),
            identities: Identities::Issuer,
        };
        let stack = dev::start(&options)?;
        let issuer = stack.issuer.clone().context("the stack runs the issuer")?;
        let token = crate::issuer::mint(&bench.root, &issuer, "bench-passenger", &["passenger"], 24 * 3600)?;
        Ok(BenchStack { stack, token })
    }

    pub fn port(&self, function: &str) -> anyhow::Result<u16> {
        let url = self.stack.urls.get(function).with_context(|| format!("no {function} in the stack"))?;
        url.rsplit(':').next().and_then(|p| p.parse().ok()).with_context(|| format!("{function}: {url}"))
    }

    /// One more process of `function` as the stack starts it, with `change`
    /// made to its environment, on a port of its own.
    pub fn another(
        &self,
        function: &str,
        change: impl FnOnce(&mut Vec<(String, String)>),
    ) -> anyhow::Result<Process> {
        let mut launch = self.stack.processes.recipe(function).context("no such process")?.launch;
        let port = shared::testing::free_port();
        launch.env.retain(|(key, _)| key != "PORT");
        launch.env.push(("PORT".into(), port.to_string()));
        change(&mut launch.env);
        let process = Process::start(&launch, port)?;
        process.wait_listening()?;
        Ok(process)
    }

    /// A PingSource's tick to `function`, signed as the broker signs it.
    pub fn tick(&self, function: &str) -> anyhow::Result<()> {
        self.stack.send_signed(function, shared::cloudevent::PING, "/bench", "\"tick\"", &[])
    }

    /// After a seed, which rewrote the flights behind the events' back: the
    /// flights read model starts again from PostgreSQL, as after Redis lost
    /// it (the stats with it), and holds every flight, as in production.
    pub fn rebuild_read_model(&self) -> anyhow::Result<()> {
        super::pipeline::redis_cli(&["FLUSHDB"])?;
        self.tick("reconcile-flights")?;
        let ready = super::pipeline::redis_cli(&["EXISTS", flights::read_model::keys::READY])?;
        if ready.trim() != "1" {
            bail!("reconcile-flights did not rebuild the flights read model");
        }
        Ok(())
    }

    /// Runs `load`, and reads what every process of the stack (and `extra`,
    /// named) spent meanwhile. `load` returns wrk's summary and what it did.
    pub fn measure(
        &self,
        extra: &[(&str, &Process)],
        load: impl FnOnce() -> anyhow::Result<(Value, f64)>,
    ) -> anyhow::Result<Load> {
        let mut named = self.stack.processes.pids();
        for (name, process) in extra {
            named.push(((*name).to_owned(), process.child.id()));
        }
        let roles = Roles::new(named.into_iter().map(|(name, pid)| (role_of(&name), pid)));
        let before = roles.snapshot();
        let (summary, done) = load()?;
        let cpu = spent(&before, &roles.snapshot());
        Ok(Load { summary, done, cpu })
    }
}

/// The broker by what it is; a function by its name.
fn role_of(name: &str) -> String {
    if name == "skybook-broker" { "the local broker".into() } else { name.to_owned() }
}

/// PostgreSQL's CPU for what pgbench ran in `load` (which returns its
/// transactions a second): (transactions a second, PostgreSQL's CPU seconds
/// per transaction).
pub fn pgbench_cost(bench: &Bench, load: impl FnOnce() -> anyhow::Result<f64>) -> anyhow::Result<(f64, f64)> {
    let roles = Roles::default();
    let before = roles.snapshot();
    // pgbench's own backends, asked for while it runs: their time is read
    // once they have ended and been reaped, whatever else comes and goes
    // (PgBouncer closing an idle server connection meanwhile).
    let (tps, backends) = std::thread::scope(|scope| {
        let asked = scope.spawn(|| {
            std::thread::sleep(std::time::Duration::from_millis(500));
            pgbench_backends(bench)
        });
        let tps = load();
        (tps, asked.join())
    });
    let tps = tps?;
    let backends = backends.map_err(|_| anyhow::anyhow!("asking for pgbench's backends panicked"))??;
    if !wait_gone(&backends, std::time::Duration::from_secs(10)) {
        anyhow::bail!(
            "pgbench's PostgreSQL backends {backends:?} outlived it by 10 s: their CPU cannot be read"
        );
    }
    let cpu = spent(&before, &roles.snapshot());
    let transactions = tps * f64::from(bench.seconds);
    Ok((tps, cpu.get("PostgreSQL").copied().unwrap_or(0.0) / transactions.max(1.0)))
}

/// The PostgreSQL backends serving pgbench now (it names its sessions).
fn pgbench_backends(bench: &Bench) -> anyhow::Result<Vec<u32>> {
    let pids = super::sql_value(
        bench,
        "SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE application_name = 'pgbench'",
    )?;
    let pids: Vec<u32> =
        pids.split(',').filter(|p| !p.is_empty()).map(str::parse).collect::<Result<_, _>>()?;
    if pids.is_empty() {
        anyhow::bail!("pgbench had no session in pg_stat_activity half a second after it started");
    }
    Ok(pids)
}

/// The figures of several runs of one load: CPU per unit of work by process
/// (medians, in microseconds) and in all, against `baseline_us` (what the
/// same work costs PostgreSQL alone under pgbench).
pub fn cpu_figures(name: &str, loads: &[Load], baseline_us: f64) -> Vec<Figure> {
    let roles: std::collections::BTreeSet<&String> = loads.iter().flat_map(|l| l.cpu.keys()).collect();
    let per = |load: &Load, role: &str| load.cpu.get(role).copied().unwrap_or(0.0) / load.done.max(1.0) * 1e6;
    let mut figures = Vec::new();
    let mut stack_total = Vec::new();
    for load in loads {
        stack_total
            .push(load.cpu.iter().filter(|(r, _)| !r.starts_with("wrk")).map(|(r, _)| per(load, r)).sum());
    }
    for role in roles {
        let us = median(loads.iter().map(|l| per(l, role)).collect());
        if us >= 0.5 {
            figures.push(Figure::plain(format!("{name}: CPU per request, {role}"), us, "us"));
        }
    }
    figures.push(Figure::against(
        format!("{name}: CPU per request, every process but wrk, against PostgreSQL's under pgbench"),
        median(stack_total),
        "us",
        baseline_us,
    ));
    figures
}
