//! The web slice: the app people use (search flights, book, their bookings,
//! the stats), a TypeScript page in `app/` that Vite builds into `app/dist`
//! (`cargo xtask manifests`), served by a function that scales to zero like
//! the rest. It calls the functions from the browser, at the URLs
//! `/config.json` gives it, signed in with the OIDC provider they trust.

use shared::auth::Access;
use shared::site::{File, Site};
use shared::{Function, Spec};

/// The ce-source of this slice (it sends no events).
pub const SOURCE: &str = "/skybook/web";

pub const SPEC: Spec = Spec::new("serve-web", SOURCE, Access::Public).dependencies(&[]);

/// The built app, under the fixed names `app/vite.config.ts` gives it.
const FILES: &[File] = &[
    File {
        path: "/index.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../app/dist/index.html"),
    },
    File {
        path: "/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../app/dist/app.js"),
    },
    File {
        path: "/index.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../app/dist/index.css"),
    },
];

pub fn function() -> Function {
    Function::site(SPEC, Site { files: FILES })
}

/// Every function of the slice, as its binaries serve them.
pub fn functions() -> Vec<Function> {
    vec![function()]
}
