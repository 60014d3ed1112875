//! What applying the manifests again meets: objects whose fields cannot
//! change are replaced by new ones instead of failing the apply.

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
