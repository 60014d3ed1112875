//! The local stack's identity provider: an OIDC issuer (discovery and JWKS)
//! of a development key kept in `target/devstack/`, so the functions check
//! real signed tokens locally as they do in a cluster; and `cargo xtask
//! token`, which mints one for a subject and its roles.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use shared::testing::{Issuer, Signer, issuer::AUDIENCE};

/// The key's id: one key, kept across restarts so tokens outlive them.
const KID: &str = "skybook-dev-1";

#[derive(clap::Args)]
pub struct TokenArgs {
    /// The token's subject: whose bookings it reads and makes.
    #[arg(long)]
    sub: String,
    /// A role (passenger, agent, admin, operator); repeat for several.
    #[arg(long = "role", required = true)]
    roles: Vec<String>,
    /// Seconds until it expires.
    #[arg(long, default_value_t = 3600)]
    ttl: u64,
}

fn key_path(root: &Path) -> PathBuf {
    root.join("target/devstack/issuer-es256.p8")
}

/// The development key: the one on disk, or a new one written there.
fn signer(root: &Path) -> anyhow::Result<Signer> {
    let path = key_path(root);
    if let Ok(der) = std::fs::read(&path) {
        return Signer::es256_from_pkcs8(KID, &der)
            .map_err(anyhow::Error::msg)
            .context(path.display().to_string());
    }
    let signer = Signer::es256(KID);
    std::fs::create_dir_all(path.parent().context("a parent")?)?;
    std::fs::write(&path, signer.pkcs8().context("an ES256 key")?)?;
    Ok(signer)
}

/// Serves the issuer on `port` for as long as this process runs; its URL.
pub fn serve(root: &Path, port: u16) -> anyhow::Result<String> {
    let signer = signer(root)?;
    crate::services::on_own_thread(move |ready| async move {
        let served = Issuer::serve(vec![signer], ([127, 0, 0, 1], port).into()).await;
        let _ = ready.send(served.map(|issuer| issuer.url).map_err(|e| e.to_string()));
        std::future::pending::<()>().await;
    })
}

/// A token of the development issuer for `sub` with `roles`, valid `ttl` seconds.
pub fn mint(root: &Path, issuer: &str, sub: &str, roles: &[&str], ttl: u64) -> anyhow::Result<String> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let claims = serde_json::json!({
        "iss": issuer, "aud": AUDIENCE, "sub": sub, "roles": roles,
        "iat": now, "nbf": now, "exp": now + ttl,
    });
    Ok(signer(root)?.sign(&claims))
}

/// `cargo xtask token`: prints a token of the running local stack's issuer.
pub fn token(args: TokenArgs) -> anyhow::Result<()> {
    let root = crate::services::workspace_root();
    let urls = root.join("target/devstack/urls.json");
    let text = std::fs::read_to_string(&urls)
        .with_context(|| format!("{}: start the local stack first (cargo xtask dev)", urls.display()))?;
    let urls: serde_json::Value = serde_json::from_str(&text)?;
    let issuer = urls["issuer"].as_str().context("the local stack runs no issuer")?;
    for role in &args.roles {
        anyhow::ensure!(
            shared::auth::Role::parse(role).is_some(),
            "{role} is not a role: passenger, agent, admin or operator"
        );
    }
    let roles: Vec<&str> = args.roles.iter().map(String::as_str).collect();
    println!("{}", mint(&root, issuer, &args.sub, &roles, args.ttl)?);
    Ok(())
}
