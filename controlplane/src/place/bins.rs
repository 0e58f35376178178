//! [`BinSpace`]: units (VMs or keep-together groups) in bins (regions, or
//! hosts) under every placement constraint, with a repair pass that removes
//! violations and Fiduccia-Mattheyses passes that lower a hierarchy-aware
//! cost without creating any. The region step of placement, the host steps
//! and the rebalancer are all this one space with different bins.
//!
//! # Design
//!
//! Bins are grouped (hosts into regions; a region step has one bin per
//! group); a group's bins are a contiguous range. Both bins and groups have
//! `[cpu, memory]` limits. The cost of an edge of weight `ω` between units
//! in bins `x` and `y` is `ω·cost(x, y)`: 0 when `x = y`, `intra_cost`
//! between two bins of one group, `group_cost[g(x)][g(y)]` otherwise. A move
//! is *legal* when the unit may use the bin ([`Allowed`]), the bin and its
//! group stay within their limits, no anti-affinity group gets more members
//! in the bin than it has slots, and every minimum-bandwidth pair of the
//! unit stays on groups linked fast enough. The rebalancer adds a
//! [`Penalty`]: moving a unit away from where it started costs its
//! migration, so a move's gain is the cost it saves minus the migration it
//! adds.
//!
//! [`BinSpace::repair`] moves units that break a constraint, then units out
//! of overfull bins and groups, cheapest first, only by legal moves.
//! [`BinSpace::fm_pass`] is one FM pass (best legal gain first, losses
//! allowed, stop after a patience, roll back to the best prefix), as in the
//! partitioner's k-way refinement; it starts and stays legal.

use super::graph::{Graph, Weight};
use super::partition::heap::GainHeap;
use super::rng::PlaceRng;
use std::ops::Range;

/// An FM pass stops after this many moves without a new best...
const FM_PATIENCE_MAX: usize = 120;
/// ...at least this many...
const FM_PATIENCE_MIN: usize = 10;
/// ...else the boundary size over this.
const FM_PATIENCE_DIVISOR: usize = 8;
/// Repair rounds at most (each moves every candidate it can).
const REPAIR_ROUNDS: usize = 64;
/// Fixed-point scale of [`BinSpace::greedy_by_ratio`]'s keys.
const RATIO_SCALE: Weight = 1 << 10;
/// Units of a full bin [`BinSpace::best_swap`] considers moving out...
const EJECT_CANDIDATES: usize = 64;
/// ...and at most this many of them.
const EJECT_MAX: usize = 3;

/// Where a unit may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Allowed {
    /// Any bin of the groups in this mask (groups < 64).
    Groups(u64),
    /// Only this bin (a pinned host).
    Bin(u32),
}

/// What a move search is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Refinement: legal moves only, the usual candidates.
    Fm,
    /// Repairing a broken constraint: limits may be overrun (the capacity
    /// repair that follows makes room), and a unit outside its allowed bins
    /// may also break anti-affinity or bandwidth (the units it conflicts
    /// with move next).
    Constraints,
    /// Repairing limits: legal moves only, any group.
    Limits,
}

/// A constraint a unit breaks, or a limit a bin or group is over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Violation {
    /// The unit is in a bin it may not use.
    NotAllowed(usize),
    /// The unit shares its bin with too many members of an anti-affinity
    /// group.
    Separation(usize),
    /// A minimum-bandwidth pair of the unit is on groups linked too slowly.
    Pair(usize),
    /// A bin over its limit: `(bin, resource index, load, limit)`.
    BinOver(usize, usize, u64, u64),
    /// A group over its limit: `(group, resource index, load, limit)`.
    GroupOver(usize, usize, u64, u64),
}

/// The migration penalty of the rebalancer: moving unit `v` from its origin
/// bin `o` to `x` costs `per_unit[v] · link_cost(o, x)`, `link_cost` being
/// 0 for `o = x`, `intra` inside a group, `link[g(o)][g(x)]` otherwise.
#[derive(Debug, Clone)]
pub(crate) struct Penalty {
    /// The bin each unit started in.
    pub origin: Vec<u32>,
    /// Per unit factor.
    pub per_unit: Vec<Weight>,
    /// Per group pair factor (`groups × groups`, row-major).
    pub link: Vec<Weight>,
    /// Factor between two bins of one group.
    pub intra: Weight,
}

/// Bins, groups and their limits and costs.
#[derive(Debug, Clone)]
pub(crate) struct BinLayout {
    /// `[cpu, memory]` limit per bin.
    pub bin_limit: Vec<[u64; 2]>,
    /// The group of each bin (non-decreasing: a group's bins are contiguous).
    pub group_of_bin: Vec<u32>,
    /// `[cpu, memory]` limit per group.
    pub group_limit: Vec<[u64; 2]>,
    /// Cost per unit of edge weight between groups (`groups × groups`).
    pub group_cost: Vec<Weight>,
    /// Cost per unit of edge weight between two bins of one group.
    pub intra_cost: Weight,
}

/// Scratch for one unit's connectivity: edge weight per bin.
#[derive(Debug)]
struct Conn {
    weight: Vec<Weight>,
    touched: Vec<u32>,
}

/// Units in bins under constraints (see the module docs).
#[derive(Debug)]
pub(crate) struct BinSpace<'g> {
    graph: &'g Graph,
    demand: Vec<[u64; 2]>,
    bin_of: Vec<u32>,
    layout: BinLayout,
    groups: usize,
    bins_of_group: Vec<Range<usize>>,
    bin_load: Vec<[u64; 2]>,
    group_load: Vec<[u64; 2]>,
    allowed: Vec<Allowed>,
    separation: Vec<Vec<(u32, u32)>>,
    separation_count: Vec<u32>,
    slots: Vec<u32>,
    pairs: Vec<Vec<(u32, f64)>>,
    group_bandwidth: Vec<f64>,
    penalty: Option<Penalty>,
    cross_group_weight: Weight,
    conn: Conn,
}

/// A move with its ejections: `(gain or key, the unit's bin, the units
/// moved out of it and their bins)`.
type Swap = (Weight, u32, Vec<(usize, u32)>);

/// Pops the unit whose key is still the key of its current best option
/// (`eval`: `None` when it has none), pushing stale ones back with their
/// new key: the lazy re-evaluation every heap here uses.
fn pop_fresh<T>(
    heap: &mut GainHeap,
    mut eval: impl FnMut(usize) -> Option<(Weight, T)>,
) -> Option<(usize, T)> {
    while let Some((v, key)) = heap.pop() {
        let Some((now, option)) = eval(v as usize) else {
            continue;
        };
        if now != key {
            heap.set(v, now);
            continue;
        }
        return Some((v as usize, option));
    }
    None
}

/// What one FM pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PassOutcome {
    /// Total gain of the moves kept.
    pub gain: Weight,
    /// Moves kept.
    pub moves: usize,
    /// Whether the pass stopped because the target was met.
    pub reached: bool,
}

impl<'g> BinSpace<'g> {
    /// Units of `graph` with `demand`, in `bin_of`, in `layout`; every unit
    /// may use every bin, no anti-affinity, no pairs, no penalty, moves
    /// inside a group allowed.
    pub(crate) fn new(
        graph: &'g Graph,
        demand: Vec<[u64; 2]>,
        bin_of: Vec<u32>,
        layout: BinLayout,
    ) -> Self {
        let n = graph.vertex_count();
        assert_eq!(demand.len(), n, "one demand per unit");
        assert_eq!(bin_of.len(), n, "one bin per unit");
        let bins = layout.bin_limit.len();
        assert_eq!(layout.group_of_bin.len(), bins, "one group per bin");
        assert!(
            layout.group_of_bin.windows(2).all(|w| w[0] <= w[1]),
            "contiguous groups"
        );
        let groups = layout.group_limit.len();
        assert_eq!(
            layout.group_cost.len(),
            groups * groups,
            "a groups x groups cost"
        );
        let mut bins_of_group = vec![0..0; groups];
        for (b, &g) in layout.group_of_bin.iter().enumerate() {
            let range = &mut bins_of_group[g as usize];
            if range.start == range.end {
                *range = b..b + 1;
            } else {
                range.end = b + 1;
            }
        }
        let mut space = Self {
            graph,
            demand,
            bin_of,
            groups,
            bins_of_group,
            bin_load: vec![[0; 2]; bins],
            group_load: vec![[0; 2]; groups],
            allowed: vec![Allowed::Groups(u64::MAX); n],
            separation: vec![Vec::new(); n],
            separation_count: Vec::new(),
            slots: vec![u32::MAX; bins],
            pairs: vec![Vec::new(); n],
            group_bandwidth: Vec::new(),
            penalty: None,
            cross_group_weight: 0,
            conn: Conn {
                weight: vec![0; bins],
                touched: Vec::new(),
            },
            layout,
        };
        for v in 0..n {
            let b = space.bin_of[v] as usize;
            assert!(b < bins, "unit {v} in bin {b} of {bins}");
            let g = space.group(b);
            for i in 0..2 {
                space.bin_load[b][i] += space.demand[v][i];
                space.group_load[g][i] += space.demand[v][i];
            }
            for (u, w) in graph.edges(v) {
                if u > v && space.group(space.bin_of[u] as usize) != g {
                    space.cross_group_weight += w;
                }
            }
        }
        space
    }

    /// Restricts where each unit may go.
    pub(crate) fn set_allowed(&mut self, allowed: Vec<Allowed>) {
        assert_eq!(allowed.len(), self.demand.len(), "one entry per unit");
        self.allowed = allowed;
    }

    /// Anti-affinity: each group lists its units (a unit listed `m` times
    /// holds `m` members); bin `b` may hold at most `slots[b]` members of a
    /// group.
    pub(crate) fn set_separation(&mut self, groups: &[Vec<u32>], slots: Vec<u32>) {
        assert_eq!(slots.len(), self.bin_load.len(), "one slot count per bin");
        let bins = slots.len();
        self.slots = slots;
        self.separation_count = vec![0; groups.len() * bins];
        for list in &mut self.separation {
            list.clear();
        }
        for (s, units) in groups.iter().enumerate() {
            let s32 = u32::try_from(s).expect("groups fit in u32");
            for &v in units {
                let list = &mut self.separation[v as usize];
                match list.iter_mut().find(|(g, _)| *g == s32) {
                    Some(entry) => entry.1 += 1,
                    None => list.push((s32, 1)),
                }
                self.separation_count[s * bins + self.bin_of[v as usize] as usize] += 1;
            }
        }
    }

    /// Minimum bandwidth between the groups of two units: `(a, b, min)`;
    /// `group_bandwidth` is `groups × groups` (infinite on the diagonal).
    pub(crate) fn set_pairs(&mut self, pairs: &[(u32, u32, f64)], group_bandwidth: Vec<f64>) {
        assert_eq!(
            group_bandwidth.len(),
            self.groups * self.groups,
            "groups x groups"
        );
        for &(a, b, min) in pairs {
            if a != b {
                self.pairs[a as usize].push((b, min));
                self.pairs[b as usize].push((a, min));
            }
        }
        self.group_bandwidth = group_bandwidth;
    }

    /// Adds the migration penalty (the rebalancer).
    pub(crate) fn set_penalty(&mut self, penalty: Penalty) {
        assert_eq!(
            penalty.origin.len(),
            self.demand.len(),
            "one origin per unit"
        );
        assert_eq!(
            penalty.link.len(),
            self.groups * self.groups,
            "groups x groups"
        );
        self.penalty = Some(penalty);
    }

    /// Holds `v` in `bin` (no move of it is legal) until
    /// [`BinSpace::release`]; returns what it was allowed before.
    pub(crate) fn hold(&mut self, v: usize, bin: u32) -> Allowed {
        std::mem::replace(&mut self.allowed[v], Allowed::Bin(bin))
    }

    /// Gives `v` back what it was allowed before [`BinSpace::hold`].
    pub(crate) fn release(&mut self, v: usize, allowed: Allowed) {
        self.allowed[v] = allowed;
    }

    /// Moves every unit back to its bin in `bin_of` (a state this space
    /// was in).
    pub(crate) fn restore(&mut self, bin_of: &[u32]) {
        assert_eq!(bin_of.len(), self.bin_of.len(), "one bin per unit");
        for (v, &b) in bin_of.iter().enumerate() {
            if self.bin_of[v] != b {
                self.apply(v, b);
            }
        }
    }

    /// The bin of every unit.
    pub(crate) fn bin_of(&self) -> &[u32] {
        &self.bin_of
    }

    /// Edge weight between units of different groups.
    pub(crate) fn cross_group_weight(&self) -> Weight {
        self.cross_group_weight
    }

    #[inline]
    fn group(&self, bin: usize) -> usize {
        self.layout.group_of_bin[bin] as usize
    }

    #[inline]
    fn cost(&self, x: usize, y: usize) -> Weight {
        if x == y {
            return 0;
        }
        let (gx, gy) = (self.group(x), self.group(y));
        if gx == gy {
            self.layout.intra_cost
        } else {
            self.layout.group_cost[gx * self.groups + gy]
        }
    }

    fn penalty_at(&self, v: usize, bin: usize) -> Weight {
        let Some(p) = &self.penalty else {
            return 0;
        };
        let origin = p.origin[v] as usize;
        let factor = if origin == bin {
            0
        } else if self.group(origin) == self.group(bin) {
            p.intra
        } else {
            p.link[self.group(origin) * self.groups + self.group(bin)]
        };
        p.per_unit[v] * factor
    }

    fn may_use(&self, v: usize, bin: usize) -> bool {
        match self.allowed[v] {
            Allowed::Bin(b) => b as usize == bin,
            Allowed::Groups(mask) => {
                let g = self.group(bin);
                g < 64 && mask & (1u64 << g) != 0
            }
        }
    }

    fn separation_ok(&self, v: usize, bin: usize, moving: bool) -> bool {
        let bins = self.slots.len();
        self.separation[v].iter().all(|&(s, m)| {
            let here = self.separation_count[s as usize * bins + bin];
            let others = if moving { here } else { here - m };
            others + m <= self.slots[bin]
        })
    }

    fn pairs_ok(&self, v: usize, bin: usize) -> bool {
        let g = self.group(bin);
        self.pairs[v].iter().all(|&(u, min)| {
            let gu = self.group(self.bin_of[u as usize] as usize);
            g == gu || self.group_bandwidth[g * self.groups + gu] >= min
        })
    }

    /// Whether moving `v` into `bin` is legal (see the module docs); with
    /// `mode` [`Mode::Constraints`] the limits are not checked.
    fn legal(&self, v: usize, bin: usize, mode: Mode) -> bool {
        let from = self.bin_of[v] as usize;
        if from == bin || !self.may_use(v, bin) {
            return false;
        }
        if mode == Mode::Constraints {
            // A unit outside its allowed bins goes in whatever else it
            // breaks: the units it then conflicts with move next round.
            let outside = !self.may_use(v, from);
            return outside || (self.separation_ok(v, bin, true) && self.pairs_ok(v, bin));
        }
        let d = self.demand[v];
        let (lb, limb) = (self.bin_load[bin], self.layout.bin_limit[bin]);
        if lb[0] + d[0] > limb[0] || lb[1] + d[1] > limb[1] {
            return false;
        }
        let g = self.group(bin);
        if g != self.group(from) {
            let (lg, limg) = (self.group_load[g], self.layout.group_limit[g]);
            if lg[0] + d[0] > limg[0] || lg[1] + d[1] > limg[1] {
                return false;
            }
        }
        self.separation_ok(v, bin, true) && self.pairs_ok(v, bin)
    }

    /// Fills the scratch connectivity of `v`.
    fn gather(&mut self, v: usize) {
        for &b in &self.conn.touched {
            self.conn.weight[b as usize] = 0;
        }
        self.conn.touched.clear();
        for (u, w) in self.graph.edges(v) {
            let b = self.bin_of[u];
            if self.conn.weight[b as usize] == 0 {
                self.conn.touched.push(b);
            }
            self.conn.weight[b as usize] += w;
        }
    }

    /// The gain of moving `v` (whose connectivity is gathered) to `bin`.
    fn gain_to(&self, v: usize, bin: usize) -> Weight {
        let from = self.bin_of[v] as usize;
        let edges: Weight = self
            .conn
            .touched
            .iter()
            .map(|&x| {
                let x = x as usize;
                self.conn.weight[x] * (self.cost(from, x) - self.cost(bin, x))
            })
            .sum();
        edges - (self.penalty_at(v, bin) - self.penalty_at(v, from))
    }

    fn utilisation(&self, bin: usize, v: usize) -> f64 {
        let (l, lim, d) = (
            self.bin_load[bin],
            self.layout.bin_limit[bin],
            self.demand[v],
        );
        let u = |i: usize| (l[i] + d[i]) as f64 / lim[i].max(1) as f64;
        u(0).max(u(1))
    }

    /// The best legal move of `v`: `(gain, bin)`. Candidates: for each
    /// group `v` may use, the bins of its neighbours there and the legal
    /// bin with the most room; not its own group when `leave_group` is
    /// set, and in FM its own group only through neighbours and only when
    /// moves inside a group are allowed.
    fn best_move(&mut self, v: usize, mode: Mode, leave_group: bool) -> Option<(Weight, u32)> {
        let repairing = mode != Mode::Fm;
        self.gather(v);
        let own_group = self.group(self.bin_of[v] as usize);
        let mut best: Option<(Weight, f64, u32)> = None;
        let consider = |space: &Self, bin: usize, best: &mut Option<(Weight, f64, u32)>| {
            if !space.legal(v, bin, mode) {
                return;
            }
            let gain = space.gain_to(v, bin);
            let fill = space.utilisation(bin, v);
            let better = best.is_none_or(|(g, f, b)| {
                gain > g || (gain == g && (fill < f || (fill == f && bin < b as usize)))
            });
            if better {
                *best = Some((gain, fill, u32::try_from(bin).expect("bins fit in u32")));
            }
        };
        if let Allowed::Bin(b) = self.allowed[v] {
            let b = b as usize;
            let same = self.group(b) == own_group;
            if !(leave_group && same) {
                consider(self, b, &mut best);
            }
            return best.map(|(g, _, b)| (g, b));
        }
        let touched = self.conn.touched.clone();
        for g in 0..self.groups {
            if !matches!(self.allowed[v], Allowed::Groups(mask) if g < 64 && mask & (1u64 << g) != 0)
            {
                continue;
            }
            let own = g == own_group;
            if own && leave_group {
                continue;
            }
            for &b in &touched {
                if self.group(b as usize) == g {
                    consider(self, b as usize, &mut best);
                }
            }
            if own && !repairing {
                continue;
            }
            let roomiest = self.bins_of_group[g]
                .clone()
                .filter(|&b| self.legal(v, b, mode))
                .min_by(|&a, &b| self.utilisation(a, v).total_cmp(&self.utilisation(b, v)));
            if let Some(b) = roomiest {
                consider(self, b, &mut best);
            }
        }
        best.map(|(g, _, b)| (g, b))
    }

    /// Whether `v` may move to `bin` without breaking a constraint or a
    /// limit.
    pub(crate) fn can_move(&self, v: usize, bin: usize) -> bool {
        self.legal(v, bin, Mode::Limits)
    }

    /// Moves `v` to `bin`, updating loads, counts and the cross weight
    /// (legal or not: the caller checks).
    pub(crate) fn apply(&mut self, v: usize, bin: u32) {
        let from = self.bin_of[v] as usize;
        let to = bin as usize;
        let (gf, gt) = (self.group(from), self.group(to));
        for i in 0..2 {
            self.bin_load[from][i] -= self.demand[v][i];
            self.bin_load[to][i] += self.demand[v][i];
            self.group_load[gf][i] -= self.demand[v][i];
            self.group_load[gt][i] += self.demand[v][i];
        }
        let bins = self.slots.len();
        for &(s, m) in &self.separation[v] {
            self.separation_count[s as usize * bins + from] -= m;
            self.separation_count[s as usize * bins + to] += m;
        }
        if gf != gt {
            for (u, w) in self.graph.edges(v) {
                let gu = self.group(self.bin_of[u] as usize);
                if gu == gf {
                    self.cross_group_weight += w;
                }
                if gu == gt {
                    self.cross_group_weight -= w;
                }
            }
        }
        self.bin_of[v] = bin;
    }

    /// The first violation, if any (constraints first, then limits).
    pub(crate) fn violation(&self) -> Option<Violation> {
        for v in 0..self.demand.len() {
            let b = self.bin_of[v] as usize;
            if !self.may_use(v, b) {
                return Some(Violation::NotAllowed(v));
            }
            if !self.separation_ok(v, b, false) {
                return Some(Violation::Separation(v));
            }
            if !self.pairs_ok(v, b) {
                return Some(Violation::Pair(v));
            }
        }
        for (b, (l, lim)) in self.bin_load.iter().zip(&self.layout.bin_limit).enumerate() {
            if let Some(i) = (0..2).find(|&i| l[i] > lim[i]) {
                return Some(Violation::BinOver(b, i, l[i], lim[i]));
            }
        }
        for (g, (l, lim)) in self
            .group_load
            .iter()
            .zip(&self.layout.group_limit)
            .enumerate()
        {
            if let Some(i) = (0..2).find(|&i| l[i] > lim[i]) {
                return Some(Violation::GroupOver(g, i, l[i], lim[i]));
            }
        }
        None
    }

    /// Whether `v` breaks a constraint where it is.
    fn misplaced(&self, v: usize) -> bool {
        let b = self.bin_of[v] as usize;
        !self.may_use(v, b) || !self.separation_ok(v, b, false) || !self.pairs_ok(v, b)
    }

    /// Whether `v` sits in a bin or group over a limit in a resource it uses.
    fn overfull(&self, v: usize) -> (bool, bool) {
        let b = self.bin_of[v] as usize;
        let g = self.group(b);
        let d = self.demand[v];
        let over = |load: [u64; 2], limit: [u64; 2]| (0..2).any(|i| d[i] > 0 && load[i] > limit[i]);
        (
            over(self.bin_load[b], self.layout.bin_limit[b]),
            over(self.group_load[g], self.layout.group_limit[g]),
        )
    }

    /// Moves units until no constraint is broken and no bin or group is over
    /// its limit, cheapest moves first: units that break a constraint
    /// first, then units of overfull bins and groups (leaving an overfull
    /// group for another). Returns the units moved, in order, or the first
    /// violation left when no legal move removes it.
    pub(crate) fn repair(&mut self, rng: &mut PlaceRng) -> Result<Vec<(usize, u32)>, Violation> {
        let n = self.demand.len();
        let mut heap = GainHeap::new(n);
        let mut moved = Vec::new();
        for _ in 0..REPAIR_ROUNDS {
            let Some(violation) = self.violation() else {
                return Ok(moved);
            };
            let constraints_first = matches!(
                violation,
                Violation::NotAllowed(_) | Violation::Separation(_) | Violation::Pair(_)
            );
            let mut candidates: Vec<u32> = (0..n)
                .filter(|&v| {
                    if constraints_first {
                        self.misplaced(v)
                    } else {
                        let (bin, group) = self.overfull(v);
                        bin || group
                    }
                })
                .map(|v| u32::try_from(v).expect("units fit in u32"))
                .collect();
            rng.shuffle(&mut candidates);
            heap.clear();
            let mode = if constraints_first {
                Mode::Constraints
            } else {
                Mode::Limits
            };
            for &v in &candidates {
                let leave = !constraints_first && self.overfull(v as usize).1;
                if let Some((gain, _)) = self.best_move(v as usize, mode, leave) {
                    heap.set(v, gain);
                }
            }
            let mut progress = false;
            while let Some((vi, to)) = pop_fresh(&mut heap, |vi| {
                let (bin_over, group_over) = self.overfull(vi);
                let still = if constraints_first {
                    self.misplaced(vi)
                } else {
                    bin_over || group_over
                };
                let leave = !constraints_first && group_over;
                still.then(|| self.best_move(vi, mode, leave)).flatten()
            }) {
                moved.push((vi, self.bin_of[vi]));
                self.apply(vi, to);
                progress = true;
            }
            if !progress && (constraints_first || !self.repair_by_swap(&rng.permutation(n))) {
                break;
            }
        }
        match self.violation() {
            None => Ok(moved),
            Some(violation) => Err(violation),
        }
    }

    /// One FM pass (see the module docs). After each move, when the gain so
    /// far is positive and `reached` holds, the pass stops there and keeps
    /// that prefix (the rebalancer's target); otherwise it keeps the prefix
    /// of best gain. Returns what it kept.
    pub(crate) fn fm_pass(
        &mut self,
        rng: &mut PlaceRng,
        reached: &dyn Fn(&Self) -> bool,
    ) -> PassOutcome {
        let n = self.demand.len();
        let mut boundary: Vec<u32> = (0..n)
            .filter(|&v| {
                let b = self.bin_of[v];
                self.graph
                    .neighbors(v)
                    .iter()
                    .any(|&u| self.bin_of[u as usize] != b)
                    || self.penalty.as_ref().is_some_and(|p| p.origin[v] != b)
            })
            .map(|v| u32::try_from(v).expect("units fit in u32"))
            .collect();
        rng.shuffle(&mut boundary);
        let mut heap = GainHeap::new(n);
        for &v in &boundary {
            if let Some((gain, _)) = self.best_move(v as usize, Mode::Fm, false) {
                heap.set(v, gain);
            }
        }
        let patience =
            (boundary.len() / FM_PATIENCE_DIVISOR).clamp(FM_PATIENCE_MIN, FM_PATIENCE_MAX);
        let mut locked = vec![false; n];
        let mut moves: Vec<(usize, u32)> = Vec::new();
        let (mut cumulative, mut best, mut best_len, mut since_best) = (0, 0, 0usize, 0usize);
        let mut stopped = false;
        while let Some((vi, (gain, to))) = pop_fresh(&mut heap, |vi| {
            self.best_move(vi, Mode::Fm, false)
                .map(|(g, to)| (g, (g, to)))
        }) {
            moves.push((vi, self.bin_of[vi]));
            self.apply(vi, to);
            locked[vi] = true;
            cumulative += gain;
            if cumulative > 0 && reached(self) {
                best = cumulative;
                best_len = moves.len();
                stopped = true;
                break;
            }
            if cumulative > best {
                best = cumulative;
                best_len = moves.len();
                since_best = 0;
            } else {
                since_best += 1;
                if since_best > patience {
                    break;
                }
            }
            for &u in self.graph.neighbors(vi) {
                let ui = u as usize;
                if locked[ui] {
                    continue;
                }
                match self.best_move(ui, Mode::Fm, false) {
                    Some((g, _)) => heap.set(u, g),
                    None => heap.remove(u),
                }
            }
        }
        for &(v, from) in moves[best_len..].iter().rev() {
            self.apply(v, from);
        }
        PassOutcome {
            gain: best,
            moves: best_len,
            reached: stopped,
        }
    }

    /// Whether `v` may go to `bin` but for the bin's and group's limits.
    fn fits_but_for_limits(&self, v: usize, bin: usize) -> bool {
        let from = self.bin_of[v] as usize;
        from != bin
            && self.may_use(v, bin)
            && self.separation_ok(v, bin, true)
            && self.pairs_ok(v, bin)
    }

    /// Whether `bin` and its group are within their limits.
    fn within_limits(&self, bin: usize) -> bool {
        let g = self.group(bin);
        let (lb, limb) = (self.bin_load[bin], self.layout.bin_limit[bin]);
        let (lg, limg) = (self.group_load[g], self.layout.group_limit[g]);
        lb[0] <= limb[0] && lb[1] <= limb[1] && lg[0] <= limg[0] && lg[1] <= limg[1]
    }

    /// With `v` just moved into `bin`: moves up to [`EJECT_MAX`] of the
    /// bin's other units (among the first [`EJECT_CANDIDATES`] of `order`,
    /// each using a resource the bin is over) out by their best legal
    /// moves, least loss first, until the bin fits. Returns the summed gain
    /// of those moves and each moved unit with the bin it left.
    fn eject(&mut self, v: usize, bin: usize, order: &[u32]) -> (Weight, Vec<(usize, u32)>) {
        let to = self.bin_of[v];
        let mut total = 0;
        let mut ejected = Vec::new();
        while !self.within_limits(bin) && ejected.len() < EJECT_MAX {
            let over = self.over_resources(bin);
            let mut pick: Option<(Weight, usize, u32)> = None;
            let mut tried = 0;
            for &u in order {
                let u = u as usize;
                let uses_over = over.iter().zip(self.demand[u]).any(|(&o, d)| o && d > 0);
                if u == v || self.bin_of[u] != to || !uses_over {
                    continue;
                }
                tried += 1;
                if tried > EJECT_CANDIDATES {
                    break;
                }
                if let Some((gain, out)) = self.best_move(u, Mode::Limits, false) {
                    if pick.is_none_or(|(g, ..)| gain > g) {
                        pick = Some((gain, u, out));
                    }
                }
            }
            let Some((gain, u, out)) = pick else {
                break;
            };
            self.apply(u, out);
            total += gain;
            ejected.push((u, to));
        }
        (total, ejected)
    }

    /// Undoes [`BinSpace::eject`]'s moves and returns them as `(unit, bin
    /// it went to)`, in order.
    fn undo_ejections(&mut self, ejected: &[(usize, u32)]) -> Vec<(usize, u32)> {
        let mut chain = Vec::with_capacity(ejected.len());
        for &(u, back) in ejected.iter().rev() {
            chain.push((u, self.bin_of[u]));
            self.apply(u, back);
        }
        chain.reverse();
        chain
    }

    /// The best swap for `v`: into a bin it may use but for the limits,
    /// with up to [`EJECT_MAX`] of that bin's units moved out so that it
    /// fits again ([`BinSpace::eject`]). Only positive total gains.
    fn best_swap(&mut self, v: usize, order: &[u32]) -> Option<Swap> {
        let from = self.bin_of[v];
        let mut best: Option<Swap> = None;
        for bin in 0..self.bin_load.len() {
            if !self.fits_but_for_limits(v, bin) || self.legal(v, bin, Mode::Limits) {
                continue;
            }
            self.gather(v);
            let first = self.gain_to(v, bin);
            if first <= 0 {
                continue;
            }
            let to = u32::try_from(bin).expect("bins fit in u32");
            self.apply(v, to);
            let (more, ejected) = self.eject(v, bin, order);
            let fits = self.within_limits(bin);
            let chain = self.undo_ejections(&ejected);
            self.apply(v, from);
            let total = first + more;
            if fits && total > 0 && best.as_ref().is_none_or(|(g, ..)| total > *g) {
                best = Some((total, to, chain));
            }
        }
        best
    }

    /// Weight over the limits, summed over bins, groups and resources.
    fn overload(&self) -> u64 {
        let over = |loads: &[[u64; 2]], limits: &[[u64; 2]]| -> u64 {
            loads
                .iter()
                .zip(limits)
                .map(|(l, lim)| l[0].saturating_sub(lim[0]) + l[1].saturating_sub(lim[1]))
                .sum()
        };
        over(&self.bin_load, &self.layout.bin_limit)
            + over(&self.group_load, &self.layout.group_limit)
    }

    /// One repair step when no single legal move helps: a unit of an
    /// overfull bin goes to another bin despite its limits, and that bin's
    /// units are ejected ([`BinSpace::eject`]); kept when the total weight
    /// over the limits falls (the best gain among those). Returns whether
    /// a chain was applied.
    fn repair_by_swap(&mut self, order: &[u32]) -> bool {
        let before = self.overload();
        let mut best: Option<(Weight, usize, Swap)> = None;
        for &v in order {
            let v = v as usize;
            let (bin_over, group_over) = self.overfull(v);
            if !(bin_over || group_over) {
                continue;
            }
            let from = self.bin_of[v];
            for bin in 0..self.bin_load.len() {
                let same_group = self.group(bin) == self.group(from as usize);
                if !self.fits_but_for_limits(v, bin) || (group_over && same_group) {
                    continue;
                }
                self.gather(v);
                let first = self.gain_to(v, bin);
                let to = u32::try_from(bin).expect("bins fit in u32");
                self.apply(v, to);
                let (more, ejected) = self.eject(v, bin, order);
                let after = self.overload();
                let chain = self.undo_ejections(&ejected);
                self.apply(v, from);
                let total = first + more;
                if after < before && best.as_ref().is_none_or(|(g, ..)| total > *g) {
                    best = Some((total, v, (total, to, chain)));
                }
            }
        }
        let Some((_, v, (_, to, chain))) = best else {
            return false;
        };
        self.apply(v, to);
        for (u, out) in chain {
            self.apply(u, out);
        }
        true
    }

    /// Which resources `bin` (or its group) is over its limit in.
    fn over_resources(&self, bin: usize) -> [bool; 2] {
        let g = self.group(bin);
        let (lb, limb) = (self.bin_load[bin], self.layout.bin_limit[bin]);
        let (lg, limg) = (self.group_load[g], self.layout.group_limit[g]);
        [
            lb[0] > limb[0] || lg[0] > limg[0],
            lb[1] > limb[1] || lg[1] > limg[1],
        ]
    }

    /// Greedy moves by gain per unit of `size` (the rebalancer: per MiB
    /// moved): the legal move, or swap ([`BinSpace::best_swap`]), of best
    /// ratio while its gain is positive, until `reached` holds. Returns the
    /// number of units moved.
    pub(crate) fn greedy_by_ratio(
        &mut self,
        size: &[u64],
        rng: &mut PlaceRng,
        reached: &dyn Fn(&Self) -> bool,
    ) -> usize {
        let n = self.demand.len();
        let order = rng.permutation(n);
        let ratio = |gain: Weight, size: u64| {
            gain.saturating_mul(RATIO_SCALE) / Weight::try_from(size.max(1)).unwrap_or(Weight::MAX)
        };
        // The best option of `v`: (key, v's bin, the ejected units and their bins).
        let option = |space: &mut Self, v: usize| -> Option<Swap> {
            let single = space
                .best_move(v, Mode::Fm, false)
                .filter(|&(g, _)| g > 0)
                .map(|(g, b)| (ratio(g, size[v]), b, Vec::new()));
            let swap = space.best_swap(v, &order).map(|(g, b, chain)| {
                let moved = size[v] + chain.iter().map(|&(u, _)| size[u]).sum::<u64>();
                (ratio(g, moved), b, chain)
            });
            match (single, swap) {
                (Some(a), Some(b)) => Some(if b.0 > a.0 { b } else { a }),
                (a, b) => a.or(b),
            }
        };
        let mut heap = GainHeap::new(n);
        for v in 0..n {
            if let Some((key, ..)) = option(self, v) {
                heap.set(u32::try_from(v).expect("units fit in u32"), key);
            }
        }
        let mut moved = 0;
        while !reached(self) {
            let Some((vi, (to, eject))) = pop_fresh(&mut heap, |vi| {
                option(self, vi).map(|(key, to, eject)| (key, (to, eject)))
            }) else {
                break;
            };
            self.apply(vi, to);
            moved += 1;
            let mut touched: Vec<u32> = self.graph.neighbors(vi).to_vec();
            for (u, out) in eject {
                self.apply(u, out);
                moved += 1;
                touched.extend_from_slice(self.graph.neighbors(u));
                touched.push(u32::try_from(u).expect("units fit in u32"));
            }
            for u in touched {
                match option(self, u as usize) {
                    Some((k, ..)) => heap.set(u, k),
                    None => heap.remove(u),
                }
            }
        }
        moved
    }

    /// FM passes until `idle` passes in a row gain nothing (each pass visits
    /// the boundary in a new random order) or `reached` stops one, at most
    /// `max_passes`. Returns the total gain and whether `reached` stopped a
    /// pass.
    pub(crate) fn refine(
        &mut self,
        rng: &mut PlaceRng,
        max_passes: usize,
        idle: usize,
        reached: &dyn Fn(&Self) -> bool,
    ) -> (Weight, bool) {
        let mut total = 0;
        let mut idle_run = 0;
        for _ in 0..max_passes {
            let outcome = self.fm_pass(rng, reached);
            total += outcome.gain;
            if outcome.reached {
                return (total, true);
            }
            if outcome.moves == 0 || outcome.gain <= 0 {
                idle_run += 1;
                if idle_run >= idle {
                    break;
                }
            } else {
                idle_run = 0;
            }
        }
        (total, false)
    }
}
