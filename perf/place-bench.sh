#!/usr/bin/env bash
# The placement partitioner against METIS: `dwcp-controlplane place-eval` and
# `gpmetis` (Debian's `metis` package) side by side on the same graphs, K and
# seeds; and the VM-traffic scenarios of `dwcp-controlplane place-scenario`
# against greedy first-fit. See docs/placement.md.
#
#   perf/place-bench.sh [--graphs "4elt copter2 mdual"] [--holdout | --holdout2]
#                       [--parts "2 8 32"] [--seeds "1 2 3 4 5"]
#                       [--imbalance 0.03] [--bin PATH] [--no-doc]
#                       [--scenarios | --scenarios-only]
#                       [--scenario-sizes "300:3 ..."] [--scenario-seeds "1 2 3 4 5"]
#
#   --graphs LIST   graph names from libmetis-doc's examples (default above),
#                   or generated ones: rgg2d (random geometric, 30000
#                   vertices), grid3d (32^3 grid), powerlaw (Barabasi-Albert,
#                   20000 vertices, 4 edges each), weighted (random geometric,
#                   20000 vertices, vertex weights 1-4, edge weights 1-9),
#                   or those of --holdout2; every generated graph is fixed
#                   (seeded); the four above were not used to tune the
#                   partitioner when first measured, but guided its settings
#                   since (docs/placement.md section 5)
#   --holdout       add the four generated graphs to the list
#   --holdout2      instead of the list, only the second held-out set, four
#                   graphs of other families from other seeds, added after the
#                   partitioner's defaults were fixed and never used to tune
#                   it: rgg3d (random geometric in the unit cube, 16000
#                   vertices, mean degree ~11), holes2d (130^2 triangulated
#                   grid, random diagonals, 30 round holes cut out, largest
#                   component: 14132 vertices), smallworld (Watts-Strogatz,
#                   12000 vertices, degree 8, rewiring 0.1), sbm (stochastic
#                   block model, 10000 vertices in 40 blocks, vertex weights
#                   1-3, edge weights 1-9 inside a block and 1-3 across); its
#                   table goes between the place-bench-holdout2 markers
#   --parts LIST    values of K (default "2 8 32")
#   --seeds LIST    seeds, each run by both tools (default "1 2 3 4 5")
#   --imbalance E   allowed imbalance; gpmetis gets -ufactor=1000*E (default 0.03)
#   --bin PATH      a built dwcp-controlplane (default: cargo build --release)
#   --no-doc        do not rewrite the tables in docs/placement.md
#   --scenarios     also run the VM-traffic scenarios
#   --scenarios-only
#                   only the scenarios (no gpmetis needed)
#   --scenario-sizes LIST
#                   VMS:REGIONS pairs (default "300:3 100:3 600:3 1000:5 300:2")
#   --scenario-seeds LIST
#                   generator seeds (default "1 2 3 4 5 6 7 8 9 10")
#
# Installs `metis` and `libmetis-doc` with apt-get when gpmetis or the graphs
# are missing (needs root then; nothing is done when they are present). Per
# graph and K it compares the mean edge cut over the seeds, the worst
# imbalance and the mean partitioning time (gpmetis's "Partitioning" time;
# place-eval's `seconds`; file reading excluded for both) against the targets
#   cut <= 1.05 x gpmetis, imbalance <= 1+E, time <= 10 x gpmetis, all valid,
# writes the markdown table between the place-bench markers of
# docs/placement.md (place-bench-holdout2 with --holdout2), prints it, and prints as its last lines one JSON object
# per graph and K. The scenarios: one `place-scenario` run per size and seed
# (its verdicts: cross-region traffic >= 40 % below greedy first-fit, region
# LIF < 5 %, a rebalance after a hot-spot shift back under 15 % moving
# < 10 % of a full re-placement's memory, constraints honoured, no
# oscillation), a table between the place-scenario markers, one JSON line
# per run. A run whose only miss is the rebalance verdict, on an instance
# where a full re-placement also leaves X/T above 15 %, is shown as
# UNREACHABLE: not a pass (it counts as a miss for the exit status).
#
# Exit status: 0 every target met; 3 a target missed (MISS or UNREACHABLE); 2 set-up
# (packages, graphs, build) failed; 1 a tool failed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

log() { echo "place-bench: $*" >&2; }
die() {
    echo "place-bench: error: $*" >&2
    exit 2
}

graphs="4elt copter2 mdual"
parts="2 8 32"
seeds="1 2 3 4 5"
imbalance=0.03
bin=""
write_doc=1
run_metis=1
run_scenarios=0
holdout2=0
graphs_given=0
scenario_sizes="300:3 100:3 600:3 1000:5 300:2"
scenario_seeds="1 2 3 4 5 6 7 8 9 10"
while [[ $# -gt 0 ]]; do
    case $1 in
    --graphs) graphs=$2; graphs_given=1; shift 2 ;;
    --holdout) graphs_given=1; graphs="$graphs rgg2d grid3d powerlaw weighted"; shift ;;
    --holdout2) holdout2=1; shift ;;
    --parts) parts=$2; shift 2 ;;
    --seeds) seeds=$2; shift 2 ;;
    --imbalance) imbalance=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --no-doc) write_doc=0; shift ;;
    --scenarios) run_scenarios=1; shift ;;
    --scenarios-only) run_scenarios=1; run_metis=0; shift ;;
    --scenario-sizes) scenario_sizes=$2; shift 2 ;;
    --scenario-seeds) scenario_seeds=$2; shift 2 ;;
    -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
    esac
done
# The table's place in docs/placement.md: the second held-out set has its own.
doc_marker=place-bench
doc_title="Measured against METIS"
if [[ $holdout2 == 1 ]]; then
    [[ $graphs_given == 0 ]] || die "--holdout2 runs its own four graphs: not with --graphs or --holdout"
    graphs="rgg3d holes2d smallworld sbm"
    doc_marker=place-bench-holdout2
    doc_title="Measured against METIS: the second held-out set"
fi
command -v python3 >/dev/null 2>&1 || die "python3 is needed to parse and tabulate"

# Packages: only when something is missing (idempotent).
if [[ $run_metis == 1 ]] && { ! command -v gpmetis >/dev/null 2>&1 || ! dpkg -s libmetis-doc >/dev/null 2>&1; }; then
    [[ $(id -u) -eq 0 ]] || die "gpmetis or libmetis-doc missing: run as root or apt-get install metis libmetis-doc"
    log "installing metis and libmetis-doc"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q metis libmetis-doc >&2 ||
        { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q metis libmetis-doc >&2; } ||
        die "apt-get install metis libmetis-doc failed"
fi
ufactor=$(python3 -c "print(round(1000 * float('$imbalance')))")
[[ $run_metis == 1 ]] || graphs=""

work=$(mktemp -d "${TMPDIR:-/tmp}/place-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

# splice_doc NAME TITLE FILE: puts FILE between the <!-- NAME:begin --> and
# <!-- NAME:end --> markers of docs/placement.md (a new section TITLE at the
# end when the markers are missing).
splice_doc() {
    python3 - "$1" "$2" "$3" "$ROOT/docs/placement.md" <<'PY'
import sys
name, title, text_file, doc = sys.argv[1:5]
text = open(text_file).read().rstrip("\n")
begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
body = open(doc).read()
block = f"{begin}\n{text}\n{end}"
if begin in body and end in body:
    head, rest = body.split(begin, 1)
    body = head + block + rest.split(end, 1)[1]
else:
    body = body.rstrip("\n") + f"\n\n## {title}\n\n" + block + "\n"
open(doc, "w").write(body)
print(f"place-bench: {name} table written to {doc}", file=sys.stderr)
PY
}

# Generated hold-out graphs (deterministic: fixed seeds, no dependencies).
generate() {
    python3 - "$1" "$2" <<'PY'
import math, random, sys
name, out = sys.argv[1], sys.argv[2]
rng = random.Random(20260521)
def geometric(n, degree):
    pts = [(rng.random(), rng.random()) for _ in range(n)]
    r = math.sqrt(degree / (math.pi * n))
    cells = {}
    for i, (x, y) in enumerate(pts):
        cells.setdefault((int(x / r), int(y / r)), []).append(i)
    adj = [set() for _ in range(n)]
    for (cx, cy), members in cells.items():
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                for j in cells.get((cx + dx, cy + dy), ()):
                    for i in members:
                        if i < j and (pts[i][0] - pts[j][0]) ** 2 + (pts[i][1] - pts[j][1]) ** 2 <= r * r:
                            adj[i].add(j); adj[j].add(i)
    return adj
if name == "rgg2d":
    adj = geometric(30000, 10)
elif name == "weighted":
    adj = geometric(20000, 8)
elif name == "grid3d":
    s = 32
    idx = lambda x, y, z: (x * s + y) * s + z
    adj = [set() for _ in range(s ** 3)]
    for x in range(s):
        for y in range(s):
            for z in range(s):
                for dx, dy, dz in ((1, 0, 0), (0, 1, 0), (0, 0, 1)):
                    if x + dx < s and y + dy < s and z + dz < s:
                        a, b = idx(x, y, z), idx(x + dx, y + dy, z + dz)
                        adj[a].add(b); adj[b].add(a)
elif name == "powerlaw":
    n, m = 20000, 4
    adj = [set() for _ in range(n)]
    targets = list(range(m + 1))
    for a in range(m + 1):
        for b in range(a + 1, m + 1):
            adj[a].add(b); adj[b].add(a)
    ends = [v for v in range(m + 1) for _ in range(m)]
    for v in range(m + 1, n):
        chosen = set()
        while len(chosen) < m:
            chosen.add(rng.choice(ends))
        for u in chosen:
            adj[v].add(u); adj[u].add(v)
            ends += [u, v]
# The second held-out set (--holdout2): other families, each from its own seed
# (not 20260521), added 2026-11-21 after the partitioner's defaults were fixed.
elif name == "rgg3d":
    # Random geometric graph in the unit cube: 16000 points, mean degree ~12.
    rng.seed(7100301)
    n, degree = 16000, 12
    pts = [(rng.random(), rng.random(), rng.random()) for _ in range(n)]
    r = (3 * degree / (4 * math.pi * n)) ** (1 / 3)
    cells = {}
    for i, p in enumerate(pts):
        cells.setdefault(tuple(int(c / r) for c in p), []).append(i)
    adj = [set() for _ in range(n)]
    near = [(dx, dy, dz) for dx in (-1, 0, 1) for dy in (-1, 0, 1) for dz in (-1, 0, 1)]
    for (cx, cy, cz), members in cells.items():
        for dx, dy, dz in near:
            for j in cells.get((cx + dx, cy + dy, cz + dz), ()):
                for i in members:
                    if i < j and sum((a - b) ** 2 for a, b in zip(pts[i], pts[j])) <= r * r:
                        adj[i].add(j); adj[j].add(i)
elif name == "holes2d":
    # A 130 x 130 triangulated grid (each cell split by a random diagonal) with
    # 30 random round holes (radius 2-9 cells) cut out; the largest connected
    # component, renumbered (~14k vertices): an irregular planar mesh.
    rng.seed(7100302)
    s = 130
    holes = [(rng.uniform(0, s), rng.uniform(0, s), rng.uniform(2, 9)) for _ in range(30)]
    keep = {(x, y) for x in range(s) for y in range(s)
            if all((x - hx) ** 2 + (y - hy) ** 2 > hr * hr for hx, hy, hr in holes)}
    nbr = {p: set() for p in keep}
    def link(a, b):
        if a in keep and b in keep:
            nbr[a].add(b); nbr[b].add(a)
    for x in range(s):
        for y in range(s):
            link((x, y), (x + 1, y)); link((x, y), (x, y + 1))
            if rng.random() < 0.5:
                link((x, y), (x + 1, y + 1))
            else:
                link((x + 1, y), (x, y + 1))
    best = []
    seen = set()
    for start in sorted(keep):
        if start in seen:
            continue
        comp, stack = [], [start]
        seen.add(start)
        while stack:
            p = stack.pop(); comp.append(p)
            for q in nbr[p]:
                if q not in seen:
                    seen.add(q); stack.append(q)
        if len(comp) > len(best):
            best = comp
    index = {p: i for i, p in enumerate(sorted(best))}
    adj = [set() for _ in range(len(index))]
    for p, i in index.items():
        adj[i] = {index[q] for q in nbr[p]}
elif name == "smallworld":
    # Watts-Strogatz: a ring of 12000 vertices, each joined to its 4 nearest on
    # either side (degree 8), every edge rewired to a random end with p = 0.1.
    rng.seed(7100303)
    n, half, p = 12000, 4, 0.1
    adj = [set() for _ in range(n)]
    for v in range(n):
        for d in range(1, half + 1):
            adj[v].add((v + d) % n); adj[(v + d) % n].add(v)
    for v in range(n):
        for d in range(1, half + 1):
            u = (v + d) % n
            if u in adj[v] and rng.random() < p:
                w = rng.randrange(n)
                if w != v and w not in adj[v]:
                    adj[v].discard(u); adj[u].discard(v)
                    adj[v].add(w); adj[w].add(v)
elif name == "sbm":
    # Weighted stochastic block model: 10000 vertices in 40 blocks of 150-350;
    # each vertex draws 5 partners in its block and, with p = 0.6, 1 outside.
    # Vertex weights 1-3; edge weights 1-9 inside a block, 1-3 across.
    rng.seed(7100304)
    n = 10000
    sizes = [rng.randint(150, 350) for _ in range(39)]
    sizes.append(n - sum(sizes))
    assert sizes[-1] > 0
    block, first = [], []
    for b, size in enumerate(sizes):
        first.append(len(block)); block += [b] * size
    adj = [set() for _ in range(n)]
    for v in range(n):
        b = block[v]
        for _ in range(5):
            u = first[b] + rng.randrange(sizes[b])
            if u != v:
                adj[v].add(u); adj[u].add(v)
        if rng.random() < 0.6:
            u = rng.randrange(n)
            if block[u] != b:
                adj[v].add(u); adj[u].add(v)
    vertex_weight = [rng.randint(1, 3) for _ in range(n)]
    ew = {}
    for v in range(n):
        for u in adj[v]:
            if v < u:
                ew[(v, u)] = rng.randint(1, 9) if block[u] == block[v] else rng.randint(1, 3)
else:
    sys.exit(f"place-bench: unknown graph {name}")
n = len(adj)
m = sum(len(a) for a in adj) // 2
weighted = name in ("weighted", "sbm")
if name != "sbm":
    ew, vertex_weight = {}, None
def weight(a, b):
    key = (min(a, b), max(a, b))
    if key not in ew:
        ew[key] = rng.randint(1, 9)
    return ew[key]
with open(out, "w") as f:
    f.write(f"% place-bench generated graph {name}\n")
    f.write(f"{n} {m} 11\n" if weighted else f"{n} {m}\n")
    for v in range(n):
        if weighted:
            vw = vertex_weight[v] if vertex_weight else rng.randint(1, 4)
            f.write(" ".join([str(vw)] + [f"{u + 1} {weight(v, u)}" for u in sorted(adj[v])]) + "\n")
        else:
            f.write(" ".join(str(u + 1) for u in sorted(adj[v])) + "\n")
PY
}

# The graphs, from the package's file list (gunzipped when compressed).
declare -A graph_file
for g in $graphs; do
    case $g in
    rgg2d | grid3d | powerlaw | weighted | rgg3d | holes2d | smallworld | sbm)
        generate "$g" "$work/$g.graph" || die "cannot generate $g"
        graph_file[$g]=$work/$g.graph
        continue
        ;;
    esac
    src=$(dpkg -L libmetis-doc | grep -E "/$g\.graph(\.gz)?$" | head -1 || true)
    [[ -n $src && -f $src ]] || die "libmetis-doc has no $g.graph"
    if [[ $src == *.gz ]]; then
        gunzip -c "$src" >"$work/$g.graph"
    else
        cp "$src" "$work/$g.graph"
    fi
    graph_file[$g]=$work/$g.graph
done

if [[ -z $bin ]]; then
    log "building dwcp-controlplane (release)"
    nice -n 19 cargo build -q --release -p dwcp-controlplane >&2 || die "cargo build failed"
    bin=${CARGO_TARGET_DIR:-$ROOT/target}/release/dwcp-controlplane
fi
[[ -x $bin ]] || die "$bin is not an executable"

metis_status=0
scenario_status=0
measured="Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(uname -m) ($(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start)"

# One record per run: tool graph K seed cut imbalance seconds valid
runs=$work/runs.tsv
: >"$runs"
for g in $graphs; do
    for k in $parts; do
        for s in $seeds; do
            out=$(gpmetis -ptype=kway -ufactor="$ufactor" -seed="$s" -nooutput "${graph_file[$g]}" "$k" 2>&1) ||
                { echo "$out" >&2; echo "place-bench: gpmetis failed on $g K=$k" >&2; exit 1; }
            python3 - "$g" "$k" "$s" >>"$runs" <<PY || exit 1
import re, sys
text = """$out"""
cut = re.search(r"Edgecut:\s*(\d+)", text)
bal = re.search(r"constraint #0:\s*([0-9.]+)", text)
sec = re.search(r"Partitioning:\s*([0-9.]+)\s*sec", text)
if not (cut and bal and sec):
    sys.exit("place-bench: cannot parse gpmetis output:\n" + text)
print("gpmetis", *sys.argv[1:4], cut.group(1), bal.group(1), sec.group(1), "true", sep="\t")
PY
            line=$("$bin" place-eval --graph "${graph_file[$g]}" --parts "$k" --imbalance "$imbalance" --seed "$s" 2>"$work/err" | tail -1) || true
            python3 - "$g" "$k" "$s" "$line" >>"$runs" <<'PY' || { cat "$work/err" >&2; exit 1; }
import json, sys
g, k, s, line = sys.argv[1:5]
try:
    r = json.loads(line)
except ValueError:
    sys.exit(f"place-bench: place-eval printed no JSON on {g} K={k} seed {s}")
cut = r["edge_cut"] if r["edge_cut"] is not None else "nan"
imb = r["imbalance"] if r["imbalance"] is not None else "nan"
print("place-eval", g, k, s, cut, imb, r["seconds"], str(r["valid"]).lower(), sep="\t")
PY
            log "$g K=$k seed $s: $(tail -2 "$runs" | awk -F'\t' '{printf "%s cut %s imb %s %ss; ", $1, $5, $6, $7}')"
        done
    done
done

# Table, verdicts, doc, JSON lines.
if [[ $run_metis == 1 ]]; then
python3 - "$runs" "$imbalance" "$work/metis.md" "$seeds" "$measured" <<'PY' || metis_status=$?
import json, statistics, sys
runs, eps, table_file, seeds, measured = sys.argv[1:6]
eps = float(eps)
CUT_MAX, TIME_MAX, IMB_MAX = 1.05, 10.0, 1.0 + eps
rows = {}
for line in open(runs):
    tool, g, k, s, cut, imb, sec, valid = line.rstrip("\n").split("\t")
    r = rows.setdefault((g, int(k)), {"gpmetis": [], "place-eval": []})
    r[tool].append((float(cut), float(imb), float(sec), valid == "true"))
table = [
    "| graph | K | gpmetis cut | place-eval cut | cut ratio (<= %.2f) | gpmetis imb | place-eval imb (<= %.2f) | gpmetis s | place-eval s | time ratio (<= %.0f) | verdict |"
    % (CUT_MAX, IMB_MAX, TIME_MAX),
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
]
results, all_pass = [], True
for (g, k), r in rows.items():
    gm, pe = r["gpmetis"], r["place-eval"]
    g_cut = statistics.mean(x[0] for x in gm)
    p_cut = statistics.mean(x[0] for x in pe)
    g_imb = max(x[1] for x in gm)
    p_imb = max(x[1] for x in pe)
    g_s = statistics.mean(x[2] for x in gm)
    p_s = statistics.mean(x[2] for x in pe)
    cut_ratio = p_cut / g_cut if g_cut > 0 else (1.0 if p_cut == 0 else float("inf"))
    # gpmetis reports milliseconds: floor its time at 1 ms for the ratio.
    time_ratio = p_s / max(g_s, 0.001)
    valid = all(x[3] for x in pe)
    checks = {
        "cut": cut_ratio <= CUT_MAX,
        "imbalance": p_imb <= IMB_MAX + 1e-9,
        "time": time_ratio <= TIME_MAX,
        "valid": valid,
    }
    ok = all(checks.values())
    all_pass &= ok
    missed = [name for name, v in checks.items() if not v]
    verdict = "PASS" if ok else "MISS (" + ", ".join(missed) + ")"
    table.append(
        f"| {g} | {k} | {g_cut:.0f} | {p_cut:.0f} | {cut_ratio:.3f} | {g_imb:.3f} | {p_imb:.4f} | {g_s:.3f} | {p_s:.3f} | {time_ratio:.1f} | {verdict} |"
    )
    results.append({
        "graph": g, "parts": k, "seeds": len(pe),
        "gpmetis_cut": round(g_cut, 1), "cut": round(p_cut, 1), "cut_ratio": round(cut_ratio, 4),
        "gpmetis_imbalance": g_imb, "imbalance": round(p_imb, 5),
        "gpmetis_seconds": round(g_s, 4), "seconds": round(p_s, 4), "time_ratio": round(time_ratio, 2),
        "valid": valid, "pass": ok,
    })
header = (
    f"{measured}, seeds {seeds} for both tools, "
    f"imbalance {eps} (gpmetis -ptype=kway -ufactor={round(eps*1000)}). Cut and time: mean over "
    "the seeds; imbalance: the worst seed. Verdicts are computed by perf/place-bench.sh."
)
text = "\n".join([header, ""] + table)
print(text)
open(table_file, "w").write(text + "\n")
for r in results:
    print(json.dumps(r))
sys.exit(0 if all_pass else 3)
PY
if [[ $write_doc == 1 && -s $work/metis.md ]]; then splice_doc "$doc_marker" "$doc_title" "$work/metis.md"; fi
fi

# The VM-traffic scenarios.
if [[ $run_scenarios == 1 ]]; then
    sruns=$work/scenarios.jsonl
    : >"$sruns"
    for size in $scenario_sizes; do
        vms=${size%%:*}
        regions=${size##*:}
        for s in $scenario_seeds; do
            line=$("$bin" place-scenario --vms "$vms" --regions "$regions" --seed "$s" 2>"$work/err" | tail -1) || true
            if [[ $line != "{"* ]]; then
                cat "$work/err" >&2
                echo "place-bench: place-scenario printed no JSON for $vms VMs, $regions regions, seed $s" >&2
                exit 1
            fi
            echo "$line" >>"$sruns"
            log "scenario $vms VMs $regions regions seed $s: $(grep -o '"pass":[a-z]*' <<<"$line")"
        done
    done
    python3 - "$sruns" "$work/scenarios.md" "$scenario_seeds" "$measured" <<'PY' || scenario_status=$?
import json, sys
runs, table_file, seeds, measured = sys.argv[1:5]
rows = [json.loads(line) for line in open(runs) if line.strip()]
table = [
    "| VMs | regions | seed | X/T | greedy X/T | X below greedy (>= 40%) | LIF (< 5%) | hot-spot shift X/T | moves | moved GiB | re-placement GiB | ratio (< 10%) | app shift | place s | verdict |",
    "|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|---:|---|",
]
results, all_pass = [], True
for r in rows:
    s, a, v = r["shift"], r["app_shift"], r["verdicts"]
    missed = [k for k, ok in v.items() if not ok]
    outcome = r.get("outcome", "pass" if r["pass"] else "miss")
    if r["pass"]:
        verdict = "PASS"
    elif outcome == "unreachable":
        verdict = f'UNREACHABLE (re-placement X/T {s["replacement_cross_share"]:.3f} > 0.15)'
    else:
        verdict = "MISS (" + ", ".join(missed) + ")"
    all_pass &= r["pass"]
    app = f'{a["cross_share_before"]:.3f} -> {a["cross_share_after"]:.3f}, {a["moves"]} moves, ratio {a["memory_ratio"]:.3f}'
    table.append(
        f'| {r["vms"]} | {r["regions"]} | {r["seed"]} | {r["placement"]["cross_share"]:.4f} | '
        f'{r["greedy_first_fit"]["cross_share"]:.4f} | {100 * r["cross_reduction_vs_first_fit"]:.1f}% | '
        f'{100 * r["placement"]["lif_regions"]:.2f}% | {s["cross_share_before"]:.3f} -> {s["cross_share_after"]:.3f} | '
        f'{s["moves"]} | {s["moved_memory_mib"] / 1024:.0f} | {s["replacement_moved_memory_mib"] / 1024:.0f} | '
        f'{s["memory_ratio"]:.3f} | {app} | {r["seconds"]:.3f} | {verdict} |'
    )
    results.append({k: r[k] for k in ("vms", "regions", "seed", "pass")} | {
        "cross_reduction": round(r["cross_reduction_vs_first_fit"], 4),
        "lif": round(r["placement"]["lif_regions"], 4),
        "memory_ratio": round(s["memory_ratio"], 4),
        "replacement_cross_share": round(s["replacement_cross_share"], 4),
        "outcome": outcome,
        "verdicts": v,
    })
passed = sum(1 for r in rows if r["pass"])
unreachable = sum(1 for r in rows if not r["pass"] and r.get("outcome") == "unreachable")
header = (
    f"{measured}, generator seeds {seeds}; "
    f"{passed} of {len(rows)} runs PASS, {len(rows) - passed - unreachable} MISS, "
    f"{unreachable} UNREACHABLE (the rebalance target missed where a full re-placement also leaves "
    "X/T above 15 %: not a pass). Verdicts are computed by `place-scenario` (docs §7); "
    "\"app shift\" (whole applications re-wired) is reported without a verdict."
)
text = "\n".join([header, ""] + table)
print(text)
open(table_file, "w").write(text + "\n")
for r in results:
    print(json.dumps(r))
sys.exit(0 if all_pass else 3)
PY
    if [[ $write_doc == 1 && -s $work/scenarios.md ]]; then splice_doc place-scenario "VM-traffic scenarios" "$work/scenarios.md"; fi
fi

if [[ $metis_status -ne 0 && $metis_status -ne 3 ]]; then exit "$metis_status"; fi
if [[ $scenario_status -ne 0 && $scenario_status -ne 3 ]]; then exit "$scenario_status"; fi
if [[ $metis_status -eq 3 || $scenario_status -eq 3 ]]; then exit 3; fi
exit 0
