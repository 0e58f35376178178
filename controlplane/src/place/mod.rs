//! VM placement: which VMs run in which region and on which host, so that
//! little traffic crosses the WAN (docs/placement.md).
//!
//! # Design
//!
//! A pure core: no I/O and no clock in the algorithms, and the same inputs
//! and seed give the same answer.
//!
//! - [`graph::Graph`] is an undirected weighted graph in CSR arrays;
//!   [`metis`] reads and writes the METIS file format.
//! - [`partition`] is the multilevel k-way partitioner (heavy-edge matching,
//!   recursive-bisection initial partition, k-way FM refinement) behind
//!   [`partition::partition_graph`].
//! - [`eval`] is `dwcp-controlplane place-eval` ([`command`] its flags): read a METIS graph,
//!   partition it, report one JSON line.
//! - [`traffic::TrafficGraph`] holds tasks and directed traffic (petgraph),
//!   finds strongly connected components (Tarjan) and contracts groups that
//!   must stay together into the undirected graph the partitioner takes.
//! - [`rng::PlaceRng`] is the seeded generator every random choice uses.

pub mod command;
pub mod eval;
pub mod graph;
pub mod metis;
pub mod partition;
pub mod rng;
pub mod traffic;
