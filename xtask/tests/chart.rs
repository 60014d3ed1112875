//! What `helm install` would do with the chart, checked on its renders: it
//! refuses to install without secrets (or auth disabled explicitly) and with
//! a moving image tag; every object a hook reads exists before the hook
//! runs; every ConfigMap, Secret and ServiceAccount a pod names is in the
//! render (or made by an operator from an object in it); and the
//! PostgreSQL connection budget holds.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use serde_norway::Value;
use support::{kind, name, pod, render, root, with_values};

/// What a pod needs to exist before it can start: (kind, name).
fn references(pod: &Value) -> BTreeSet<Key> {
    let mut found = BTreeSet::new();
    if let Some(account) = pod["serviceAccountName"].as_str() {
        found.insert(("ServiceAccount", account.to_owned()));
    }
    for secret in pod["imagePullSecrets"].as_sequence().into_iter().flatten() {
        found.insert(("Secret", secret["name"].as_str().unwrap().to_owned()));
    }
    for container in pod["containers"].as_sequence().unwrap() {
        for source in container["envFrom"].as_sequence().into_iter().flatten() {
            if let Some(map) = source["configMapRef"]["name"].as_str() {
                found.insert(("ConfigMap", map.to_owned()));
            }
            if let Some(secret) = source["secretRef"]["name"].as_str() {
                found.insert(("Secret", secret.to_owned()));
            }
        }
        for var in container["env"].as_sequence().into_iter().flatten() {
            if let Some(secret) = var["valueFrom"]["secretKeyRef"]["name"].as_str() {
                found.insert(("Secret", secret.to_owned()));
            }
        }
    }
    found
}

/// When an object exists in the install: `None` for ordinary objects;
/// hooks by phase and weight.
fn hook(doc: &Value) -> Option<(Vec<String>, i64)> {
    let annotations = &doc["metadata"]["annotations"];
    let phases = annotations["helm.sh/hook"].as_str()?;
    let weight = annotations["helm.sh/hook-weight"].as_str().map_or(0, |w| w.parse().unwrap());
    Some((phases.split(',').map(|p| p.trim().to_owned()).collect(), weight))
}

/// Secrets an operator makes from an object of the render.
fn generated(objects: &[Value]) -> BTreeSet<Key> {
    let mut made = BTreeSet::new();
    for doc in objects {
        match (doc["apiVersion"].as_str().unwrap(), kind(doc)) {
            ("postgresql.cnpg.io/v1", "Cluster") => made.insert(("Secret", format!("{}-app", name(doc)))),
            ("rabbitmq.com/v1beta1", "RabbitmqCluster") => {
                made.insert(("Secret", format!("{}-default-user", name(doc))))
            }
            _ => false,
        };
    }
    made
}

/// An object by kind and name.
type Key = (&'static str, String);

/// Every value file the chart is checked with: its render, and what the user provides.
fn renders() -> Vec<(&'static str, Vec<Value>, BTreeSet<Key>)> {
    let provided = |secrets: &[&str]| secrets.iter().map(|s| ("Secret", (*s).to_owned())).collect();
    vec![
        ("fresh-cluster", with_values("fresh-cluster-values.yaml"), BTreeSet::new()),
        ("hpa", with_values("hpa-values.yaml"), provided(&["skybook-secrets", "registry-pull"])),
        ("knative", with_values("knative-values.yaml"), provided(&["skybook-secrets"])),
    ]
}

#[test]
fn the_chart_refuses_to_install_open_or_with_example_secrets_or_a_moving_tag() {
    let refused = render(&[]).unwrap_err();
    assert!(
        refused.contains("set secret.AUTH_API_KEYS") && refused.contains("auth.disabled=true"),
        "{refused}"
    );
    let open = render(&["--set", "auth.disabled=true"]).unwrap();
    let config = open.iter().find(|d| kind(d) == "ConfigMap").unwrap();
    assert_eq!(config["data"]["AUTH_DISABLED"].as_str(), Some("true"), "said to the functions");

    // An OIDC provider alone is enough, and the functions are told of it.
    let issuer = "https://keycloak.example.com/realms/skybook";
    let signed =
        render(&["--set", &format!("auth.issuer={issuer}"), "--set", "auth.rolesClaim=realm_access.roles"])
            .unwrap();
    let config = signed.iter().find(|d| kind(d) == "ConfigMap").unwrap();
    assert_eq!(config["data"]["AUTH_ISSUER"].as_str(), Some(issuer));
    assert_eq!(config["data"]["AUTH_ROLES_CLAIM"].as_str(), Some("realm_access.roles"));
    assert_eq!(config["data"]["AUTH_AUDIENCE"].as_str(), Some("skybook"));

    let example = render(&["--set", "secret.AUTH_API_KEYS=change-me"]).unwrap_err();
    assert!(example.contains("secret.AUTH_API_KEYS holds an example value"), "{example}");
    let roleless = render(&["--set", "secret.AUTH_API_KEYS=0123456789abcdef0"]).unwrap_err();
    assert!(roleless.contains("each entry is role:secret"), "{roleless}");
    let key = "secret.AUTH_API_KEYS=agent:0123456789abcdef0";
    let latest = render(&["--set", key, "--set", "image.tag=latest"]).unwrap_err();
    assert!(latest.contains("\"latest\" moves"), "{latest}");
    let own_db = render(&["--set", "auth.disabled=true", "--set", "postgresql.create=false"]).unwrap_err();
    assert!(own_db.contains("set secret.DATABASE_URL"), "{own_db}");

    // By default images are the chart's version, never `latest`.
    let images: Vec<String> = with_values("fresh-cluster-values.yaml")
        .iter()
        .filter_map(pod)
        .flat_map(|p| p["containers"].as_sequence().unwrap().iter())
        .map(|c| c["image"].as_str().unwrap().to_owned())
        .filter(|i| i.contains("/skybook/"))
        .collect();
    assert!(images.len() >= 16, "{images:?}");
    assert!(images.iter().all(|i| i.ends_with(":0.1.0")), "{images:?}");

    // No image of any render moves under a running release: a fixed tag or a digest.
    for (values, objects, _) in renders() {
        for container in objects.iter().filter_map(pod).flat_map(|p| p["containers"].as_sequence().unwrap()) {
            let image = container["image"].as_str().unwrap();
            let tag = image.rsplit_once(':').map(|(_, t)| t).filter(|t| !t.contains('/'));
            assert!(
                image.contains("@sha256:") || tag.is_some_and(|t| t != "latest"),
                "{values}: image {image} has no fixed tag"
            );
        }
    }
}

#[test]
fn every_object_a_hook_reads_exists_before_it_runs() {
    for (values, objects, provided) in renders() {
        let made = generated(&objects);
        let ordinary: BTreeSet<(&str, String)> =
            objects.iter().filter(|d| hook(d).is_none()).map(|d| (kind(d), name(d).to_owned())).collect();
        let hooks: Vec<&Value> = objects.iter().filter(|d| hook(d).is_some()).collect();
        assert!(!hooks.is_empty(), "{values}: the migration Job is a hook");
        for job in &hooks {
            let (phases, weight) = hook(job).unwrap();
            for (ref_kind, ref_name) in references(pod(job).unwrap()) {
                let key = (ref_kind, ref_name.clone());
                if provided.contains(&key) {
                    continue;
                }
                for phase in &phases {
                    let earlier_hook = hooks.iter().any(|h| {
                        let (p, w) = hook(h).unwrap();
                        (kind(h), name(h)) == (ref_kind, ref_name.as_str()) && p.contains(phase) && w < weight
                    });
                    // Pre-install hooks run before any ordinary object exists;
                    // post-install after all; on upgrade, the release's exist.
                    let exists = match phase.as_str() {
                        "pre-install" => earlier_hook,
                        "post-install" | "pre-upgrade" | "post-upgrade" => {
                            earlier_hook || ordinary.contains(&key) || made.contains(&key)
                        }
                        other => panic!("{values}: unexpected hook phase {other}"),
                    };
                    assert!(
                        exists,
                        "{values}: hook {} ({phase}) reads {ref_kind} {ref_name}, which does not exist by then",
                        name(job)
                    );
                }
            }
        }
    }
}

#[test]
fn every_config_map_secret_and_service_account_a_pod_names_is_in_the_render() {
    for (values, objects, provided) in renders() {
        let mut present: BTreeSet<(&str, String)> =
            objects.iter().map(|d| (kind(d), name(d).to_owned())).collect();
        present.extend(generated(&objects));
        present.extend(provided);
        for doc in objects.iter().filter(|d| pod(d).is_some()) {
            for reference in references(pod(doc).unwrap()) {
                assert!(
                    present.contains(&reference),
                    "{values}: {} {} names {reference:?}",
                    kind(doc),
                    name(doc)
                );
            }
            let pod = pod(doc).unwrap();
            assert_eq!(pod["serviceAccountName"].as_str(), Some("skybook"), "{values}: {}", name(doc));
        }
        let account = objects.iter().find(|d| kind(d) == "ServiceAccount").expect("a ServiceAccount");
        assert_eq!(account["automountServiceAccountToken"].as_bool(), Some(false), "{values}: no API token");
        assert_eq!(account["metadata"]["namespace"].as_str(), Some("skybook"), "the release's namespace");
    }
}

#[test]
fn the_postgresql_connection_budget_holds() {
    let values: Value =
        serde_norway::from_str(&std::fs::read_to_string(root().join("helm/skybook/values.yaml")).unwrap())
            .unwrap();
    let catalogue = catalogue::functions();
    let without_database: BTreeSet<&str> =
        catalogue.iter().filter(|f| !f.database()).map(|f| f.name()).collect();
    let reserved = values["postgresql"]["reservedConnections"].as_u64().unwrap();
    for file in ["fresh-cluster-values.yaml", "hpa-values.yaml"] {
        let objects = with_values(file);
        let config = objects.iter().find(|d| kind(d) == "ConfigMap").unwrap();
        let pool_size: u64 = config["data"]["DB_POOL_SIZE"].as_str().unwrap().parse().unwrap();
        assert_eq!(config["data"]["DB_POOL_MODE"].as_str(), Some("transaction"), "behind the pooler");
        let mut clients = 1; // the migration Job
        let mut by_function = BTreeMap::new();
        for service in
            objects.iter().filter(|d| kind(d) == "Service" && d["apiVersion"] == "serving.knative.dev/v1")
        {
            if without_database.contains(name(service)) {
                continue;
            }
            let annotations = &service["spec"]["template"]["metadata"]["annotations"];
            let max_scale: u64 =
                annotations["autoscaling.knative.dev/max-scale"].as_str().unwrap().parse().unwrap();
            assert!(max_scale > 0, "{file}: {} has no upper bound", name(service));
            by_function.insert(name(service), pool_size * max_scale);
            clients += pool_size * max_scale;
        }
        let with_database = catalogue.len() - without_database.len();
        assert_eq!(
            by_function.len(),
            with_database,
            "{file}: the functions that use PostgreSQL: {by_function:?}"
        );
        if file == "fresh-cluster-values.yaml" {
            let pooler = objects.iter().find(|d| kind(d) == "Pooler").expect("the chart's pooler");
            let parameters = &pooler["spec"]["pgbouncer"]["parameters"];
            assert_eq!(pooler["spec"]["pgbouncer"]["poolMode"].as_str(), Some("transaction"));
            let max_client: u64 = parameters["max_client_conn"].as_str().unwrap().parse().unwrap();
            let pool: u64 = parameters["default_pool_size"].as_str().unwrap().parse().unwrap();
            let instances = pooler["spec"]["instances"].as_u64().unwrap();
            let cluster = objects.iter().find(|d| kind(d) == "Cluster").expect("the chart's PostgreSQL");
            let max_connections: u64 = cluster["spec"]["postgresql"]["parameters"]["max_connections"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(
                clients <= max_client,
                "{clients} function connections at full scale > max_client_conn {max_client}"
            );
            assert!(
                instances * pool <= max_connections - reserved,
                "{instances} poolers × {pool} server connections > PostgreSQL's {max_connections} − {reserved} reserved"
            );
        } else {
            let pooler_clients = values["pooler"]["maxClientConn"].as_u64().unwrap();
            assert!(clients <= pooler_clients, "{file}: {clients} > {pooler_clients}");
        }
    }
}

/// The values of a `matchExpressions` entry `key In [...]`.
fn selected(selector: &Value, key: &str) -> BTreeSet<String> {
    let expressions = selector["matchExpressions"].as_sequence().unwrap();
    let entry = expressions.iter().find(|e| e["key"] == key).unwrap();
    assert_eq!(entry["operator"], "In");
    entry["values"].as_sequence().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
}

#[test]
fn by_default_a_function_pod_takes_traffic_from_knatives_data_path_only_and_redis_from_the_functions() {
    let objects = with_values("fresh-cluster-values.yaml");
    let functions: BTreeSet<String> = objects
        .iter()
        .filter(|d| kind(d) == "Service" && d["apiVersion"] == "serving.knative.dev/v1")
        .map(|d| name(d).to_owned())
        .collect();
    let policy = |wanted: &str| {
        objects.iter().find(|d| kind(d) == "NetworkPolicy" && name(d) == wanted).unwrap_or_else(|| {
            panic!("no NetworkPolicy {wanted}");
        })
    };

    // Every function, by the label Knative gives its revisions' pods.
    let guarded = policy("skybook-functions");
    assert_eq!(selected(&guarded["spec"]["podSelector"], "serving.knative.dev/service"), functions);
    assert_eq!(guarded["spec"]["policyTypes"], serde_norway::from_str::<Value>("[Ingress]").unwrap());
    let sources = guarded["spec"]["ingress"][0]["from"].as_sequence().unwrap();
    let namespaces: BTreeSet<&str> = sources
        .iter()
        .map(|s| s["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"].as_str().unwrap())
        .collect();
    assert_eq!(namespaces, BTreeSet::from(["knative-serving", "kourier-system"]), "only the data path");
    assert!(sources.iter().all(|s| s.get("podSelector").is_none() && s.get("ipBlock").is_none()));

    // Redis: its pods, from the functions' pods, on its port.
    let redis = policy("skybook-redis");
    let deployment = objects.iter().find(|d| kind(d) == "Deployment" && name(d) == "skybook-redis").unwrap();
    let pod_labels = &deployment["spec"]["template"]["metadata"]["labels"];
    for (key, value) in redis["spec"]["podSelector"]["matchLabels"].as_mapping().unwrap() {
        assert_eq!(&pod_labels[key.as_str().unwrap()], value, "the policy selects the Redis pods");
    }
    let rule = &redis["spec"]["ingress"][0];
    assert_eq!(selected(&rule["from"][0]["podSelector"], "serving.knative.dev/service"), functions);
    assert_eq!(rule["ports"][0]["port"].as_u64(), Some(6379));

    let off = render(&["--set", "auth.disabled=true", "--set", "networkPolicy.enabled=false"]).unwrap();
    assert!(off.iter().all(|d| kind(d) != "NetworkPolicy"), "networkPolicy.enabled=false");
}

#[test]
fn each_public_domain_comes_with_the_claim_knative_maps_it_by() {
    let objects = with_values("hpa-values.yaml");
    let of_kind = |wanted: &str| -> BTreeMap<String, &Value> {
        objects.iter().filter(|d| kind(d) == wanted).map(|d| (name(d).to_owned(), d)).collect()
    };
    let (mappings, claims) = (of_kind("DomainMapping"), of_kind("ClusterDomainClaim"));
    assert!(!mappings.is_empty(), "hpa-values sets a domain");
    assert_eq!(
        mappings.keys().collect::<Vec<_>>(),
        claims.keys().collect::<Vec<_>>(),
        "one claim per mapping"
    );
    for (domain, mapping) in &mappings {
        let claim = claims[domain];
        assert_eq!(claim["apiVersion"], "networking.internal.knative.dev/v1alpha1");
        assert!(claim["metadata"].get("namespace").is_none(), "{domain}: a claim is cluster-scoped");
        assert_eq!(
            claim["spec"]["namespace"], mapping["metadata"]["namespace"],
            "{domain}: for the mapping's namespace"
        );
    }
    let path = root().join("helm/skybook/ci/hpa-values.yaml");
    let unclaimed = render(&["--values", path.to_str().unwrap(), "--set", "domainClaims=false"]).unwrap();
    assert!(unclaimed.iter().any(|d| kind(d) == "DomainMapping"));
    assert!(unclaimed.iter().all(|d| kind(d) != "ClusterDomainClaim"), "domainClaims=false");
}

#[test]
fn sender_identity_is_refused_with_a_broker_class_that_sends_no_tokens() {
    let refused = render(&["--set", "auth.disabled=true", "--set", "oidc.enabled=true"]).unwrap_err();
    assert!(refused.contains("oidc.enabled with broker.class RabbitMQBroker"), "{refused}");
    let channel = render(&[
        "--set",
        "auth.disabled=true",
        "--set",
        "oidc.enabled=true",
        "--set",
        "broker.class=MTChannelBasedBroker",
    ]);
    assert!(channel.is_ok(), "a class that sends tokens: {channel:?}");
}

#[test]
fn the_functions_are_the_catalogues_and_an_override_names_one_of_them() {
    let objects =
        render(&["--set", "auth.disabled=true", "--set", "functions.get-flight.containerConcurrency=7"])
            .expect("an override of a function");
    let services: Vec<&Value> = objects
        .iter()
        .filter(|d| kind(d) == "Service" && d["apiVersion"] == "serving.knative.dev/v1")
        .collect();
    let names: BTreeSet<&str> = services.iter().map(|s| name(s)).collect();
    let catalogue = catalogue::functions();
    assert_eq!(
        names,
        catalogue.iter().map(|f| f.name()).collect(),
        "one Service per function of the catalogue"
    );
    let get_flight = services.iter().find(|s| name(s) == "get-flight").unwrap();
    assert_eq!(get_flight["spec"]["template"]["spec"]["containerConcurrency"].as_u64(), Some(7));
    let triggers: BTreeSet<(&str, &str)> = objects
        .iter()
        .filter(|d| kind(d) == "Trigger")
        .map(|t| {
            (
                t["spec"]["filter"]["attributes"]["type"].as_str().unwrap(),
                t["spec"]["subscriber"]["ref"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    let derived = catalogue::triggers(&catalogue);
    assert_eq!(
        triggers,
        derived.iter().map(|t| (t.ty, t.subscriber)).collect(),
        "the Triggers the specs imply"
    );

    let refused =
        render(&["--set", "auth.disabled=true", "--set", "functions.get-flights.containerConcurrency=7"])
            .unwrap_err();
    assert!(refused.contains("functions.get-flights: there is no such function"), "{refused}");
}

#[test]
fn the_origins_a_browser_may_call_from_reach_every_function_and_none_by_default() {
    let config = |args: &[&str]| {
        let objects = render(args).unwrap();
        objects.into_iter().find(|d| kind(d) == "ConfigMap" && name(d) == "skybook-config").unwrap()
    };
    let closed = config(&["--set", "auth.disabled=true"]);
    assert!(closed["data"]["CORS_ALLOWED_ORIGINS"].is_null(), "none by default");
    let open = config(&[
        "--set",
        "auth.disabled=true",
        "--set",
        "cors.allowedOrigins={https://app.example.com,http://localhost:5173}",
    ]);
    assert_eq!(
        open["data"]["CORS_ALLOWED_ORIGINS"].as_str(),
        Some("https://app.example.com,http://localhost:5173")
    );
    // Under a domain, the release's own sites may call, and are told where each function is.
    let mapped = config(&["--set", "auth.disabled=true", "--set", "domain=example.com"]);
    assert_eq!(
        mapped["data"]["CORS_ALLOWED_ORIGINS"].as_str(),
        Some("https://serve-docs.example.com,https://serve-web.example.com")
    );
    let urls = mapped["data"]["FUNCTION_URLS"].as_str().unwrap();
    assert!(urls.contains("list-flights=https://list-flights.example.com"), "{urls}");
    assert!(!urls.contains("serve-web") && !urls.contains("record-booking-stats"), "{urls}");
    let closed = config(&[
        "--set",
        "auth.disabled=true",
        "--set",
        "domain=example.com",
        "--set",
        "cors.allowSites=false",
    ]);
    assert!(closed["data"]["CORS_ALLOWED_ORIGINS"].is_null());
}

/// Seconds between the runs of a PingSource's schedule: `* * * * *` or
/// `*/N * * * *`, the forms the chart uses.
fn period_of(schedule: &str) -> u64 {
    match schedule.split_whitespace().collect::<Vec<_>>().as_slice() {
        ["*", "*", "*", "*", "*"] => 60,
        [minutes, "*", "*", "*", "*"] => {
            60 * minutes.strip_prefix("*/").and_then(|n| n.parse::<u64>().ok()).expect("*/N minutes")
        }
        _ => panic!("a schedule this check cannot read: {schedule}"),
    }
}

/// Seconds in a Knative duration such as `6s` or `1m`.
fn seconds(duration: &str) -> u64 {
    match duration.strip_suffix('s') {
        Some(s) => s.parse().unwrap(),
        None => 60 * duration.strip_suffix('m').unwrap().parse::<u64>().unwrap(),
    }
}

#[test]
fn every_ticked_function_can_reach_zero_between_its_ticks() {
    // Knative Serving 1.19's config-autoscaler, as the kind job installs it.
    const STABLE_WINDOW: u64 = 60;
    const SCALE_TO_ZERO_GRACE: u64 = 30;
    // The longest a tick's work runs: relay-outbox's budget for a backlog.
    const TICK_WORK: u64 = 20;
    for values in ["fresh-cluster-values.yaml", "knative-values.yaml"] {
        let objects = with_values(values);
        let ticks: Vec<&Value> = objects.iter().filter(|d| kind(d) == "PingSource").collect();
        assert!(ticks.len() >= 2, "{values}: the relay's and the reconciliation's ticks");
        for tick in ticks {
            let sink = tick["spec"]["sink"]["ref"]["name"].as_str().unwrap();
            let service = objects
                .iter()
                .find(|d| {
                    kind(d) == "Service" && d["apiVersion"] == "serving.knative.dev/v1" && name(d) == sink
                })
                .unwrap();
            let annotations = &service["spec"]["template"]["metadata"]["annotations"];
            assert_eq!(
                annotations["autoscaling.knative.dev/min-scale"], "0",
                "{values}: {sink} may go to zero"
            );
            let window =
                annotations["autoscaling.knative.dev/window"].as_str().map_or(STABLE_WINDOW, seconds);
            let period = period_of(tick["spec"]["schedule"].as_str().unwrap());
            assert!(
                TICK_WORK + window + SCALE_TO_ZERO_GRACE < period,
                "{values}: {sink}, ticked every {period} s, keeps a pod for {TICK_WORK} s of work + a {window} s \
                 window + {SCALE_TO_ZERO_GRACE} s of grace: it never reaches zero"
            );
        }
    }
}

#[test]
fn the_plain_manifests_make_their_namespace_before_anything_in_it() {
    let files = support::yaml_files(&root().join("knative"));
    let objects: Vec<Value> =
        files.iter().flat_map(|f| support::documents(&std::fs::read_to_string(f).unwrap())).collect();
    assert_eq!(kind(&objects[0]), "Namespace", "the first object kubectl applies");
    let namespace = name(&objects[0]);
    for object in &objects[1..] {
        if let Some(ns) = object["metadata"]["namespace"].as_str() {
            assert_eq!(ns, namespace, "{} {}", kind(object), name(object));
        }
    }
    // A helm install makes its namespace itself (--create-namespace).
    let installed = render(&["--set", "auth.disabled=true"]).unwrap();
    assert!(installed.iter().all(|d| kind(d) != "Namespace"));
}

#[test]
fn the_dashboard_and_the_alerts_carry_the_labels_kube_prometheus_stack_selects() {
    // kube-prometheus-stack (prometheus-community/helm-charts): Grafana's
    // sidecar takes ConfigMaps labelled grafana_dashboard: "1" in every
    // namespace; the Prometheus's ruleSelector is `release: <its release>`.
    let objects = with_values("observability-values.yaml");
    let dashboard =
        objects.iter().find(|d| kind(d) == "ConfigMap" && name(d) == "skybook-dashboard").unwrap();
    assert_eq!(dashboard["metadata"]["labels"]["grafana_dashboard"], "1");
    let rule = objects.iter().find(|d| kind(d) == "PrometheusRule").unwrap();
    assert_eq!(rule["metadata"]["labels"]["release"], "kube-prometheus-stack");
    let other = render(&[
        "--set",
        "auth.disabled=true",
        "--set",
        "observability.alerts.enabled=true",
        "--set",
        "observability.alerts.labels.release=monitoring",
    ])
    .unwrap();
    let rule = other.iter().find(|d| kind(d) == "PrometheusRule").unwrap();
    assert_eq!(rule["metadata"]["labels"]["release"], "monitoring");
}
