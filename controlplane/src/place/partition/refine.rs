//! K-way refinement: Fiduccia-Mattheyses passes and rebalancing.
//!
//! # Design
//!
//! [`KwayState`] holds the part of every vertex and the weight of every
//! part. For a vertex `v` in part `a`, `conn(v, b)` is the weight of its
//! edges into part `b`; moving it to `b` changes the cut by
//! `-(conn(v, b) - conn(v, a))`, its *gain*. A move is *legal* when `b`
//! stays within its weight limit.
//!
//! [`PartConnectivity`] keeps, for every vertex, `conn(v, part(v))` and the
//! list of `(b, conn(v, b))` for the other parts it touches (at most
//! `degree(v)` entries, stored in the vertex's slice of the CSR layout), and
//! updates them in O(degree · list length) when a vertex moves, as METIS
//! does: a gain is then computed from a short list instead of a scan of the
//! neighbours.
//!
//! An FM pass puts every boundary vertex in a [`GainHeap`] keyed by its best
//! legal gain, then repeatedly moves the top vertex (even at a loss), locks
//! it, and updates its unlocked neighbours. It stops after
//! [`FM_PATIENCE`] moves without a new best cut and rolls back to the best
//! prefix, so a pass never makes the cut worse and, started balanced, never
//! breaks balance. Keys can go stale when part weights change; a popped
//! vertex whose key differs from its recomputed gain is pushed back.
//!
//! [`rebalance`] runs first when some part is over its limit (after
//! projecting a coarse partition, or an initial partition of heavy coarse
//! vertices): it moves vertices out of overweight parts, cheapest first,
//! into parts with room (adjacent ones preferred, else the one with the most
//! room).

use super::heap::GainHeap;
use crate::place::graph::{Graph, Weight};
use crate::place::rng::PlaceRng;

/// Moves without a new best cut after which an FM pass stops: the boundary
/// size over [`FM_PATIENCE_DIVISOR`], within
/// [`FM_PATIENCE_MIN`]..=[`FM_PATIENCE`] (small graphs of the initial
/// partitioning need few; more never measured better).
pub(crate) const FM_PATIENCE: usize = 120;

/// See [`FM_PATIENCE`].
pub(crate) const FM_PATIENCE_MIN: usize = 10;

/// See [`FM_PATIENCE`].
pub(crate) const FM_PATIENCE_DIVISOR: usize = 8;

/// Passes on a level stop once a balanced pass gains at most the level's
/// starting cut over this (0.1%): later passes gain little and cost as much.
pub(crate) const FM_MIN_PASS_GAIN_DIVISOR: Weight = 1000;

/// The most FM passes per level (passes stop earlier once one gains nothing).
pub(crate) const FM_MAX_PASSES: usize = 10;

/// Parts and part weights during refinement.
#[derive(Debug, Clone)]
pub(crate) struct KwayState {
    /// The part of each vertex.
    pub part: Vec<u32>,
    /// The weight of each part.
    pub weights: Vec<Weight>,
    /// The weight limit of each part.
    pub limits: Vec<Weight>,
}

impl KwayState {
    /// State for `part` on `graph` with per-part `limits`.
    pub(crate) fn new(graph: &Graph, part: Vec<u32>, limits: Vec<Weight>) -> Self {
        let weights = super::metrics::part_weights(graph, &part, limits.len());
        Self {
            part,
            weights,
            limits,
        }
    }

    /// Whether every part is within its limit.
    pub(crate) fn is_balanced(&self) -> bool {
        self.weights.iter().zip(&self.limits).all(|(w, l)| w <= l)
    }

    /// Total weight over the limits (0 when balanced).
    pub(crate) fn overload(&self) -> Weight {
        self.weights
            .iter()
            .zip(&self.limits)
            .map(|(w, l)| (w - l).max(0))
            .sum()
    }

    fn over(&self, p: u32) -> Weight {
        (self.weights[p as usize] - self.limits[p as usize]).max(0)
    }

    fn has_room(&self, p: u32, w: Weight) -> bool {
        self.weights[p as usize] + w <= self.limits[p as usize]
    }
}

/// `conn(v, ·)` for every vertex (see the module docs).
#[derive(Debug)]
struct PartConnectivity {
    internal: Vec<Weight>,
    start: Vec<usize>,
    len: Vec<u32>,
    parts: Vec<u32>,
    conn: Vec<Weight>,
}

impl PartConnectivity {
    fn new(graph: &Graph, state: &KwayState) -> Self {
        let n = graph.vertex_count();
        let (xadj, ..) = graph.csr();
        let entries = xadj[n];
        let mut this = Self {
            internal: vec![0; n],
            start: xadj[..n].to_vec(),
            len: vec![0; n],
            parts: vec![0; entries],
            conn: vec![0; entries],
        };
        for v in 0..n {
            let own = state.part[v];
            for (u, w) in graph.edges(v) {
                let p = state.part[u];
                if p == own {
                    this.internal[v] += w;
                } else {
                    this.add(v, p, w);
                }
            }
        }
        this
    }

    #[inline]
    fn list(&self, v: usize) -> std::ops::Range<usize> {
        self.start[v]..self.start[v] + self.len[v] as usize
    }

    /// The edge cut, from the lists: O(n + boundary entries).
    fn cut(&self) -> Weight {
        let boundary: Weight = (0..self.len.len())
            .flat_map(|v| self.list(v))
            .map(|i| self.conn[i])
            .sum();
        boundary / 2
    }

    #[inline]
    fn is_boundary(&self, v: usize) -> bool {
        self.len[v] > 0
    }

    /// `conn(v, p) += w` for `p != part(v)`.
    #[inline]
    fn add(&mut self, v: usize, p: u32, w: Weight) {
        for i in self.list(v) {
            if self.parts[i] == p {
                self.conn[i] += w;
                return;
            }
        }
        let at = self.start[v] + self.len[v] as usize;
        self.parts[at] = p;
        self.conn[at] = w;
        self.len[v] += 1;
    }

    /// `conn(v, p) -= w` for `p != part(v)`; the entry goes at 0.
    #[inline]
    fn sub(&mut self, v: usize, p: u32, w: Weight) {
        for i in self.list(v) {
            if self.parts[i] == p {
                self.conn[i] -= w;
                if self.conn[i] == 0 {
                    let last = self.start[v] + self.len[v] as usize - 1;
                    self.parts[i] = self.parts[last];
                    self.conn[i] = self.conn[last];
                    self.len[v] -= 1;
                }
                return;
            }
        }
        debug_assert!(false, "vertex {v} has no connection to part {p}");
    }

    /// Moves `v` to part `to`, updating part weights and every `conn`.
    fn move_vertex(&mut self, graph: &Graph, state: &mut KwayState, v: usize, to: u32) {
        let from = state.part[v];
        debug_assert_ne!(from, to);
        let w = graph.vertex_weight(v);
        state.weights[from as usize] -= w;
        state.weights[to as usize] += w;
        state.part[v] = to;
        // v's own list: conn(v, to) becomes internal, the old internal an entry.
        let mut to_conn = 0;
        for i in self.list(v) {
            if self.parts[i] == to {
                to_conn = self.conn[i];
                break;
            }
        }
        if to_conn > 0 {
            self.sub(v, to, to_conn);
        }
        let old_internal = std::mem::replace(&mut self.internal[v], to_conn);
        if old_internal > 0 {
            self.add(v, from, old_internal);
        }
        for (u, ew) in graph.edges(v) {
            let pu = state.part[u];
            if pu == from {
                self.internal[u] -= ew;
            } else {
                self.sub(u, from, ew);
            }
            if pu == to {
                self.internal[u] += ew;
            } else {
                self.add(u, to, ew);
            }
        }
    }

    /// The best legal move of `v` to an adjacent part: `(gain, part)`, ties
    /// to the lighter part. `None` when `v` is interior or no adjacent part
    /// has room.
    #[inline]
    fn best_move(&self, graph: &Graph, state: &KwayState, v: usize) -> Option<(Weight, u32)> {
        let w = graph.vertex_weight(v);
        let internal = self.internal[v];
        let mut best: Option<(Weight, u32)> = None;
        for i in self.list(v) {
            let p = self.parts[i];
            if !state.has_room(p, w) {
                continue;
            }
            let gain = self.conn[i] - internal;
            let better = match best {
                None => true,
                Some((g, q)) => {
                    gain > g || (gain == g && state.weights[p as usize] < state.weights[q as usize])
                }
            };
            if better {
                best = Some((gain, p));
            }
        }
        best
    }

    /// The best move of `v` (in an overweight part) for `mode`, see
    /// [`BalanceMode`].
    fn balance_move(
        &self,
        graph: &Graph,
        state: &KwayState,
        v: usize,
        mode: BalanceMode,
        roomiest: u32,
    ) -> Option<(Weight, u32)> {
        let w = graph.vertex_weight(v);
        let own = state.part[v];
        match mode {
            BalanceMode::Room => self.best_move(graph, state, v),
            BalanceMode::Downhill => {
                let from_weight = state.weights[own as usize];
                let mut best: Option<(Weight, u32)> = None;
                for i in self.list(v) {
                    let p = self.parts[i];
                    let to_weight = state.weights[p as usize];
                    if to_weight > state.limits[p as usize] || to_weight + w >= from_weight {
                        continue;
                    }
                    let gain = self.conn[i] - self.internal[v];
                    if best.is_none_or(|(g, q)| {
                        gain > g || (gain == g && to_weight < state.weights[q as usize])
                    }) {
                        best = Some((gain, p));
                    }
                }
                best
            }
            BalanceMode::Anywhere => {
                if roomiest == own || !state.has_room(roomiest, w) {
                    return None;
                }
                let to_conn = self
                    .list(v)
                    .find(|&i| self.parts[i] == roomiest)
                    .map_or(0, |i| self.conn[i]);
                Some((to_conn - self.internal[v], roomiest))
            }
        }
    }
}

/// Which moves [`rebalance`] may make, tried in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BalanceMode {
    /// Into an adjacent part with room.
    Room,
    /// Into an adjacent part within its limit that stays lighter than the
    /// part left (it may go over its limit: the weight flows on from there
    /// next round). The sum of squared part weights falls with every such
    /// move, so this cannot cycle.
    Downhill,
    /// Into the part with the most room, adjacent or not (an island, as a
    /// last resort).
    Anywhere,
}

/// Refines `state` in place with FM passes (after [`rebalance`] if it is
/// unbalanced). Returns the total cut reduction of the passes.
pub(crate) fn refine(graph: &Graph, state: &mut KwayState, rng: &mut PlaceRng) -> Weight {
    let mut conn = PartConnectivity::new(graph, state);
    if !state.is_balanced() {
        rebalance(graph, state, &mut conn, rng);
    }
    let mut fm = Fm::new(graph);
    let mut total = 0;
    let min_gain = conn.cut() / FM_MIN_PASS_GAIN_DIVISOR;
    for _ in 0..FM_MAX_PASSES {
        let (gained, improved) = fm.pass(graph, state, &mut conn, rng);
        total += gained;
        if !improved || (gained <= min_gain && state.is_balanced()) {
            break;
        }
    }
    total
}

/// Reusable FM scratch for one graph.
#[derive(Debug)]
struct Fm {
    heap: GainHeap,
    locked: Vec<bool>,
    moves: Vec<(u32, u32)>,
    boundary: Vec<u32>,
    round: Vec<u32>,
}

impl Fm {
    fn new(graph: &Graph) -> Self {
        Self {
            heap: GainHeap::new(graph.vertex_count()),
            locked: vec![false; graph.vertex_count()],
            moves: Vec::new(),
            boundary: Vec::new(),
            round: Vec::new(),
        }
    }

    /// The boundary vertices in a random order.
    fn collect_boundary(&mut self, conn: &PartConnectivity, rng: &mut PlaceRng) {
        self.boundary.clear();
        self.boundary.extend(
            (0..conn.len.len())
                .filter(|&v| conn.is_boundary(v))
                .map(|v| u32::try_from(v).expect("vertex ids fit in u32")),
        );
        rng.shuffle(&mut self.boundary);
    }

    /// One global FM pass over every boundary vertex; returns its cut
    /// reduction and whether it kept any move (a pass that starts unbalanced
    /// may trade cut for balance).
    #[inline(never)]
    fn pass(
        &mut self,
        graph: &Graph,
        state: &mut KwayState,
        conn: &mut PartConnectivity,
        rng: &mut PlaceRng,
    ) -> (Weight, bool) {
        self.collect_boundary(conn, rng);
        self.heap.clear();
        for &v in &self.boundary {
            if let Some((gain, _)) = conn.best_move(graph, state, v as usize) {
                self.heap.set(v, gain);
            }
        }
        let patience =
            (self.boundary.len() / FM_PATIENCE_DIVISOR).clamp(FM_PATIENCE_MIN, FM_PATIENCE);
        let outcome = self.search(graph, state, conn, patience);
        for &v in &self.round {
            self.locked[v as usize] = false;
        }
        self.round.clear();
        outcome
    }

    /// The FM search from the vertices in the heap: move the best, lock it,
    /// update its neighbours, stop after `patience` moves without a new best,
    /// roll back to the best prefix. Moved vertices stay locked (listed in
    /// `round`) until the caller unlocks them.
    fn search(
        &mut self,
        graph: &Graph,
        state: &mut KwayState,
        conn: &mut PartConnectivity,
        patience: usize,
    ) -> (Weight, bool) {
        self.moves.clear();
        let mut cumulative: Weight = 0;
        let mut best: Weight = 0;
        let mut best_len = 0usize;
        let mut overload = state.overload();
        let mut best_overload = overload;
        let mut since_best = 0usize;
        while let Some((v, key)) = self.heap.pop() {
            let vi = v as usize;
            let Some((gain, to)) = conn.best_move(graph, state, vi) else {
                continue;
            };
            if gain != key {
                self.heap.set(v, gain);
                continue;
            }
            let from = state.part[vi];
            let before = state.over(from) + state.over(to);
            conn.move_vertex(graph, state, vi, to);
            overload += state.over(from) + state.over(to) - before;
            self.locked[vi] = true;
            self.round.push(v);
            self.moves.push((v, from));
            cumulative += gain;
            if overload < best_overload || (overload == best_overload && cumulative > best) {
                best = cumulative;
                best_len = self.moves.len();
                best_overload = overload;
                since_best = 0;
            } else {
                since_best += 1;
                if since_best > patience {
                    break;
                }
            }
            for &u in graph.neighbors(vi) {
                let ui = u as usize;
                if self.locked[ui] {
                    continue;
                }
                match conn.best_move(graph, state, ui) {
                    Some((g, _)) => self.heap.set(u, g),
                    None => self.heap.remove(u),
                }
            }
        }
        for &(v, from) in self.moves[best_len..].iter().rev() {
            conn.move_vertex(graph, state, v as usize, from);
        }
        (best, best_len > 0)
    }
}

/// The part with the most room under its limit (ties to the lowest id).
fn roomiest_part(state: &KwayState) -> u32 {
    let best = (0..state.limits.len())
        .max_by_key(|&p| (state.limits[p] - state.weights[p], std::cmp::Reverse(p)))
        .expect("at least one part");
    u32::try_from(best).expect("parts fit in u32")
}

/// Moves vertices out of overweight parts until every part is within its
/// limit or no move helps. Each round keys every vertex of an overweight part
/// by the cut change of its best move of the current [`BalanceMode`] and
/// moves the cheapest first; a round that moves nothing escalates the mode
/// (room, downhill, anywhere), a round that moves something returns to
/// room. Returns whether the state ends balanced.
#[inline(never)]
fn rebalance(
    graph: &Graph,
    state: &mut KwayState,
    conn: &mut PartConnectivity,
    rng: &mut PlaceRng,
) -> bool {
    const MAX_ROUNDS: usize = 64;
    let n = graph.vertex_count();
    let mut heap = GainHeap::new(n);
    let mut mode = BalanceMode::Room;
    for _ in 0..MAX_ROUNDS {
        if state.is_balanced() {
            return true;
        }
        let mut candidates: Vec<u32> = (0..n)
            .filter(|&v| state.over(state.part[v]) > 0 && graph.vertex_weight(v) > 0)
            .filter(|&v| mode == BalanceMode::Anywhere || conn.is_boundary(v))
            .map(|v| u32::try_from(v).expect("vertex ids fit in u32"))
            .collect();
        rng.shuffle(&mut candidates);
        heap.clear();
        let mut roomiest = roomiest_part(state);
        for &v in &candidates {
            if let Some((gain, _)) = conn.balance_move(graph, state, v as usize, mode, roomiest) {
                heap.set(v, gain);
            }
        }
        let mut moved = false;
        while let Some((v, key)) = heap.pop() {
            let vi = v as usize;
            if state.over(state.part[vi]) == 0 {
                continue;
            }
            let Some((gain, to)) = conn.balance_move(graph, state, vi, mode, roomiest) else {
                continue;
            };
            if gain != key {
                heap.set(v, gain);
                continue;
            }
            conn.move_vertex(graph, state, vi, to);
            moved = true;
            if state.is_balanced() {
                return true;
            }
            roomiest = roomiest_part(state);
            for &u in graph.neighbors(vi) {
                let ui = u as usize;
                if state.over(state.part[ui]) > 0 {
                    match conn.balance_move(graph, state, ui, mode, roomiest) {
                        Some((g, _)) => heap.set(u, g),
                        None => heap.remove(u),
                    }
                }
            }
        }
        mode = match (moved, mode) {
            (true, _) => BalanceMode::Room,
            (false, BalanceMode::Room) => BalanceMode::Downhill,
            (false, BalanceMode::Downhill) => BalanceMode::Anywhere,
            (false, BalanceMode::Anywhere) => break,
        };
    }
    state.is_balanced()
}
