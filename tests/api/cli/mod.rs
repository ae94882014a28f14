//! The command line (`API.md`, "Command line", "Limits and behaviour under
//! load", "Storage"), tested on the real `user-api` binary started as a child
//! process in its own temporary directory: flags and their environment
//! variables, startup failures, signals and `kill -9` can only be seen there.
//!
//! `harness.rs` is the child-process harness (`support/` belongs to the
//! in-process suite); the tests sit in one file per part of the command line.

mod admin;
mod backup;
mod crash;
mod environment;
mod flood;
mod hashing;
mod help;
mod logs;
mod migrate;
mod openapi;
mod shutdown;
mod startup;

mod harness;

use harness::*;
