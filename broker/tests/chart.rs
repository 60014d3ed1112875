//! The chart's Triggers for every broker class it deploys, rendered by helm
//! and read by the local broker's own manifest reader (which refuses an
//! unknown field or filter dialect): each routes its event type, and with
//! the classes that read `filters`, only from the type's own source.

use std::path::{Path, PathBuf};
use std::process::Command;

use broker::manifest::Routing;
use cloudevents::{Event, EventBuilder, EventBuilderV10};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The chart rendered with `ci/<values>-values.yaml`, into a directory of its own.
fn render(values: &str) -> PathBuf {
    let helm = root().join("target/tools/bin/helm");
    assert!(helm.exists(), "helm is not installed: run scripts/tools.sh (cargo xtask test does)");
    let out = std::env::temp_dir().join(format!("skybook-chart-{values}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let status = Command::new(helm)
        .args(["template", "skybook", "helm/skybook", "--namespace", "skybook", "--values"])
        .arg(format!("helm/skybook/ci/{values}-values.yaml"))
        .arg("--output-dir")
        .arg(&out)
        .current_dir(root())
        .status()
        .expect("helm runs");
    assert!(status.success(), "helm template with {values}-values.yaml");
    out
}

fn event(ty: &str, source: &str) -> Event {
    EventBuilderV10::new().id("1").source(source).ty(ty).build().expect("an event")
}

fn routing(dir: &Path) -> Routing {
    Routing::load(dir).unwrap_or_else(|e| panic!("the local broker cannot read {}: {e:#}", dir.display()))
}

#[test]
fn every_broker_class_routes_each_type_and_the_filtering_classes_only_from_its_source() {
    for (values, by_source) in [("knative", false), ("kafka", true), ("channel", true), ("oidc", true)] {
        let dir = render(values);
        let routing = routing(&dir);
        // The Triggers the catalogue derives from the specs, each by name.
        let expected = catalogue::triggers(&catalogue::functions());
        assert_eq!(routing.triggers.len(), expected.len(), "{values}: a Trigger per consumer and type");
        for trigger in &routing.triggers {
            let (ty, source) = match expected.iter().find(|t| t.name == trigger.name) {
                Some(t) => (t.ty, t.source),
                None => panic!("{values}: an unexpected Trigger {}", trigger.name),
            };
            assert!(trigger.filter.matches(&event(ty, source)), "{values}: {} routes {ty}", trigger.name);
            assert!(
                !trigger.filter.matches(&event("skybook.other", source)),
                "{values}: {} only {ty}",
                trigger.name
            );
            assert_eq!(
                trigger.filter.matches(&event(ty, "/forged")),
                !by_source,
                "{values}: {} and a {ty} from another source",
                trigger.name
            );
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
