//! Random and bursty (Gilbert–Elliott) loss, decided per offered packet.
//!
//! # Design
//! Two independent ChaCha streams (derived from the direction's seed) so that
//! enabling one kind of loss does not change the pattern of the other. The
//! Gilbert–Elliott chain decides the packet's fate in its current state and
//! then takes one step.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::config::GilbertElliott;

/// The state of the Gilbert–Elliott chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChannelState {
    Good,
    Bad,
}

/// Decides whether each offered packet is lost.
#[derive(Debug)]
pub(crate) struct LossModel {
    loss: f64,
    random_rng: ChaCha8Rng,
    burst: Option<(GilbertElliott, ChannelState)>,
    burst_rng: ChaCha8Rng,
}

impl LossModel {
    pub(crate) fn new(
        loss: f64,
        burst: Option<GilbertElliott>,
        random_rng: ChaCha8Rng,
        burst_rng: ChaCha8Rng,
    ) -> Self {
        LossModel {
            loss,
            random_rng,
            burst: burst.map(|ge| (ge, ChannelState::Good)),
            burst_rng,
        }
    }

    /// True when the packet is lost. Draws from the random stream only when
    /// the random loss is above 0.
    pub(crate) fn is_lost(&mut self) -> bool {
        let random_lost = self.loss > 0.0 && self.random_rng.gen::<f64>() < self.loss;
        let burst_lost = match &mut self.burst {
            None => false,
            Some((ge, state)) => {
                let lost = *state == ChannelState::Bad
                    && ge.loss_bad > 0.0
                    && self.burst_rng.gen::<f64>() < ge.loss_bad;
                let step: f64 = self.burst_rng.gen();
                *state = match *state {
                    ChannelState::Good if step < ge.p_good_to_bad => ChannelState::Bad,
                    ChannelState::Bad if step < ge.p_bad_to_good => ChannelState::Good,
                    unchanged => unchanged,
                };
                lost
            }
        };
        random_lost || burst_lost
    }
}
