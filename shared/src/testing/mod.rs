//! Test support for the slices: a fresh database per test, a function served
//! on a random port over real HTTP, a sink standing in for the broker, a TCP
//! proxy a test can cut, and binaries run as processes.

mod app;
mod db;
pub mod issuer;
mod process;
mod proxy;
mod redis;
mod sign_in;
mod sink;

pub use app::{ReadResponse, TestApp, TestResponse, binary_event};
pub use cloudevents;
pub use db::{TestDb, pooler};
pub use issuer::{Issuer, Signer};
pub use process::{
    Launch, Output, TestProcess, binary, free_port, free_port_from, kill, stop, wait_listening,
};
pub use proxy::{TcpProxy, postgres_addr};
pub use redis::{TestRedis, redis_addr};
pub use sink::{Received, TestSink, closed_url};
