//! The docs slice: the API's documentation as a page, served by a function
//! that scales to zero like the rest: every HTTP trigger's OpenAPI document
//! to read and to try from the browser, and the events on the Broker.

use shared::auth::Access;
use shared::site::{File, Site};
use shared::{Function, Spec};

/// The ce-source of this slice (it sends no events).
pub const SOURCE: &str = "/skybook/docs";

pub const SPEC: Spec = Spec::new("serve-docs", SOURCE, Access::Public).dependencies(&[]);

/// The page, its script and styles, and the API documents.
const FILES: &[File] = &[
    File {
        path: "/index.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../site/index.html"),
    },
    File {
        path: "/docs.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../site/docs.js"),
    },
    File {
        path: "/docs.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../site/docs.css"),
    },
    File {
        path: "/api.json",
        content_type: "application/json",
        body: include_bytes!(concat!(env!("OUT_DIR"), "/api.json")),
    },
];

pub fn function() -> Function {
    Function::site(SPEC, Site { files: FILES })
}

/// Every function of the slice, as its binaries serve them.
pub fn functions() -> Vec<Function> {
    vec![function()]
}
