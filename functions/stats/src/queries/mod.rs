//! Queries: the functions that read the stats.

pub mod get_stats;
