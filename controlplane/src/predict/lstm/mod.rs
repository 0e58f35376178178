//! The learned predictor: a small LSTM read from a model file and run in
//! plain Rust (no ML framework in the control plane; the trainer, behind
//! the `train` feature, uses burn).
//!
//! # Design
//!
//! - [`inputs`]: the input window and the target transform, shared with
//!   the trainer so that both build the same numbers.
//! - [`network`]: the forward pass, a few matrix-vector products per step,
//!   allocation-free after construction.
//! - [`file`](mod@file): the model file (JSON): format version, feature and
//!   normalisation spec, architecture, training record, weights; the checks
//!   that make a file corrupt or incompatible.
//! - [`calibration`]: the band's binned conformal margins, fitted on
//!   calibration files after training; [`tracker`]: their online
//!   correction per link.
//! - [`LstmPredictor`]: a model as a [`Predictor`](super::Predictor).
//!
//! The model predicts, for each of its horizons, log ratios
//! `ln((A + φ) / (L + φ))`, `A` the mean throughput over the horizon and
//! `L` the mean over the input window: the 10 % and 90 % quantiles (the
//! band, widened by margins calibrated on held-out files, around
//! the median) and a point forecast trained for the capped relative error
//! that `predict-eval` scores.

pub mod calibration;
pub mod file;
pub mod inputs;
pub mod network;
mod predictor;
pub mod tracker;

pub use predictor::{LstmPredictor, RawState, LSTM_PREDICTOR_NAME};
