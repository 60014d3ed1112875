//! The data services the chart makes: Redis keeps what it holds across a
//! restart, and refuses writes before the kernel would kill it.

mod support;

use serde_norway::Value;
use support::{kind, name, render};

/// Bytes from a Redis size (`200mb`: Redis's mb is 1024 × 1024) or a
/// Kubernetes quantity (`512Mi`).
fn bytes(size: &str) -> u64 {
    let size = size.to_ascii_lowercase();
    for (unit, factor) in [("mi", 1 << 20), ("mb", 1 << 20), ("gi", 1 << 30), ("gb", 1 << 30)] {
        if let Some(n) = size.strip_suffix(unit) {
            return n.parse::<u64>().unwrap() * factor;
        }
    }
    size.parse().unwrap()
}

fn option<'a>(args: &'a [Value], flag: &str) -> &'a str {
    let at = args.iter().position(|a| a == flag).unwrap_or_else(|| panic!("no {flag} in {args:?}"));
    args[at + 1].as_str().unwrap()
}

#[test]
fn redis_keeps_its_data_on_a_volume_and_refuses_writes_before_its_memory_limit() {
    let objects = render(&["--set", "auth.disabled=true"]).unwrap();
    let redis = objects.iter().find(|d| kind(d) == "Deployment" && name(d) == "skybook-redis").unwrap();
    let pod = &redis["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let args = container["args"].as_sequence().unwrap();
    assert_eq!(option(args, "--appendonly"), "yes");
    assert_eq!(option(args, "--appendfsync"), "everysec");
    assert_eq!(option(args, "--maxmemory-policy"), "noeviction", "an evicted key is a stat lost");

    // The append-only file is on a claim, one pod at a time.
    let mount = &container["volumeMounts"][0];
    assert_eq!(mount["mountPath"], "/data", "the redis image's working directory, where the file goes");
    let volume = pod["volumes"].as_sequence().unwrap().iter().find(|v| v["name"] == mount["name"]).unwrap();
    let claim = volume["persistentVolumeClaim"]["claimName"].as_str().expect("a claim, not an emptyDir");
    assert!(objects.iter().any(|d| kind(d) == "PersistentVolumeClaim" && name(d) == claim));
    assert_eq!(redis["spec"]["strategy"]["type"], "Recreate", "a ReadWriteOnce claim takes one pod");

    // Writes stop at maxmemory, with room below the limit for the rewrite's fork.
    let limit = bytes(container["resources"]["limits"]["memory"].as_str().unwrap());
    let maxmemory = bytes(option(args, "--maxmemory"));
    assert!(
        maxmemory * 2 <= limit + (64 << 20),
        "maxmemory {maxmemory} under a {limit} limit leaves no room to fork"
    );
}
