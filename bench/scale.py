"""An on-disk IVF-PQ index over millions of synthetic 512-d vectors that are never all in memory at once.

Extends bench/query.py (1M vectors, in memory) past memory, with FAISS's own recipe for catalogues that outgrow
RAM (faiss `demos/demo_ondisk_ivf.py`, `faiss.contrib.ondisk.merge_ondisk`):

1. the float32 vectors are written chunk by chunk to a `.npy` file on disk (a memmap; never loaded whole);
2. an IVF-PQ index is trained on a sample and saved empty;
3. shards of the vectors are added to copies of the trained index, one shard in memory at a time, and written out
   (shards could be built on separate machines);
4. `merge_ondisk` merges the shards' inverted lists into one `OnDiskInvertedLists` file that is memory-mapped at
   query time: RAM holds the coarse centroids, the PQ tables and the pages the queries touch;
5. queries are answered from the PQ codes alone, and with an exact re-ranking of the candidates read from the
   on-disk float vectors (what buys back the recall PQ loses).

Measured side by side in one run: build time per step, peak resident memory (RSS) against the size of the
vectors, recall@10 against exact search, and queries/s (batched, and single-query latency) against an exact
brute-force scan of the same memmap.

    python bench/scale.py [--n 1000000] [--d 512] [--clusters 2000] [--nq 300] [--dir DIR] [--keep]

Defaults need ~2.5 GB of free disk (1M x 512 x 4 B = 2 GB of vectors) and take about 12 minutes on 2 busy cores;
`--n 5000000` is the same code at 5M (10 GB on disk).
"""
import argparse, os, resource, shutil, signal, sys, tempfile, time
from pathlib import Path
import numpy as np
import faiss
from faiss.contrib.ondisk import merge_ondisk

_peak_anon = 0.0

def anon_gb() -> float:
    """Anonymous resident memory of this process in GB (/proc RssAnon): what the process really holds. Pages of the
    memory-mapped files also count in RSS, but they are the kernel's page cache, dropped under memory pressure."""
    global _peak_anon
    try:
        for line in open("/proc/self/status"):
            if line.startswith("RssAnon:"):
                v = int(line.split()[1]) / 2**20; _peak_anon = max(_peak_anon, v); return v
    except OSError: pass
    return float("nan")

def peak_gb() -> float:
    "Peak resident memory of this process so far (anonymous + mapped file pages), in GB."
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20

sys.path.insert(0, str(Path(__file__).resolve().parent))
from query import Mixture   # the same synthetic embeddings as bench/query.py (clusters with a low-dimensional spread)

def exact_topk(X, Q, k, chunk=100_000):
    "Exact inner-product top-k of Q over the memmap X, one chunk in memory at a time."
    best_d = np.full((len(Q), k), -np.inf, np.float32); best_i = np.full((len(Q), k), -1, np.int64)
    for s in range(0, len(X), chunk):
        D, I = faiss.knn(Q, np.ascontiguousarray(X[s:s + chunk]), k, metric=faiss.METRIC_INNER_PRODUCT)
        D2, I2 = np.hstack([best_d, D]), np.hstack([best_i, I + s])
        o = np.argsort(-D2, axis=1)[:, :k]
        best_d, best_i = np.take_along_axis(D2, o, 1), np.take_along_axis(I2, o, 1)
    return best_d, best_i

def recall_at(I, gt, k=10):
    "Share of the exact top-k found among the first k results, averaged over queries."
    return float(np.mean([len(set(a[:k]) & set(b[:k])) / k for a, b in zip(I, gt)]))

def rerank(X, Q, cand, k):
    "Exact re-ranking of candidate ids with the float vectors read from the on-disk memmap."
    out = np.empty((len(Q), k), np.int64)
    for j, (q, c) in enumerate(zip(Q, cand)):
        c = c[c >= 0]; cs = np.sort(c)                         # sorted reads are kinder to the disk
        s = np.asarray(X[cs]) @ q
        out[j] = cs[np.argsort(-s)[:k]]
    return out

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="vectors in the catalogue")
    ap.add_argument("--d", type=int, default=512)
    ap.add_argument("--clusters", type=int, default=2000, help="mixture components of the synthetic vectors")
    ap.add_argument("--nq", type=int, default=300, help="queries")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--nlist", type=int, default=None, help="IVF cells (default: sqrt(n) rounded to a power of 2)")
    ap.add_argument("--m", type=int, default=64, help="PQ sub-quantisers (bytes per vector at 8 bits)")
    ap.add_argument("--train", type=int, default=None, help="training sample (default: 40 per IVF cell)")
    ap.add_argument("--shard", type=int, default=500_000, help="vectors per shard")
    ap.add_argument("--nprobe", type=int, nargs="+", default=[16, 64, 256])
    ap.add_argument("--k-factor", type=int, default=10, help="candidates per result for the exact re-ranking")
    ap.add_argument("--dir", default=None, help="working folder (default: a temporary one, removed at the end)")
    ap.add_argument("--keep", action="store_true", help="keep the working folder")
    a = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))   # so the working files are still removed
    work = Path(a.dir) if a.dir else Path(tempfile.mkdtemp(prefix="vprec-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(work).free
    need = a.n * a.d * 4 * 1.15 + a.n * (a.m + 8) * 2
    if free < need: sys.exit(f"{work}: {free/1e9:.1f} GB free, the benchmark needs about {need/1e9:.1f} GB; use --n or --dir")
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    nlist = a.nlist or int(2 ** round(np.log2(np.sqrt(a.n))))
    vec_gb = a.n * a.d * 4 / 1e9
    print(f"{a.n:,} x {a.d}-d float32 vectors ({vec_gb:.2f} GB), mixture of {a.clusters} clusters; IVF{nlist},PQ{a.m} "
          f"(inner product); {os.cpu_count()} cores, faiss {faiss.__version__}; work dir {work}")
    T = {}
    try:
        # 1. the vectors, chunk by chunk onto disk
        t = time.perf_counter(); mix = Mixture(a.d, a.clusters)
        X = np.lib.format.open_memmap(work/"vectors.npy", mode="w+", dtype=np.float32, shape=(a.n, a.d))
        chunk = 100_000
        for s in range(0, a.n, chunk):
            X[s:s + chunk] = mix.draw(min(chunk, a.n - s), seed=1 + s // chunk)
            if s == 0: print(f"  first chunk of {chunk:,} written: {time.perf_counter() - t:.0f} s", flush=True)
        X.flush(); del X
        T["write vectors"] = time.perf_counter() - t
        X = np.load(work/"vectors.npy", mmap_mode="r")
        Q = mix.draw(a.nq, seed=10**6)
        print(f"  vectors on disk: {T['write vectors']:.0f} s; anonymous RSS now {anon_gb():.2f} GB")

        # 2. train on a sample, save the empty index
        t = time.perf_counter()
        quant = faiss.IndexFlatIP(a.d)
        index = faiss.IndexIVFPQ(quant, a.d, nlist, a.m, 8, faiss.METRIC_INNER_PRODUCT)
        index.cp.niter = 10                                    # k-means iterations of the coarse quantiser
        ntrain = min(a.train or 40 * nlist, a.n)
        sample = np.ascontiguousarray(X[np.sort(np.random.default_rng(0).choice(a.n, ntrain, replace=False))])
        index.train(sample); anon_gb(); del sample
        faiss.write_index(index, str(work/"trained.index"))
        T["train"] = time.perf_counter() - t
        print(f"  trained on {ntrain:,}: {T['train']:.0f} s")

        # 3. shards, one in memory at a time
        t = time.perf_counter(); shards = []
        for j, s in enumerate(range(0, a.n, a.shard)):
            idx = faiss.read_index(str(work/"trained.index"))
            for c in range(s, min(s + a.shard, a.n), chunk):
                e = min(c + chunk, s + a.shard, a.n)
                idx.add_with_ids(np.ascontiguousarray(X[c:e]), np.arange(c, e, dtype=np.int64)); anon_gb()
            faiss.write_index(idx, str(work/f"shard{j}.index")); shards.append(str(work/f"shard{j}.index")); del idx
        T["add (shards)"] = time.perf_counter() - t
        print(f"  {len(shards)} shards added: {T['add (shards)']:.0f} s")

        # 4. merge into on-disk inverted lists
        t = time.perf_counter()
        index = faiss.read_index(str(work/"trained.index"))
        merge_ondisk(index, shards, str(work/"merged.ivfdata"))
        faiss.write_index(index, str(work/"populated.index")); del index
        for f in shards: os.remove(f)
        T["merge on disk"] = time.perf_counter() - t
        anon_gb(); rss_before = anon_gb()
        index = faiss.read_index(str(work/"populated.index"), faiss.IO_FLAG_ONDISK_SAME_DIR)
        rss_loaded = anon_gb()
        ivf_gb = os.path.getsize(work/"merged.ivfdata") / 1e9
        print(f"  merged on disk: {T['merge on disk']:.0f} s; inverted lists file {ivf_gb:.2f} GB; "
              f"opening the index added {rss_loaded - rss_before:.2f} GB of anonymous RSS")

        # 5. exact ground truth over the memmap (also the brute-force speed reference)
        t = time.perf_counter(); _, gt = exact_topk(X, Q, a.k); t_exact = time.perf_counter() - t; anon_gb()
        qps_exact = a.nq / t_exact
        print(f"  exact brute force over the on-disk vectors: {qps_exact:.1f} queries/s (batched)")
        rows = []
        for nprobe in a.nprobe:
            faiss.extract_index_ivf(index).nprobe = nprobe
            index.search(Q[:20], a.k)                              # warm the touched pages
            t = time.perf_counter(); _, I = index.search(Q, a.k); t_pq = time.perf_counter() - t
            t = time.perf_counter()
            for q in Q[:100]: index.search(q[None], a.k)
            lat_pq = (time.perf_counter() - t) / 100 * 1e3
            t = time.perf_counter(); _, C = index.search(Q, a.k * a.k_factor); R = rerank(X, Q, C, a.k)
            t_rr = time.perf_counter() - t; anon_gb()
            rows.append((nprobe, "PQ codes only", recall_at(I, gt, a.k), a.nq / t_pq, lat_pq))
            rows.append((nprobe, f"+ exact re-rank of {a.k * a.k_factor}", recall_at(R, gt, a.k), a.nq / t_rr, None))
        print()
        print(f"| nprobe | search | recall@{a.k} | queries/s (batched) | x exact | single-query ms |")
        print("|---|---|---|---|---|---|")
        print(f"| - | exact brute force (memmap) | 1.000 | {qps_exact:.1f} | 1.0 | |")
        for nprobe, kind, rec, qps, lat in rows:
            print(f"| {nprobe} | {kind} | {rec:.3f} | {qps:.0f} | {qps / qps_exact:.0f} | {'' if lat is None else f'{lat:.2f}'} |")
        print()
        print("| step | seconds |"); print("|---|---|")
        for k, v in T.items(): print(f"| {k} | {v:.0f} |")
        print(f"| build total | {sum(T.values()):.0f} |")
        print()
        anon_gb()
        print(f"memory: vectors {vec_gb:.2f} GB on disk; PQ inverted lists {ivf_gb:.2f} GB on disk (memory-mapped); "
              f"peak anonymous RSS of this process {_peak_anon:.2f} GB (sampled after each step; the ground-truth chunks "
              f"of 100k vectors are the largest); peak RSS counting mapped file pages {peak_gb():.2f} GB")
    finally:
        if not a.keep and not a.dir: shutil.rmtree(work, ignore_errors=True)
        elif not a.keep:
            for f in ("vectors.npy", "trained.index", "populated.index", "merged.ivfdata"): (work/f).unlink(missing_ok=True)

if __name__ == "__main__":
    main()
