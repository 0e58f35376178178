//! The partitioner's random numbers: xoshiro256** seeded through SplitMix64.
//!
//! Written out here (a dozen lines) rather than taken from `rand` so that a
//! seed gives the same partition on every platform and with every version
//! of every dependency: `rand`'s `StdRng` and `SmallRng` make no such
//! promise.

/// A small deterministic generator (xoshiro256**, Blackman and Vigna).
#[derive(Debug, Clone)]
pub struct PlaceRng {
    state: [u64; 4],
}

impl PlaceRng {
    /// A generator whose whole sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        let mut sm = seed;
        let mut next = || {
            sm = sm.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = sm;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Self {
            state: [next(), next(), next(), next()],
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.state;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// A uniform integer in `0..bound` (`bound` > 0; Lemire's multiply-shift,
    /// whose tiny bias does not matter to a heuristic).
    pub fn below(&mut self, bound: usize) -> usize {
        assert!(bound > 0, "below(0)");
        let wide = u128::from(self.next_u64()) * (bound as u128);
        usize::try_from(wide >> 64).expect("less than bound, which is a usize")
    }

    /// A uniform float in `[0, 1)` (53 random bits).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A seed for an independent sub-generator (one per try or level).
    pub fn fork(&mut self) -> PlaceRng {
        PlaceRng::new(self.next_u64())
    }

    /// Shuffles `items` in place (Fisher-Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }

    /// `0..n` in a random order.
    pub fn permutation(&mut self, n: usize) -> Vec<u32> {
        let mut order: Vec<u32> = (0..n)
            .map(|v| u32::try_from(v).expect("vertex ids fit in u32"))
            .collect();
        self.shuffle(&mut order);
        order
    }
}
