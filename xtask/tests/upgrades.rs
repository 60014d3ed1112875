//! What an install or an upgrade meets on a cluster: objects whose fields
//! cannot change are replaced by new ones instead of failing the apply, and
//! what the cluster cannot do is refused at render, saying how to go on.

mod support;

use serde_norway::Value;
use support::{kind, name, render};

fn migrate_job(args: &[&str]) -> Value {
    let mut all = vec!["--set", "auth.disabled=true"];
    all.extend_from_slice(args);
    render(&all).unwrap().into_iter().find(|d| kind(d) == "Job").unwrap()
}

#[test]
fn a_new_migration_job_comes_with_a_new_pod_template_and_the_same_one_stays() {
    let job = migrate_job(&[]);
    assert!(name(&job).starts_with("skybook-migrate-"), "{}", name(&job));
    assert_eq!(name(&migrate_job(&[])), name(&job), "the same manifests name the same Job");
    let upgraded = migrate_job(&["--set", "image.tag=0.2.0"]);
    assert_ne!(name(&upgraded), name(&job), "a Job's pod template is immutable: a new one is a new Job");
    let configured = migrate_job(&["--set", "resources.requests.cpu=50m"]);
    assert_ne!(name(&configured), name(&job));
    assert!(job["spec"]["ttlSecondsAfterFinished"].as_u64().is_some(), "finished Jobs do not pile up");
}

/// The chart as `helm install` renders it against a cluster holding these
/// objects: the refusals are the chart's own helper, given what `lookup`
/// would have found (a copy of the chart, with one template that hands the
/// helper these objects instead of the lookups `helm template` cannot do).
fn against_cluster(cluster: &str, args: &[&str]) -> Result<Vec<Value>, String> {
    static RENDERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = RENDERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let chart = std::env::temp_dir().join(format!("skybook-chart-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&chart);
    let copied = std::process::Command::new("cp")
        .arg("-r")
        .arg(support::root().join("helm/skybook"))
        .arg(&chart)
        .status()
        .unwrap();
    assert!(copied.success());
    std::fs::write(
        chart.join("templates/zz-cluster.yaml"),
        "{{- include \"skybook.clusterRefusals\" (dict \"root\" . \"serving\" .Values.cluster.serving \
         \"hpa\" .Values.cluster.hpa \"broker\" .Values.cluster.broker) }}\n",
    )
    .unwrap();
    let json = format!("cluster={cluster}");
    let mut all = vec!["--set", "auth.disabled=true", "--set-json", &json];
    all.extend_from_slice(args);
    let rendered = support::render_chart(&chart, &all);
    std::fs::remove_dir_all(&chart).unwrap();
    rendered
}

const SERVING: &str = r#""serving": {"metadata": {"name": "knative-serving"}}"#;
const HPA: &str = r#""hpa": {"metadata": {"name": "autoscaler-hpa", "namespace": "knative-serving"}}"#;

fn broker(class: &str) -> String {
    format!(
        r#""broker": {{"metadata": {{"name": "default", "namespace": "skybook", "annotations": {{"eventing.knative.dev/broker.class": "{class}"}}}}}}"#
    )
}

#[test]
fn the_chart_asks_the_cluster_what_the_refusals_need() {
    let broker = std::fs::read_to_string(support::root().join("helm/skybook/templates/broker.yaml")).unwrap();
    let call = broker
        .lines()
        .find(|l| l.contains("include \"skybook.clusterRefusals\""))
        .expect("broker.yaml calls it");
    for lookup in [
        r#""serving" (lookup "v1" "Namespace" "" "knative-serving")"#,
        r#""hpa" (lookup "apps/v1" "Deployment" "knative-serving" "autoscaler-hpa")"#,
        r#""broker" (lookup "eventing.knative.dev/v1" "Broker" .Release.Namespace .Values.broker.name)"#,
    ] {
        assert!(call.contains(lookup), "{call}");
    }
}

#[test]
fn the_hpa_class_is_refused_on_a_cluster_without_servings_hpa_autoscaler() {
    let hpa = ["--set", "autoscaling.class=hpa"];
    let refused = against_cluster(&format!("{{{SERVING}}}"), &hpa).unwrap_err();
    assert!(refused.contains("needs Knative Serving's HPA autoscaler"), "{refused}");
    assert!(refused.contains("HPA=1 scripts/cluster/prerequisites.sh"), "{refused}");
    let one = ["--set", "functions.get-flight.autoscaling.class=hpa"];
    assert!(against_cluster(&format!("{{{SERVING}}}"), &one).is_err(), "one function on hpa is enough");
    against_cluster(&format!("{{{SERVING}, {HPA}}}"), &hpa).unwrap();
    against_cluster(&format!("{{{SERVING}}}"), &[]).unwrap();
    // No cluster to ask (helm template, a GitOps render): nothing to refuse on.
    against_cluster("{}", &hpa).unwrap();
}

#[test]
fn a_broker_class_change_is_refused_with_how_to_move() {
    let refused =
        against_cluster(&format!("{{{SERVING}, {}}}", broker("MTChannelBasedBroker")), &[]).unwrap_err();
    assert!(refused.contains("is of class MTChannelBasedBroker"), "{refused}");
    assert!(refused.contains("kubectl delete broker default -n skybook"), "{refused}");
    against_cluster(&format!("{{{SERVING}, {}}}", broker("RabbitMQBroker")), &[]).unwrap();
    against_cluster(
        &format!("{{{SERVING}, {}}}", broker("MTChannelBasedBroker")),
        &["--set", "broker.class=MTChannelBasedBroker"],
    )
    .unwrap();
}
