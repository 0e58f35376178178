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
//!
//! VM placement on that core (docs/placement.md §6):
//!
//! - [`model::ClusterModel`] is the model as callers write it (JSON);
//!   [`cluster::Cluster`] checks it, and every infeasibility is an
//!   [`error::PlacementError`] naming the constraint.
//! - [`placer::place`] places every VM: regions by the partitioner, then
//!   hosts by recursive bisection, with `bins::BinSpace` enforcing every
//!   constraint; [`quality`] computes the figures of §2; [`greedy`] is the
//!   baseline; [`single::place_vm`] places one new VM.
//! - [`rebalance::rebalance`] proposes migrations after a traffic change,
//!   with hysteresis.
//! - [`generator`] and [`scenario`] are `dwcp-controlplane place-scenario`
//!   ([`scenario_command`] its flags).

pub(crate) mod bins;
pub mod cluster;
pub mod command;
pub mod error;
pub mod eval;
pub mod generator;
pub mod graph;
pub mod greedy;
pub mod metis;
pub mod model;
pub mod partition;
pub mod placer;
pub mod quality;
pub mod rebalance;
#[cfg(test)]
mod rebalance_tests;
pub mod rng;
pub mod scenario;
pub mod scenario_command;
pub mod single;
pub mod traffic;
pub(crate) mod units;
