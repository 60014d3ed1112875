//! The secrets the chart writes: the ones it makes are kept across
//! upgrades or, where nothing can keep them (a render without a cluster),
//! refused until given; every pod that reads one carries its digest, so a
//! changed secret rolls the pods that read it at start, and only those.

mod support;

use serde_norway::Value;
use support::{kind, name, render};

const KEY: &str = "a-key-of-thirty-two-characters-00";

fn digests(objects: &[Value]) -> (Vec<String>, String) {
    let functions = objects
        .iter()
        .filter(|d| d["apiVersion"] == "serving.knative.dev/v1")
        .map(|s| {
            let digest = &s["spec"]["template"]["metadata"]["annotations"]["skybook.dev/secrets"];
            digest.as_str().unwrap_or_else(|| panic!("not a string: {digest:?}")).to_owned()
        })
        .collect();
    let redis = objects.iter().find(|d| kind(d) == "Deployment" && name(d) == "skybook-redis").unwrap();
    let password = &redis["spec"]["template"]["metadata"]["annotations"]["skybook.dev/password"];
    let password = password.as_str().unwrap_or_else(|| panic!("not a string: {password:?}"));
    (functions, password.to_owned())
}

#[test]
fn events_are_signed_by_default_with_a_key_the_chart_makes_or_one_given() {
    let key_of = |objects: &[Value]| {
        let secret = objects.iter().find(|d| kind(d) == "Secret" && name(d) == "skybook-secrets").unwrap();
        secret["stringData"]["EVENT_SIGNING_KEYS"].as_str().unwrap().to_owned()
    };
    let made = key_of(&render(&["--set", "auth.disabled=true"]).unwrap());
    assert!(made.len() >= 32 && made.chars().all(|c| c.is_ascii_alphanumeric()), "{made}");
    let given = "a-key-of-thirty-two-characters-00,an-old-key-being-rotated-out-0000";
    let objects = render(&[
        "--set",
        "auth.disabled=true",
        "--set",
        &format!("secret.EVENT_SIGNING_KEYS={}", given.replace(',', "\\,")),
    ])
    .unwrap();
    assert_eq!(key_of(&objects), given);
    let short =
        render(&["--set", "auth.disabled=true", "--set", "secret.EVENT_SIGNING_KEYS=short"]).unwrap_err();
    assert!(short.contains("secret.EVENT_SIGNING_KEYS: each key is 32 characters or more"), "{short}");
}

#[test]
fn a_changed_secret_rolls_the_pods_that_read_it_and_no_others() {
    let base = [
        "--set",
        "auth.disabled=true",
        "--set",
        "secret.EVENT_SIGNING_KEYS=a-key-of-thirty-two-characters-00",
    ];
    let with = |more: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(more);
        digests(&render(&args).unwrap())
    };
    let (functions, redis) = with(&["--set", "redis.password=first"]);
    assert_eq!(functions.len(), catalogue::functions().len());
    assert!(functions.iter().all(|d| *d == functions[0]), "one digest for every function: {functions:?}");

    let (keys_changed, redis_after_keys) =
        with(&["--set", "redis.password=first", "--set", "secret.AUTH_API_KEYS=admin:0123456789abcdef0"]);
    assert_ne!(keys_changed[0], functions[0], "new API keys roll the functions");
    assert_eq!(redis_after_keys, redis, "and not Redis, which a restart empties");

    let (password_changed, redis_after_password) = with(&["--set", "redis.password=second"]);
    assert_ne!(password_changed[0], functions[0], "a new Redis password rolls the functions");
    assert_ne!(redis_after_password, redis, "and Redis");
}

#[test]
fn a_render_without_a_cluster_is_refused_until_every_secret_is_given_then_stable() {
    let off = ["--set", "auth.disabled=true", "--set", "generateSecrets=false"];
    let refused = render(&off).unwrap_err();
    assert!(refused.contains("set secret.EVENT_SIGNING_KEYS"), "{refused}");
    let mut args = off.to_vec();
    let key = format!("secret.EVENT_SIGNING_KEYS={KEY}");
    args.extend_from_slice(&["--set", &key]);
    let refused = render(&args).unwrap_err();
    assert!(refused.contains("set redis.password"), "{refused}");
    args.extend_from_slice(&["--set", "redis.password=a-password-for-redis"]);
    let (first, second) = (render(&args).unwrap(), render(&args).unwrap());
    assert_eq!(first, second, "two renders of the same values are the same objects");

    // With the chart making them, each render makes its own: what only lookup can keep.
    let made = ["--set", "auth.disabled=true"];
    assert_ne!(digests(&render(&made).unwrap()), digests(&render(&made).unwrap()));
}

#[test]
fn a_digest_of_digits_only_is_still_a_string() {
    // A digest's first 16 hex digits are all decimal about once in 1,850
    // secrets; unquoted, YAML reads them as a number and the API server
    // refuses the annotation. These two passwords are such cases: one for the
    // functions' digest (of every secret), one for Redis's (of its password).
    for password in ["password-1118", "password-59"] {
        let objects = render(&[
            "--set",
            "auth.disabled=true",
            "--set",
            &format!("secret.EVENT_SIGNING_KEYS={KEY}"),
            "--set",
            &format!("redis.password={password}"),
        ])
        .unwrap();
        let (functions, redis) = digests(&objects);
        assert!(functions.iter().chain([&redis]).all(|d| d.len() == 16), "{functions:?} {redis}");
    }
}
