//! `LstmNetwork`: the forward pass of a stacked LSTM and a linear head,
//! in plain Rust, allocation-free after construction.
//!
//! # Layout
//!
//! A layer with `I` inputs and `H` hidden units has gates in the order
//! input `i`, forget `f`, cell `g`, output `o` (PyTorch's order):
//! `w_input` is `4H × I`, `w_hidden` is `4H × H`, `bias` is `4H`, rows
//! `k·H .. (k+1)·H` belonging to gate `k`. Per step, with `x` the input and
//! `h`, `c` the state (zero at the start of a window):
//!
//! ```text
//! z = w_input · x + w_hidden · h + bias
//! i = σ(z_i)   f = σ(z_f)   g = tanh(z_g)   o = σ(z_o)
//! c ← f ⊙ c + i ⊙ g        h ← o ⊙ tanh(c)
//! ```
//!
//! Layer `l + 1` reads layer `l`'s `h`. After the last step the head
//! computes `out = w_head · h_top + b_head`.

/// The weights of one LSTM layer (module documentation for the layout).
#[derive(Debug, Clone, PartialEq)]
pub struct LayerWeights {
    /// Inputs per step.
    pub inputs: usize,
    /// Hidden units.
    pub hidden: usize,
    /// `4H × I`, row-major.
    pub w_input: Vec<f32>,
    /// `4H × H`, row-major.
    pub w_hidden: Vec<f32>,
    /// `4H`.
    pub bias: Vec<f32>,
}

/// The output layer: `outputs × hidden` weights and `outputs` biases.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadWeights {
    /// Outputs.
    pub outputs: usize,
    /// `outputs × hidden`, row-major.
    pub weight: Vec<f32>,
    /// `outputs`.
    pub bias: Vec<f32>,
}

/// One layer, with `[w_input | w_hidden]` joined and stored by column:
/// `columns[j]` holds the `4H` weights of input `j` of `[x; h]`, so a step
/// is `z = bias + Σ_j columns[j] · xh[j]`, a sum of independent lanes the
/// compiler vectorises.
#[derive(Debug, Clone)]
struct Layer {
    inputs: usize,
    hidden: usize,
    /// `(I + H) × 4H`.
    columns: Vec<f32>,
    bias: Vec<f32>,
    /// `[x; h]` of the current step.
    xh: Vec<f32>,
    /// `z`, then the activated gates.
    gates: Vec<f32>,
    cell: Vec<f32>,
}

/// A stacked LSTM with a linear head over its last hidden state.
#[derive(Debug, Clone)]
pub struct LstmNetwork {
    layers: Vec<Layer>,
    head: HeadWeights,
    output: Vec<f32>,
}

/// Weights whose shapes do not fit together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ShapeError(pub String);

/// `e^x` for `x` in about `[-87, 88]` (clamped there), within 2e-7
/// relative of the exact value: Cephes' `expf` (a degree-6 polynomial on
/// `[-ln 2 / 2, ln 2 / 2]` and a power of two), branch-free so that the
/// loops over a layer's gates vectorise.
#[inline(always)]
fn exp_approx(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    /// 1.5 × 2^23: adding and subtracting it rounds to the nearest whole.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let n = (x * LOG2_E + ROUND) - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    // n is a whole number in -126..=127 (x is clamped), so the biased
    // exponent is in 1..=254.
    #[allow(clippy::cast_possible_truncation)]
    let biased = (n as i32 + 127) as u32;
    y * f32::from_bits(biased << 23)
}

/// The logistic function.
#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp_approx(-x))
}

/// `tanh(x) = 2 σ(2x) − 1` (absolute error under 1e-6).
#[inline(always)]
fn tanh(x: f32) -> f32 {
    2.0 / (1.0 + exp_approx(-2.0 * x)) - 1.0
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl LstmNetwork {
    /// A network of `layers` (first to last) and `head`.
    pub fn new(layers: Vec<LayerWeights>, head: HeadWeights) -> Result<Self, ShapeError> {
        let Some(first) = layers.first() else {
            return Err(ShapeError("no LSTM layer".into()));
        };
        let mut expected_inputs = first.inputs;
        let mut built = Vec::with_capacity(layers.len());
        for (index, layer) in layers.into_iter().enumerate() {
            let (i, h) = (layer.inputs, layer.hidden);
            let shape = |what: &str, got: usize, want: usize| {
                ShapeError(format!(
                    "layer {index}: {what} has {got} values, expected {want}"
                ))
            };
            if i == 0 || h == 0 || i != expected_inputs {
                return Err(ShapeError(format!(
                    "layer {index}: {i} inputs and {h} hidden units, expected {expected_inputs} \
                     inputs and at least one unit"
                )));
            }
            if layer.w_input.len() != 4 * h * i {
                return Err(shape("w_input", layer.w_input.len(), 4 * h * i));
            }
            if layer.w_hidden.len() != 4 * h * h {
                return Err(shape("w_hidden", layer.w_hidden.len(), 4 * h * h));
            }
            if layer.bias.len() != 4 * h {
                return Err(shape("bias", layer.bias.len(), 4 * h));
            }
            let mut columns = Vec::with_capacity(4 * h * (i + h));
            for column in 0..i {
                columns.extend((0..4 * h).map(|row| layer.w_input[row * i + column]));
            }
            for column in 0..h {
                columns.extend((0..4 * h).map(|row| layer.w_hidden[row * h + column]));
            }
            built.push(Layer {
                inputs: i,
                hidden: h,
                columns,
                bias: layer.bias,
                xh: vec![0.0; i + h],
                gates: vec![0.0; 4 * h],
                cell: vec![0.0; h],
            });
            expected_inputs = h;
        }
        if head.outputs == 0
            || head.weight.len() != head.outputs * expected_inputs
            || head.bias.len() != head.outputs
        {
            return Err(ShapeError(format!(
                "head: {} weights and {} biases for {} outputs over {expected_inputs} hidden units",
                head.weight.len(),
                head.bias.len(),
                head.outputs
            )));
        }
        let output = vec![0.0; head.outputs];
        Ok(Self {
            layers: built,
            head,
            output,
        })
    }

    /// Inputs per step.
    pub fn inputs(&self) -> usize {
        self.layers[0].inputs
    }

    /// Outputs of the head.
    pub fn outputs(&self) -> usize {
        self.head.outputs
    }

    /// Runs the network from a zero state over `sequence` (steps of
    /// [`inputs`](Self::inputs) values, oldest first) and returns the
    /// head's outputs.
    ///
    /// # Panics
    /// If `sequence` is empty or not a whole number of steps.
    pub fn forward(&mut self, sequence: &[f32]) -> &[f32] {
        let width = self.inputs();
        assert!(
            !sequence.is_empty() && sequence.len().is_multiple_of(width),
            "a sequence of {} values for {width} inputs per step",
            sequence.len()
        );
        for layer in &mut self.layers {
            layer.xh.fill(0.0);
            layer.cell.fill(0.0);
        }
        for step in sequence.chunks_exact(width) {
            let (first, rest) = self.layers.split_at_mut(1);
            first[0].xh[..width].copy_from_slice(step);
            first[0].step();
            let mut below = &first[0];
            for layer in rest {
                let i = layer.inputs;
                layer.xh[..i].copy_from_slice(below.hidden_state());
                layer.step();
                below = layer;
            }
        }
        let top = self
            .layers
            .last()
            .expect("at least one layer")
            .hidden_state();
        let hidden = top.len();
        for ((out, row), bias) in self
            .output
            .iter_mut()
            .zip(self.head.weight.chunks_exact(hidden))
            .zip(&self.head.bias)
        {
            *out = dot(row, top) + bias;
        }
        &self.output
    }
}

impl Layer {
    /// The hidden state `h` (kept in the tail of `xh` for the next step).
    fn hidden_state(&self) -> &[f32] {
        &self.xh[self.inputs..]
    }

    /// One step with the input already in `xh[..inputs]`.
    fn step(&mut self) {
        let h = self.hidden;
        self.gates.copy_from_slice(&self.bias);
        for (column, &x) in self.columns.chunks_exact(4 * h).zip(&self.xh) {
            for (z, w) in self.gates.iter_mut().zip(column) {
                *z += w * x;
            }
        }
        let (i_gate, rest) = self.gates.split_at_mut(h);
        let (f_gate, rest) = rest.split_at_mut(h);
        let (g_gate, o_gate) = rest.split_at_mut(h);
        for z in i_gate
            .iter_mut()
            .chain(f_gate.iter_mut())
            .chain(o_gate.iter_mut())
        {
            *z = sigmoid(*z);
        }
        for z in g_gate.iter_mut() {
            *z = tanh(*z);
        }
        for k in 0..h {
            self.cell[k] = f_gate[k] * self.cell[k] + i_gate[k] * g_gate[k];
        }
        let hidden = &mut self.xh[self.inputs..];
        for ((out, c), o) in hidden.iter_mut().zip(&self.cell).zip(o_gate.iter()) {
            *out = o * tanh(*c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One unit, one input: every gate pre-activation is `x + h` (weights
    /// 1) except the cell gate, whose weights are 0 and bias 0.5.
    fn tiny() -> LstmNetwork {
        let layer = LayerWeights {
            inputs: 1,
            hidden: 1,
            w_input: vec![1.0, 1.0, 0.0, 1.0],
            w_hidden: vec![1.0, 1.0, 0.0, 1.0],
            bias: vec![0.0, 0.0, 0.5, 0.0],
        };
        let head = HeadWeights {
            outputs: 2,
            weight: vec![2.0, -1.0],
            bias: vec![0.0, 1.0],
        };
        LstmNetwork::new(vec![layer], head).expect("valid shapes")
    }

    #[test]
    fn one_step_matches_the_equations() {
        let mut net = tiny();
        let out = net.forward(&[0.0]).to_vec();
        // x = 0, h = 0: i = f = o = 0.5, g = tanh(0.5), c = 0.5 tanh(0.5).
        let c = 0.5 * 0.5f32.tanh();
        let h = 0.5 * c.tanh();
        assert!((out[0] - 2.0 * h).abs() < 1e-6);
        assert!((out[1] - (1.0 - h)).abs() < 1e-6);
    }

    #[test]
    fn the_state_restarts_at_each_window() {
        let mut net = tiny();
        let first = net.forward(&[0.3, -0.2]).to_vec();
        let again = net.forward(&[0.3, -0.2]).to_vec();
        assert_eq!(first, again);
        let shorter = net.forward(&[-0.2]).to_vec();
        assert_ne!(first, shorter);
    }

    #[test]
    fn the_activations_are_close_to_the_exact_ones() {
        let mut worst_exp = 0.0f64;
        let mut worst_act = 0.0f64;
        for i in -40_000..=40_000 {
            let x = i as f32 * 0.002;
            let exact = f64::from(x).exp();
            worst_exp = worst_exp.max((f64::from(exp_approx(x)) - exact).abs() / exact);
            let s = 1.0 / (1.0 + (-f64::from(x)).exp());
            worst_act = worst_act.max((f64::from(sigmoid(x)) - s).abs());
            worst_act = worst_act.max((f64::from(tanh(x)) - f64::from(x).tanh()).abs());
        }
        assert!(worst_exp < 3e-7, "exp: relative error {worst_exp}");
        assert!(worst_act < 1e-6, "sigmoid/tanh: absolute error {worst_act}");
        assert_eq!(exp_approx(-1000.0), exp_approx(-87.0));
        assert!(exp_approx(1000.0).is_finite());
    }

    #[test]
    fn bad_shapes_are_refused() {
        let layer = LayerWeights {
            inputs: 2,
            hidden: 1,
            w_input: vec![0.0; 4],
            w_hidden: vec![0.0; 4],
            bias: vec![0.0; 4],
        };
        let head = HeadWeights {
            outputs: 1,
            weight: vec![0.0],
            bias: vec![0.0],
        };
        let err = LstmNetwork::new(vec![layer], head).expect_err("w_input is short");
        assert!(err.0.contains("w_input"), "{err}");
    }
}
