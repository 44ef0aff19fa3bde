//! One module per command, each with its flags and its `run`. Commands never import each other:
//! what two of them share is an argument group in [`args`](crate::args), an error mapping in
//! [`exit`](crate::exit) or a formatter in [`output`](crate::output).

pub mod agent;
pub mod audit;
pub mod chaos;
pub mod dashboard;
pub mod demo;
pub mod diagnose;
pub mod eval;
pub mod load;
pub mod monitor;
pub mod stack;
pub mod tickets;
