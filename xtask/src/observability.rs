//! The metrics as Prometheus reads them, checked on a running stack after
//! real traffic: every process's /metrics passes `promtool check metrics`,
//! and every metric the dashboard and the alert rules query is exposed by a
//! process, as a series or (for what the smoke stack cannot make happen, a
//! call to the model say) as a family every function registers at start.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::Context;

/// Scrapes each process, checks each exposition with promtool, then checks
/// the names the dashboard and the alerts use against what was scraped.
pub fn check(root: &Path, urls: &std::collections::BTreeMap<String, String>) -> anyhow::Result<()> {
    let tools = Command::new("bash").arg(root.join("scripts/tools.sh")).stderr(Stdio::inherit()).output()?;
    let promtool = Path::new(String::from_utf8_lossy(&tools.stdout).trim()).join("promtool");
    let base = |url: &str| url.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
    // What the smoke test does not do: check dependencies, tick the
    // scheduled functions, keep a dead letter.
    for url in urls.values() {
        let _ = request(&format!("{}/health/dependencies", base(url)), "GET", &[], "");
    }
    let ping = [("ce-specversion", "1.0"), ("ce-type", "dev.knative.sources.ping"), ("ce-source", "/smoke")];
    for (function, id) in [("relay-outbox", "smoke-tick-1"), ("reconcile-stats", "smoke-tick-2")] {
        if let Some(url) = urls.get(function) {
            let mut headers = ping.to_vec();
            headers.extend([("ce-id", id), ("content-type", "application/json")]);
            request(url, "POST", &headers, "{}").with_context(|| format!("ticking {function}"))?;
        }
    }
    if let Some(url) = urls.get("store-dead-letter") {
        let headers = [
            ("ce-specversion", "1.0"),
            ("ce-type", "skybook.smoke.undeliverable"),
            ("ce-source", "/smoke"),
            ("ce-id", "smoke-dead-letter"),
            ("ce-knativeerrorcode", "503"),
            ("content-type", "application/json"),
        ];
        request(url, "POST", &headers, "{}").context("storing a dead letter")?;
    }
    let mut exposed = BTreeSet::new();
    for (name, url) in urls {
        // The broker's URL is its ingress path; /metrics is at its root.
        let base = base(url);
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
    let families: BTreeSet<String> = exposed.iter().map(|name| family(name)).collect();
    let missing: Vec<&String> = used.iter().filter(|name| !families.contains(&family(name))).collect();
    anyhow::ensure!(
        missing.is_empty(),
        "the dashboard or the alerts query metrics no process exposes: {missing:?}"
    );
    let without_series: Vec<&String> = used.iter().filter(|name| !exposed.contains(*name)).collect();
    println!(
        "metrics: {} processes pass promtool check metrics; the {} metrics the dashboard and alerts use are \
         exposed, {} as a family without series yet (traffic the smoke stack makes none of): {without_series:?}",
        urls.len(),
        used.len(),
        without_series.len()
    );
    Ok(())
}

/// A sample's name as its family registers it: no prefix, no `_total`/`_bucket`/`_sum`/`_count`.
fn family(name: &str) -> String {
    let name = name.trim_start_matches("skybook_");
    ["_total", "_bucket", "_sum", "_count"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .unwrap_or(name)
        .to_owned()
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

/// A GET of a JSON document.
pub fn get_json(url: &str) -> anyhow::Result<serde_json::Value> {
    let body = scrape_with(url, "application/json")?;
    serde_json::from_str(&body).with_context(|| format!("{url}: not JSON"))
}

/// A GET of /metrics, asking for the Prometheus text format.
fn scrape(url: &str) -> anyhow::Result<String> {
    scrape_with(url, "text/plain")
}

/// A GET accepting `accept`: the body, de-chunked.
fn scrape_with(url: &str, accept: &str) -> anyhow::Result<String> {
    let (head, body) = request(url, "GET", &[("accept", accept)], "")?;
    anyhow::ensure!(head.starts_with("HTTP/1.1 200"), "{url}: {}", head.lines().next().unwrap_or_default());
    let body = body.as_str();
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

/// One HTTP/1.1 request over a plain socket (the xtask needs no client for
/// this): the response's head and body.
pub fn request(
    url: &str,
    method: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> anyhow::Result<(String, String)> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").context("an http:// URL")?;
    let (addr, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes())?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").context("an HTTP response")?;
    Ok((head.to_owned(), body.to_owned()))
}
