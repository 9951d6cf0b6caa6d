"""Query speed of vprec: a full `recommend` call beside the bare exact search, and FAISS indexes against exact search.

Part A (the catalogue): on the 9.6k Myntra catalogue (../shared/data/fashion-myntra-9k), the time of a full
`Recommender.recommend` call (id query, k=10, near-duplicate removal and MMR λ=0.7) beside the bare exact search for
the same query (NumPy `X @ q` + partial sort of the top k+1), each timed right after it. Goals: <= 2x, and <= 3x
with a filter and hybrid weights; the cost of the `--json` object and of the pandas table is shown below it. The catalogue is embedded with the
weight-free encoder (or `--encoder`), into `runs/bench-myntra9k` (reused when present); `--random` uses random unit
vectors of the same size instead (say so when you report it).

Part B (scale): recall@10 and single-query queries/s of HNSW and IVF-PQ (as built by `vprec.index.VectorIndex`)
against exact search on N (default 1,000,000) synthetic 512-d unit vectors: a mixture of a few thousand clusters,
each spread along a few directions (as real embeddings are: low intrinsic dimension around many modes), and
uniform random unit vectors (the worst case: no structure for an index to use). Queries are 1,000 new draws from
the same distribution (not stored vectors). Exact qps is the NumPy scan of one query at a time with the BLAS threads
of both cores, timed again right after each index setting so that each speed-up is a ratio of two timings taken
side by side. Index searches run one query at a time on `--search-threads` FAISS threads (default 1: for a single
query, OpenMP's fork/join costs more than it saves, and stalls when another process holds a core; measured here:
IVF-PQ nprobe 4 took 7.3 ms per query on 2 threads, 3.8 ms on 1). Goal: recall@10 >= 0.95 at >= 50x the exact
queries/s.

    python bench/query.py                      # both parts, N = 1,000,000
    python bench/query.py --n 200000 --skip-catalogue
Memory: the vectors (N x 512 x 4 bytes = 2 GB at 1M) plus one index at a time (HNSW: about the same again).
"""
import argparse, gc, os, sys, time, warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import faiss
from vprec.index import VectorIndex, exact_search, recall_at_k
from vprec.encoders import l2n


def log(*a):
    print(f"[{time.strftime('%H:%M:%S')}]", *a, flush=True)


# ---------------------------------------------------------------- part A: a full recommend call vs bare exact search
def catalogue_part(args):
    from vprec.recommend import Recommender
    shared = ROOT.parent / "shared" / "data" / "fashion-myntra-9k"
    if args.random or not shared.exists():
        why = "--random" if args.random else f"{shared} is absent"
        log(f"part A on random unit vectors ({why}): 9,583 x {args.random_dim}")
        rng = np.random.default_rng(0)
        X = l2n(rng.standard_normal((9583, args.random_dim), dtype=np.float32))
        ids = [str(10000 + i) for i in range(len(X))]
        df = pd.DataFrame({"id": ids, "title": ["product"] * len(X), "articleType": rng.choice(list("abcdefghij"), len(X))})
        from types import SimpleNamespace
        rec = Recommender(df, SimpleNamespace(X=X, ids=ids, encoder="random", fingerprint={}, meta={}))
        data = f"random unit vectors, 9583 x {args.random_dim}"
    else:
        from vprec.pipeline import ensure
        run = Path(args.run) if args.run else ROOT / "runs" / "bench-myntra9k"
        log(f"run folder {run} (the catalogue and embeddings are made once, then reused)")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            emb = ensure(run, "embed", source=shared, encoder=args.encoder)
        rec = Recommender.from_run(run, encoder=emb.encoder)
        data = (f"fashion-myntra-9k, {len(emb.ids)} products, encoder {emb.encoder} ({emb.X.shape[1]}-d), "
                f"index {rec.index.kind}")
    log("part A:", data)
    X, ids = rec.X, rec.ids
    rng = np.random.default_rng(1)
    qs = rng.choice(len(ids), size=min(args.catalogue_queries, len(ids)), replace=False)
    filt_col = next((c for c in ("gender", "masterCategory") if c in rec.df), None)
    filters = {filt_col: rec.df[filt_col].astype(str).value_counts().index[:2].tolist()} if filt_col else None
    hybrid = {"image": 0.7, "text": 0.3, "category": 0.5}
    calls = {   # name -> (keyword arguments, the goal as a multiple of the bare search, what is done with the answer)
        "recommend(id, k=10) dedup": (dict(k=10), None, None),
        "recommend(id, k=10, mmr=0.7) dedup + MMR": (dict(k=10, mmr=0.7), 2, None),
        "  ... + .to_dict() (the --json object)": (dict(k=10, mmr=0.7), None, "to_dict"),
        "  ... + .results (the pandas table)": (dict(k=10, mmr=0.7), None, "results"),
        f"recommend(id, k=10, mmr=0.7, filter {filt_col}, hybrid {hybrid})": (dict(k=10, mmr=0.7, filters=filters,
                                                                                  weights=hybrid), 3, None)}
    for kw, _, _ in calls.values(): rec.recommend(id=ids[qs[0]], **kw)   # warm-up: lazy title-text fit, caches
    t_bare, times = [], {name: [] for name in calls}
    for r in qs:   # each call right after the bare search of the same query: the machine's load moves both alike
        t = time.perf_counter(); exact_search(X, X[r], 11); t_bare.append(time.perf_counter() - t)
        for name, (kw, _, then) in calls.items():
            t = time.perf_counter(); recs = rec.recommend(id=ids[r], **kw)
            if then: getattr(recs, then)() if then == "to_dict" else getattr(recs, then)
            times[name].append(time.perf_counter() - t)
    med = lambda v: float(np.median(v)) * 1000
    rows = [dict(call="bare exact search (X @ q, top 11)", ms_median=med(t_bare), ratio=1.0, goal="")]
    for name, (kw, goal, _) in calls.items():
        rows.append(dict(call=name, ms_median=med(times[name]), ratio=med(times[name]) / med(t_bare),
                         goal=f"<= {goal}x" if goal else ""))
    tab = pd.DataFrame(rows)
    print(f"\nPart A: {data}; {len(qs)} id queries, medians, {args.threads} threads")
    print(tab.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    for row in rows:
        if row["goal"]:
            met = row["ratio"] <= float(row["goal"][3:-1])
            print(f"goal: {row['call']} {row['goal']} bare exact search -> {'met' if met else 'NOT met'} "
                  f"({row['ratio']:.2f}x)", flush=True)
    print()
    return tab


# ---------------------------------------------------------------- part B: synthetic 1M
class Mixture:
    "Unit vectors around n_clusters random unit centres, each cluster spread along `intrinsic` random directions (noise norm ~`spread`)."
    def __init__(self, d=512, n_clusters=4096, intrinsic=8, spread=1.0, seed=0):
        rng = np.random.default_rng(seed)
        self.C = l2n(rng.standard_normal((n_clusters, d), dtype=np.float32))
        self.B = (rng.standard_normal((n_clusters, intrinsic, d), dtype=np.float32) / np.sqrt(d)).astype(np.float32)
        self.d, self.k, self.r, self.spread = d, n_clusters, intrinsic, spread

    def draw(self, n, seed):
        "n vectors: cluster sizes drawn at random, each cluster's rows made at once, placed at random positions."
        rng = np.random.default_rng(seed); X = np.empty((n, self.d), np.float32)
        sizes = rng.multinomial(n, np.full(self.k, 1 / self.k)); pos = rng.permutation(n); s = 0
        for c, m in enumerate(sizes):
            if not m: continue
            z = rng.standard_normal((m, self.r), dtype=np.float32) * (self.spread / np.sqrt(self.r))
            noise = z @ self.B[c]            # rows of B have norm ~1, so the noise has norm ~spread
            noise += rng.standard_normal((m, self.d), dtype=np.float32) * (0.1 * self.spread / np.sqrt(self.d))
            X[pos[s:s + m]] = l2n(self.C[c] + noise); s += m
        return X


def uniform(n, d, seed, chunk=100_000):
    rng = np.random.default_rng(seed); X = np.empty((n, d), np.float32)
    for s in range(0, n, chunk):
        m = min(chunk, n - s); X[s:s + m] = l2n(rng.standard_normal((m, d), dtype=np.float32))
    return X


def time_single(fn, Q, k):
    t = time.perf_counter()
    for q in Q: fn(q[None], k)
    return (time.perf_counter() - t) / len(Q)


def side_by_side(search, X, Q, k, args):
    "Per-query seconds of `search` and of the exact NumPy scan, timed one after the other (a shared machine's load moves both)."
    t = time_single(search, Q[:args.timing_queries], k)
    t_ex = time_single(lambda q, kk: exact_search(X, q, kk), Q[:args.exact_side_queries], k)
    return t, t_ex


def build_chunked(X, ids, kind, params, chunk=100_000):
    "Build through VectorIndex: train/build on the first chunk, then `add` the rest (incremental add), logging progress."
    t = time.perf_counter()
    first = len(X) if kind == "ivfpq" else min(chunk, len(X))   # IVF-PQ trains on all of it (FAISS subsamples)
    idx = VectorIndex.build(X[:first], ids[:first], kind, **params)
    for s in range(first, len(X), chunk):
        idx.add(X[s:s + chunk], ids[s:s + chunk])
        log(f"  {kind}: {s + chunk:,} / {len(X):,} added ({time.perf_counter() - t:.0f}s)")
    return idx, time.perf_counter() - t


def scale_part(args, name, X, Q):
    k = 10
    log(f"{name}: exact top-{k} of {len(Q)} queries (blocked scan)")
    S_true, I_true = exact_search(X, Q, k)
    Qt = Q[:args.exact_timing_queries]
    t_exact = time_single(lambda q, kk: exact_search(X, q, kk), Qt, k)
    log(f"{name}: exact NumPy scan {t_exact * 1000:.1f} ms/query ({1 / t_exact:.1f} qps, {len(Qt)} queries timed)")
    log(f"{name}: mean cosine of the 1st / 10th exact neighbour: {S_true[:, 0].mean():.3f} / {S_true[:, k - 1].mean():.3f}")
    rows = [dict(data=name, kind="exact (numpy)", setting="", build_s=0.0, recall10=1.0, ms=t_exact * 1000,
                 qps=1 / t_exact, exact_ms=t_exact * 1000, speedup=1.0)]
    ids = np.arange(len(X)).astype(str).tolist()
    for kind in args.kinds:
        if kind == "hnsw":
            params, sweep, knob = dict(M=args.hnsw_m, efConstruction=args.ef_construction, efSearch=64), args.ef_search, "efSearch"
        else:
            nlist = args.nlist or int(round(np.sqrt(len(X))))
            params, sweep, knob = dict(nlist=nlist, m=args.m, refine="flat", k_factor=args.k_factor), args.nprobe, "nprobe"
        log(f"{name}: building {kind} {params}")
        idx, build = build_chunked(X, ids, kind, params)
        log(f"{name}: {kind} built in {build:.0f}s")
        faiss.omp_set_num_threads(args.search_threads)
        for v in sweep:
            idx.params[knob] = v
            _, I = idx.search_rows(Q, k)
            rec = recall_at_k(S_true, I, X, Q, k)
            t, t_ex = side_by_side(idx.search_rows, X, Q, k, args)
            setting = f"{knob}={v}" + (f" k_factor={idx.params['k_factor']}" if kind == "ivfpq" else "")
            rows.append(dict(data=name, kind=kind, setting=setting, build_s=build, recall10=rec, ms=t * 1000, qps=1 / t,
                             exact_ms=t_ex * 1000, speedup=t_ex / t))
            log(f"  {kind} {setting}: recall@10 {rec:.3f}, {t * 1000:.2f} ms/query, exact {t_ex * 1000:.0f} ms: {t_ex / t:.0f}x")
        if kind == "ivfpq":   # PQ codes alone (no exact re-ranking of candidates): k_factor 1
            idx.params.update(k_factor=1, nprobe=sweep[-1])
            _, I = idx.search_rows(Q, k); rec = recall_at_k(S_true, I, X, Q, k)
            t, t_ex = side_by_side(idx.search_rows, X, Q, k, args)
            rows.append(dict(data=name, kind=kind, setting=f"nprobe={sweep[-1]} codes only", build_s=build, recall10=rec,
                             ms=t * 1000, qps=1 / t, exact_ms=t_ex * 1000, speedup=t_ex / t))
            log(f"  {kind} codes only: recall@10 {rec:.3f}")
        faiss.omp_set_num_threads(args.threads)
        del idx; gc.collect()
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=1_000_000, help="synthetic vectors (part B)")
    p.add_argument("--d", type=int, default=512)
    p.add_argument("--clusters", type=int, default=4096)
    p.add_argument("--queries", type=int, default=1000, help="queries for recall (part B)")
    p.add_argument("--timing-queries", type=int, default=300, help="queries timed one at a time per index setting")
    p.add_argument("--exact-timing-queries", type=int, default=50, help="queries timed with the NumPy scan (the exact row)")
    p.add_argument("--exact-side-queries", type=int, default=10, help="exact-scan queries timed right after each index setting")
    p.add_argument("--threads", type=int, default=2, help="BLAS threads of the exact NumPy scan (and of index building)")
    p.add_argument("--search-threads", type=int, default=1, help="FAISS threads of a single-query index search")
    p.add_argument("--kinds", nargs="+", default=["ivfpq", "hnsw"])
    p.add_argument("--datasets", nargs="+", default=["clustered", "uniform"])
    p.add_argument("--hnsw-m", type=int, default=32)
    p.add_argument("--ef-construction", type=int, default=64)
    p.add_argument("--uniform-n", type=int, default=None, help="size of the uniform set (default: --n)")
    p.add_argument("--ef-search", type=int, nargs="+", default=[32, 64, 128, 256])
    p.add_argument("--nlist", type=int, default=None, help="IVF cells (default sqrt(N))")
    p.add_argument("--nprobe", type=int, nargs="+", default=[2, 4, 8, 16, 32])
    p.add_argument("--m", type=int, default=64, help="IVF-PQ sub-quantisers (8 dimensions each at 512-d)")
    p.add_argument("--k-factor", type=int, default=8)
    p.add_argument("--skip-catalogue", action="store_true")
    p.add_argument("--skip-scale", action="store_true")
    p.add_argument("--random", action="store_true", help="part A on random unit vectors instead of the catalogue")
    p.add_argument("--random-dim", type=int, default=512)
    p.add_argument("--catalogue-queries", type=int, default=300)
    p.add_argument("--encoder", default="weightfree")
    p.add_argument("--run", default=None, help="run folder of the 9.6k catalogue (default runs/bench-myntra9k, made when missing)")
    args = p.parse_args(argv)
    faiss.omp_set_num_threads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    try:   # the BLAS pool is made when numpy is imported: the variable above comes too late for it
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.threads)
    except ImportError: log("threadpoolctl is absent: the BLAS threads are numpy's default")
    t0 = time.perf_counter()
    if not args.skip_catalogue: catalogue_part(args)
    if args.skip_scale: return
    rows = []
    for name in args.datasets:
        log(f"drawing {name} vectors of dimension {args.d}")
        if name == "clustered":
            mix = Mixture(args.d, args.clusters)
            X, Q = mix.draw(args.n, seed=1), mix.draw(args.queries, seed=2)
        else:
            X, Q = uniform(args.uniform_n or args.n, args.d, seed=1), uniform(args.queries, args.d, seed=2)
        label = f"{name} {len(X) // 1000}k" if len(X) < 1_000_000 else f"{name} {len(X) / 1e6:g}M"
        rows += scale_part(args, label, X, Q)
        del X; gc.collect()
    tab = pd.DataFrame(rows)
    print(f"\nPart B: {args.d}-d unit vectors, {args.queries} queries, recall@10 vs exact, single-query latency: "
          f"exact NumPy scan on {args.threads} BLAS threads ({args.exact_timing_queries} queries), index searches on "
          f"{args.search_threads} FAISS thread(s) ({args.timing_queries} queries)")
    print(tab.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    ok = tab[(tab.kind != "exact (numpy)") & (tab.recall10 >= 0.95) & (tab.speedup >= 50)]
    for name in tab.data.unique():
        hit = ok[ok.data == name]
        print(f"goal recall@10 >= 0.95 at >= 50x exact qps on {name}: " +
              ("met by " + "; ".join(f"{r.kind} {r.setting} ({r.recall10:.3f}, {r.speedup:.0f}x)" for r in hit.itertuples())
               if len(hit) else "NOT met"))
    print(f"total {time.perf_counter() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
