//! hookscope: catch, verify, inspect and replay webhooks on a developer's machine.
//!
//! The library holds everything; `main.rs` only parses the command line. The pure parts
//! ([`capture`], [`codec`], [`sanitize`], [`tap`]'s scanner, [`units`]) know nothing of sockets
//! or terminals; [`server`], [`journal`] and [`hub`] are the capture pipeline; [`forward`] and [`replay`]
//! deliver captures to the local app; [`commands`] is
//! the glue behind each subcommand.
#![forbid(unsafe_code)]

pub mod analysis;
pub mod attempt;
pub mod capture;
pub mod cli;
pub mod codec;
pub mod commands;
pub mod config;
pub mod export;
pub mod filter;
pub mod forward;
pub mod handshake;
pub mod headless;
pub mod http_client;
pub mod hub;
pub mod journal;
pub(crate) mod limits;
pub mod provider;
pub mod public;
pub mod register;
pub mod relay;
pub mod replay;
pub mod routes;
pub mod sample;
pub mod sanitize;
pub mod server;
pub mod smee;
pub mod summary;
pub mod tap;
pub mod tls;
pub mod tui;
pub mod units;
pub mod verify;

/// Helpers shared by the unit tests.
#[cfg(test)]
pub(crate) mod testing {
    /// A deterministic pseudo-random pick from `alphabet` (xorshift), so failures reproduce.
    pub(crate) fn pick<T: Copy>(state: &mut u64, alphabet: &[T]) -> T {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        alphabet[(*state % alphabet.len() as u64) as usize]
    }
}
