//! The tunnel: `hookscope relay` (the public server) and the client behind `listen --relay`.
//!
//! [`protocol`] is the wire format, [`queue`] a channel's durable queue, [`clients`] the named
//! clients sharing a channel and their positions, [`status`] what `relay status` reads of the
//! data directory, [`token`] the channel
//! tokens and [`token_file`] the live view of their file, [`private`] the modes of the relay's
//! files, [`server`] the relay's HTTP side, [`connections`] its connections' limits and
//! deadlines, and [`session`] its side of one tunnel connection,
//! [`client`] the receiving end and [`dial`] its connection to the relay.

pub mod client;
pub mod clients;
pub mod connections;
pub mod dial;
pub mod private;
pub mod protocol;
pub mod queue;
pub mod server;
pub mod session;
pub mod status;
pub mod token;
pub mod token_file;
