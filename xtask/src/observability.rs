//! The metrics as Prometheus reads them, checked on a running stack after
//! real traffic: every process's /metrics passes `promtool check metrics`,
//! and every metric the dashboard and the alert rules query exists.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::Context;

/// Scrapes each process, checks each exposition with promtool, then checks
/// the names the dashboard and the alerts use against what was scraped.
pub fn check(root: &Path, urls: &std::collections::BTreeMap<String, String>) -> anyhow::Result<()> {
    let tools = Command::new("bash").arg(root.join("scripts/tools.sh")).stderr(Stdio::inherit()).output()?;
    let promtool = Path::new(String::from_utf8_lossy(&tools.stdout).trim()).join("promtool");
    let mut exposed = BTreeSet::new();
    for (name, url) in urls {
        // The broker's URL is its ingress path; /metrics is at its root.
        let base = url.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
        let text = scrape(&format!("{base}/metrics")).with_context(|| format!("scraping {name}"))?;
        let mut check = Command::new(&promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("promtool")?;
        use std::io::Write;
        check.stdin.take().context("promtool's stdin")?.write_all(text.as_bytes())?;
        let out = check.wait_with_output()?;
        anyhow::ensure!(
            out.status.success(),
            "promtool check metrics refuses {name}'s /metrics:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        exposed.extend(metric_names(&text));
    }
    let used: BTreeSet<String> = ["helm/skybook/files/dashboard.json", "helm/skybook/files/alerts.yaml"]
        .iter()
        .map(|file| std::fs::read_to_string(root.join(file)).with_context(|| file.to_string()))
        .collect::<anyhow::Result<Vec<_>>>()?
        .iter()
        .flat_map(|text| metric_names(text))
        .collect();
    let missing: Vec<&String> = used.iter().filter(|name| !exposed.contains(*name)).collect();
    anyhow::ensure!(
        missing.is_empty(),
        "the dashboard or the alerts query metrics no process exposes: {missing:?}"
    );
    println!(
        "metrics: {} processes pass promtool check metrics; the dashboard and alerts use {} metrics, all exposed",
        urls.len(),
        used.len()
    );
    Ok(())
}

/// Every `skybook_…` name in a text.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut at = 0;
    while let Some(found) = text[at..].find("skybook_") {
        let start = at + found;
        let end = start
            + bytes[start..]
                .iter()
                .take_while(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || **b == b'_')
                .count();
        names.insert(text[start..end].to_owned());
        at = end;
    }
    names
}

/// A GET over a plain socket, asking for the Prometheus text format.
fn scrape(url: &str) -> anyhow::Result<String> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").context("an http:// URL")?;
    let (addr, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/plain\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").context("an HTTP response")?;
    anyhow::ensure!(head.starts_with("HTTP/1.1 200"), "{url}: {}", head.lines().next().unwrap_or_default());
    // A chunked body: keep the chunks, drop their sizes.
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        let mut text = String::new();
        let mut rest = body;
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if size == 0 || tail.len() < size {
                break;
            }
            text.push_str(&tail[..size]);
            rest = tail[size..].trim_start_matches("\r\n");
        }
        return Ok(text);
    }
    Ok(body.to_owned())
}
