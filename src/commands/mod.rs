//! The subcommands' glue: each turns parsed arguments into a running job.

pub mod listen;
pub mod log;
