//! The files written from the catalogue of functions (the `catalogue`
//! crate, from the functions' specs): the chart's list, skaffold.yaml,
//! docker-compose.yml and docker-bake.json. The chart renders knative/ from
//! its list, and each func.yaml follows its rendered Service (func_yaml.rs).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::bail;
pub use catalogue::Entry as Function;

/// The images besides the functions': the migration Job's and the local
/// broker's (docker-compose runs it; a cluster has a real Broker).
const MIGRATE: &str = "skybook-migrate";
const BROKER: &str = "skybook-broker";

/// The function binaries that exist: `functions/<slice>/src/bin/<name>.rs`,
/// as (slice, name).
pub fn binaries(root: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let mut found = Vec::new();
    for slice in std::fs::read_dir(root.join("functions"))? {
        let slice = slice?.path();
        let Some(slice_name) = slice.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
            continue;
        };
        let Ok(bins) = std::fs::read_dir(slice.join("src/bin")) else { continue };
        for bin in bins {
            if let Some(name) = bin?.path().file_stem().and_then(|n| n.to_str()) {
                found.push((slice_name.clone(), name.to_owned()));
            }
        }
    }
    found.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(found)
}

/// The catalogue, checked: no problem in it, each entry with its binary in
/// its slice, each binary in the catalogue.
pub fn checked(root: &Path) -> anyhow::Result<Vec<Function>> {
    let functions = catalogue::functions();
    if let Some(problem) = catalogue::problems(&functions).first() {
        bail!("the catalogue: {problem}");
    }
    let binaries = binaries(root)?;
    for function in &functions {
        if !binaries.iter().any(|(slice, name)| name == function.name() && slice == function.slice) {
            bail!(
                "{0} is in the catalogue, but there is no functions/{1}/src/bin/{0}.rs",
                function.name(),
                function.slice
            );
        }
    }
    for (slice, name) in &binaries {
        if !functions.iter().any(|f| f.name() == name) {
            bail!(
                "functions/{slice}/src/bin/{name}.rs serves a function the catalogue lacks: \
                 add it to {slice}::functions()"
            );
        }
    }
    Ok(functions)
}

/// The chart's list of functions and Triggers (`helm/skybook/files/functions.json`).
pub fn chart(functions: &[Function]) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(&catalogue::chart(functions))? + "\n")
}

const GENERATED: &str =
    "Generated from the functions' specs (the `catalogue` crate) by `cargo xtask manifests`. Do not edit.";

/// skaffold.yaml: every image, and the chart deployed with each function's
/// image as skaffold built it.
pub fn skaffold(functions: &[Function]) -> String {
    let mut images: Vec<&str> = functions.iter().map(|f| f.name()).collect();
    images.push(MIGRATE);
    let artifacts = |indent: &str, prefix: &str| {
        let mut a = format!("{indent}artifacts:\n");
        for image in &images {
            let _ = write!(
                a,
                "{indent}  - image: {prefix}{image}\n{indent}    docker:\n{indent}      dockerfile: Dockerfile\n\
                 {indent}      buildArgs:\n{indent}        FUNCTION: {image}\n"
            );
        }
        a
    };
    // skaffold names each image's reference IMAGE_FULLY_QUALIFIED_<name, non-alphanumerics as _>.
    let release = |indent: &str, prefix: &str, values: &str| {
        let var = |image: &str| format!("{prefix}{image}").replace(['-', '.', '/'], "_");
        let mut r = format!(
            "{indent}releases:\n{indent}  - name: skybook\n{indent}    chartPath: helm/skybook\n\
             {indent}    namespace: skybook\n{indent}    createNamespace: true\n{values}\
             {indent}    # Each image by its full reference, as skaffold built and tagged it.\n\
             {indent}    setValueTemplates:\n"
        );
        for f in functions {
            let _ = writeln!(
                r,
                "{indent}      functions.{}.image: \"{{{{.IMAGE_FULLY_QUALIFIED_{}}}}}\"",
                f.name(),
                var(f.name())
            );
        }
        let _ =
            writeln!(r, "{indent}      migrateImage: \"{{{{.IMAGE_FULLY_QUALIFIED_{}}}}}\"", var(MIGRATE));
        r
    };
    let mut out = format!(
        "# {GENERATED}\n# Builds every image (one Dockerfile, FUNCTION names the binary) and deploys the chart:\n\
         # `skaffold run --default-repo <registry>` (with the Secret skybook-secrets in place) or\n\
         # `skaffold dev` (auth off, debug logs), whose images stay local as dev.local/...: a name\n\
         # Knative does not resolve in a registry (registries-skipping-tag-resolving).\n\
         apiVersion: skaffold/v4beta11\nkind: Config\nmetadata:\n  name: skybook\nbuild:\n  tagPolicy:\n    gitCommit: {{}}\n\
         \x20 local:\n    useBuildkit: true\n    concurrency: 1\n"
    );
    out.push_str(&artifacts("  ", "skybook/"));
    out.push_str("deploy:\n  helm:\n");
    out.push_str(&release(
        "    ",
        "skybook/",
        "        setValues:\n          existingSecret: skybook-secrets\n",
    ));
    out.push_str("profiles:\n  - name: dev\n    activation:\n      - command: dev\n    build:\n      local:\n        push: false\n");
    out.push_str(&artifacts("      ", DEV_PREFIX));
    out.push_str("    deploy:\n      helm:\n");
    out.push_str(&release(
        "        ",
        DEV_PREFIX,
        "            setValues:\n              auth.disabled: true\n              config.RUST_LOG: debug\n              config.LOG_FORMAT: pretty\n",
    ));
    out
}

/// Where `skaffold dev` names the images it keeps local: a registry Knative
/// never resolves tags in (its default registries-skipping-tag-resolving).
const DEV_PREFIX: &str = "dev.local/skybook/";

/// docker-compose.yml: the services, the local broker and every function,
/// on ports from 8081 in the list's order.
pub fn compose(functions: &[Function]) -> String {
    let mut out = format!(
        "# {GENERATED}\n# The whole system on one Docker host: PostgreSQL, Redis, RabbitMQ, the local\n\
         # broker and every function (ports from 8081), without API keys.\n#   docker compose up --build\n\
         # With traces in Jaeger (http://localhost:16686):\n\
         #   OTEL_EXPORTER_OTLP_ENDPOINT=http://jaeger:4318 docker compose --profile tracing up --build\n\
         name: skybook\n\nx-function: &function\n  read_only: true\n  user: \"65532:65532\"\n\
         \x20 security_opt: [\"no-new-privileges:true\"]\n  cap_drop: [ALL]\n  environment:\n\
         \x20   DATABASE_URL: postgres://postgres:postgres@postgres:5432/skybook\n\
         \x20   DB_POOL_MODE: session\n    REDIS_URL: redis://redis:6379\n\
         \x20   K_SINK: http://broker:8080/skybook/default\n    GROQ_API_KEY: ${{GROQ_API_KEY:-}}\n\
         \x20   AUTH_API_KEYS: ${{AUTH_API_KEYS:-}}\n    AUTH_DISABLED: ${{AUTH_DISABLED:-true}}\n\
         \x20   EVENT_SIGNING_KEYS: ${{EVENT_SIGNING_KEYS:-}}\n\
         \x20   LOG_FORMAT: pretty\n    RUST_LOG: info\n\
         \x20   OTEL_EXPORTER_OTLP_ENDPOINT: ${{OTEL_EXPORTER_OTLP_ENDPOINT:-}}\n  depends_on:\n    migrate:\n\
         \x20     condition: service_completed_successfully\n    redis:\n      condition: service_healthy\n\n\
         services:\n"
    );
    out.push_str(
        "  postgres:\n    image: postgres:16\n    environment:\n      POSTGRES_PASSWORD: postgres\n      POSTGRES_DB: skybook\n\
         \x20   healthcheck:\n      test: [\"CMD\", \"pg_isready\", \"-U\", \"postgres\"]\n      interval: 2s\n      retries: 30\n\n\
         \x20 redis:\n    image: redis:7\n    # The stats survive a restart: an append-only file, fsynced every second.\n    \
         command: [\"redis-server\", \"--appendonly\", \"yes\", \"--appendfsync\", \"everysec\"]\n    volumes: [\"redis:/data\"]\n    healthcheck:\n      test: [\"CMD\", \"redis-cli\", \"ping\"]\n      interval: 2s\n      retries: 30\n\n\
         \x20 rabbitmq:\n    image: rabbitmq:3.13\n    environment:\n      RABBITMQ_DEFAULT_USER: skybook\n      RABBITMQ_DEFAULT_PASS: skybook\n\
         \x20   healthcheck:\n      test: [\"CMD\", \"rabbitmq-diagnostics\", \"-q\", \"ping\"]\n      interval: 5s\n      retries: 30\n\n\
         \x20 jaeger:\n    image: jaegertracing/jaeger:2.1.0\n    profiles: [tracing]\n    ports: [\"16686:16686\", \"4318:4318\"]\n\n",
    );
    let _ = write!(
        out,
        "  migrate:\n    build:\n      context: .\n      args:\n        FUNCTION: {MIGRATE}\n    environment:\n\
         \x20     DATABASE_URL: postgres://postgres:postgres@postgres:5432/skybook\n    depends_on:\n      postgres:\n\
         \x20       condition: service_healthy\n\n  broker:\n    build:\n      context: .\n      args:\n        FUNCTION: {BROKER}\n\
         \x20   read_only: true\n    user: \"65532:65532\"\n"
    );
    let services: Vec<String> = functions.iter().map(|f| format!("{0}=http://{0}:8080", f.name())).collect();
    let _ = write!(
        out,
        "    environment:\n      BROKER_MANIFESTS: /knative\n      BROKER_SERVICES: >-\n        {}\n",
        services.join(",\n        ")
    );
    out.push_str(
        "      AMQP_URL: amqp://skybook:skybook@rabbitmq:5672/%2f\n\
         \x20     OTEL_EXPORTER_OTLP_ENDPOINT: ${OTEL_EXPORTER_OTLP_ENDPOINT:-}\n    volumes:\n      - ./knative:/knative:ro\n\
         \x20   depends_on:\n      rabbitmq:\n        condition: service_healthy\n",
    );
    // The broker after the functions, as in the local stack.
    let _ = writeln!(out, "    ports: [\"{}:8080\"]", 8081 + functions.len());
    for (i, f) in functions.iter().enumerate() {
        let _ = write!(
            out,
            "\n  {0}:\n    <<: *function\n    build:\n      context: .\n      args:\n        FUNCTION: {0}\n    ports: [\"{1}:8080\"]\n",
            f.name(),
            8081 + i
        );
    }
    out.push_str("\nvolumes:\n  redis: {}\n");
    out
}

/// docker-bake.json: every image as one bake target of the one Dockerfile,
/// so `docker buildx bake` compiles the workspace once for all of them.
pub fn bake(functions: &[Function]) -> anyhow::Result<String> {
    let mut images: Vec<&str> = functions.iter().map(|f| f.name()).collect();
    images.extend([MIGRATE, BROKER]);
    let mut targets = serde_json::Map::new();
    for image in &images {
        targets.insert(
            (*image).to_owned(),
            serde_json::json!({
                "context": ".",
                "dockerfile": "Dockerfile",
                "args": { "FUNCTION": image },
                "tags": [format!("${{REPOSITORY}}/{image}:${{TAG}}")],
            }),
        );
    }
    let bake = serde_json::json!({
        "variable": {
            "REPOSITORY": { "default": "skybook" },
            "TAG": { "default": "dev" },
        },
        "group": { "default": { "targets": images } },
        "target": targets,
    });
    Ok(serde_json::to_string_pretty(&bake)? + "\n")
}
