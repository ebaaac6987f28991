//! The subcommands' glue: each turns parsed arguments into a running job.

pub mod export;
pub mod keygen;
pub mod listen;
pub mod log;
pub mod open;
pub mod providers;
pub mod relay;
pub mod replay;
pub mod send;
pub mod verify;
