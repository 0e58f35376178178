//! The LSTM as a burn module, for training; converted to and from the
//! model file's weights (gate order `i, f, g, o`, like the plain-Rust
//! forward pass in [`lstm::network`](crate::predict::lstm::network)).

use super::rng::SplitMix64;
use crate::predict::lstm::file::{HeadEntry, LayerEntry, WeightsEntry, OUTPUTS_PER_HORIZON};
use burn::module::{Module, Param};
use burn::tensor::activation::{relu, sigmoid, softplus, tanh};
use burn::tensor::{Device, Tensor, TensorData};

/// One LSTM layer: `z = x · w_input + h · w_hidden + bias` (weights stored
/// transposed from the file's `4H × I` rows, for the matrix products).
#[derive(Module, Debug)]
pub struct LayerModule {
    /// `I × 4H`.
    pub w_input: Param<Tensor<2>>,
    /// `H × 4H`.
    pub w_hidden: Param<Tensor<2>>,
    /// `4H`.
    pub bias: Param<Tensor<1>>,
}

/// The stacked LSTM and its head.
#[derive(Module, Debug)]
pub struct LstmNet {
    /// The LSTM layers, first to last.
    pub layers: Vec<LayerModule>,
    /// `H × outputs`.
    pub head_weight: Param<Tensor<2>>,
    /// `outputs`.
    pub head_bias: Param<Tensor<1>>,
    /// Hidden units per layer.
    pub hidden: usize,
}

/// A `rows × cols` tensor from row-major values.
fn matrix(values: Vec<f32>, rows: usize, cols: usize, device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values, [rows, cols]), device)
}

fn vector(values: Vec<f32>, device: &Device) -> Tensor<1> {
    let len = values.len();
    Tensor::from_data(TensorData::new(values, [len]), device)
}

/// Row-major values of a tensor.
fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .try_into_vec::<f32>()
        .expect("a float tensor reads as f32")
}

/// `rows` of `cols` values, transposed: `cols` rows of `rows` values.
fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<Vec<f32>> {
    (0..cols)
        .map(|c| (0..rows).map(|r| values[r * cols + c]).collect())
        .collect()
}

/// The bias of the forget gate at initialisation: 1, so that a fresh
/// network remembers by default (Jozefowicz et al., 2015).
pub const FORGET_BIAS_INIT: f32 = 1.0;

impl LstmNet {
    /// A network with `inputs` inputs, `layers` layers of `hidden` units
    /// and `outputs` outputs, its weights uniform in `±1/√hidden` drawn
    /// from `rng` (PyTorch's LSTM initialisation) and the forget bias at
    /// [`FORGET_BIAS_INIT`].
    pub fn init(
        inputs: usize,
        layers: usize,
        hidden: usize,
        outputs: usize,
        rng: &mut SplitMix64,
        device: &Device,
    ) -> Self {
        // √hidden of a few hundred units is exact enough in f32.
        #[allow(clippy::cast_possible_truncation)]
        let bound = (1.0 / (hidden as f64).sqrt()) as f32;
        let mut draw =
            |count: usize| -> Vec<f32> { (0..count).map(|_| rng.uniform_f32(bound)).collect() };
        let mut entries = Vec::with_capacity(layers);
        let mut width = inputs;
        for _ in 0..layers {
            let w_input = draw(4 * hidden * width);
            let w_hidden = draw(4 * hidden * hidden);
            let mut bias = draw(4 * hidden);
            for b in &mut bias[hidden..2 * hidden] {
                *b = FORGET_BIAS_INIT;
            }
            entries.push(LayerEntry {
                w_input: w_input.chunks(width).map(<[f32]>::to_vec).collect(),
                w_hidden: w_hidden.chunks(hidden).map(<[f32]>::to_vec).collect(),
                bias,
            });
            width = hidden;
        }
        let head = HeadEntry {
            weight: draw(outputs * hidden)
                .chunks(hidden)
                .map(<[f32]>::to_vec)
                .collect(),
            bias: vec![0.0; outputs],
        };
        Self::from_weights(
            &WeightsEntry {
                layers: entries,
                head,
            },
            device,
        )
    }

    /// The network with the weights of a model file.
    pub fn from_weights(weights: &WeightsEntry, device: &Device) -> Self {
        let hidden = weights.layers[0].w_hidden[0].len();
        let layers = weights
            .layers
            .iter()
            .map(|layer| {
                let rows = layer.w_input.len();
                let inputs = layer.w_input[0].len();
                let flat_in: Vec<f32> = layer.w_input.iter().flatten().copied().collect();
                let flat_hidden: Vec<f32> = layer.w_hidden.iter().flatten().copied().collect();
                let w_input = transpose(&flat_in, rows, inputs).concat();
                let w_hidden = transpose(&flat_hidden, rows, hidden).concat();
                LayerModule {
                    w_input: Param::from_tensor(matrix(w_input, inputs, rows, device)),
                    w_hidden: Param::from_tensor(matrix(w_hidden, hidden, rows, device)),
                    bias: Param::from_tensor(vector(layer.bias.clone(), device)),
                }
            })
            .collect();
        let outputs = weights.head.weight.len();
        let flat_head: Vec<f32> = weights.head.weight.iter().flatten().copied().collect();
        let head_weight = transpose(&flat_head, outputs, hidden).concat();
        Self {
            layers,
            head_weight: Param::from_tensor(matrix(head_weight, hidden, outputs, device)),
            head_bias: Param::from_tensor(vector(weights.head.bias.clone(), device)),
            hidden,
        }
    }

    /// The weights as a model file stores them.
    pub fn to_weights(&self) -> WeightsEntry {
        let h = self.hidden;
        let layers = self
            .layers
            .iter()
            .map(|layer| {
                let [inputs, rows] = layer.w_input.val().dims();
                LayerEntry {
                    w_input: transpose(&values(layer.w_input.val()), inputs, rows),
                    w_hidden: transpose(&values(layer.w_hidden.val()), h, rows),
                    bias: values(layer.bias.val()),
                }
            })
            .collect();
        let [_, outputs] = self.head_weight.val().dims();
        WeightsEntry {
            layers,
            head: HeadEntry {
                weight: transpose(&values(self.head_weight.val()), h, outputs),
                bias: values(self.head_bias.val()),
            },
        }
    }

    /// The head's outputs after running over `input` (`[batch, steps,
    /// inputs]`) from a zero state: `[batch, outputs]`.
    pub fn forward(&self, input: Tensor<3>) -> Tensor<2> {
        let [batch, steps, _] = input.dims();
        let h = self.hidden;
        let device = input.device();
        let mut sequence = input;
        let mut last_hidden = Tensor::<2>::zeros([batch, h], &device);
        let layer_count = self.layers.len();
        for (index, layer) in self.layers.iter().enumerate() {
            let [_, _, width] = sequence.dims();
            let projected = sequence
                .reshape([batch * steps, width])
                .matmul(layer.w_input.val())
                .add(layer.bias.val().unsqueeze::<2>())
                .reshape([batch, steps, 4 * h]);
            let mut hidden = Tensor::<2>::zeros([batch, h], &device);
            let mut cell = Tensor::<2>::zeros([batch, h], &device);
            let keep_all = index + 1 < layer_count;
            let mut outputs = Vec::with_capacity(if keep_all { steps } else { 0 });
            for (step, x) in projected.iter_dim(1).enumerate() {
                let x = x.reshape([batch, 4 * h]);
                let z = if step == 0 {
                    x
                } else {
                    x + hidden.clone().matmul(layer.w_hidden.val())
                };
                let i = sigmoid(z.clone().narrow(1, 0, h));
                let f = sigmoid(z.clone().narrow(1, h, h));
                let g = tanh(z.clone().narrow(1, 2 * h, h));
                let o = sigmoid(z.narrow(1, 3 * h, h));
                cell = f * cell + i * g;
                hidden = o * tanh(cell.clone());
                if keep_all {
                    outputs.push(hidden.clone());
                }
            }
            if !keep_all {
                last_hidden = hidden;
                break;
            }
            sequence = Tensor::stack(outputs, 1);
        }
        last_hidden
            .matmul(self.head_weight.val())
            .add(self.head_bias.val().unsqueeze::<2>())
    }
}

/// Per horizon the log ratios `[lower, median, upper, point]` from the
/// head's outputs `[batch, horizons × 4]` (`lower = m − softplus(a)`,
/// `upper = m + softplus(b)`).
pub fn split_outputs(outputs: Tensor<2>, horizons: usize) -> [Tensor<2>; 4] {
    let [batch, _] = outputs.dims();
    let grouped = outputs.reshape([batch, horizons, OUTPUTS_PER_HORIZON]);
    let take = |k: usize| grouped.clone().narrow(2, k, 1).reshape([batch, horizons]);
    let (a, m, b, point) = (take(0), take(1), take(2), take(3));
    let lower = m.clone() - softplus(a, 1.0);
    let upper = m.clone() + softplus(b, 1.0);
    [lower, m, upper, point]
}

/// The pinball loss of `quantiles` (`[batch, horizons]` each, at levels
/// `levels`) against `targets`, averaged over the unmasked entries and
/// summed over the quantiles.
pub fn pinball_loss(
    quantiles: [Tensor<2>; 3],
    levels: [f64; 3],
    targets: Tensor<2>,
    mask: Tensor<2>,
) -> Tensor<1> {
    let count = mask.clone().sum().clamp_min(1.0);
    let mut total: Option<Tensor<1>> = None;
    for (q, tau) in quantiles.into_iter().zip(levels) {
        let under = relu(targets.clone() - q.clone()).mul_scalar(tau);
        let over = relu(q - targets.clone()).mul_scalar(1.0 - tau);
        let term = ((under + over) * mask.clone()).sum();
        total = Some(match total {
            Some(t) => t + term,
            None => term,
        });
    }
    total.expect("three quantiles") / count
}

/// The mean capped relative error `min(1, |P − A| / A)` of the point
/// forecasts (log ratios `point`, `[batch, horizons]`) against the
/// outcomes `actual_mbps`, with `P = scale · e^point − φ`, `scale` the
/// window's level plus `φ` (`[batch, 1]`); over the unmasked entries.
/// An outcome of 0 contributes the cap, without gradient.
pub fn relative_error_loss(
    point: Tensor<2>,
    scale: Tensor<2>,
    floor_mbps: f64,
    actual_mbps: Tensor<2>,
    mask: Tensor<2>,
) -> Tensor<1> {
    let count = mask.clone().sum().clamp_min(1.0);
    let predicted = (point.exp() * scale).sub_scalar(floor_mbps);
    let relative = (predicted - actual_mbps.clone()).abs() / actual_mbps.clamp_min(1e-9);
    (relative.clamp_max(1.0) * mask).sum() / count
}
