"""Related items for the whole catalogue: `vprec.related.related` beside a bare batched exact search, in the same run.

On a run folder (default: the 9.6k Myntra catalogue embedded with the weight-free encoder in `runs/bench-myntra9k`,
built once when absent), this script times

1. the bare batched exact search: every product's top k + 1 by `vprec.index.exact_search` (one matrix product and a
   partial sort per batch of products), nothing else: the floor of any batch job over the index;
2. `related(rec, k)`: the same products through the run's index, the product and its near-duplicates removed, each
   product's pool re-ranked as `recommend(id=...)` does; and with MMR 0.7, and with `same_label`;

and prints rows/s (products per second) of each and its share of the bare search's rows/s. Goal: `related` (dedup on)
>= 50% of the bare search. The recommender is loaded once, before the timings.

    python bench/related.py
    python bench/related.py --repeat 3 --batch-size 1024
"""
import argparse, os, sys, time, warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def log(*a): print(f"[{time.strftime('%H:%M:%S')}]", *a, flush=True)


def best_of(repeat, f):
    "The fastest of `repeat` calls of f (seconds), and its last result."
    ts, out = [], None
    for _ in range(repeat):
        t = time.perf_counter(); out = f(); ts.append(time.perf_counter() - t)
    return min(ts), out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", default=str(ROOT / "runs" / "bench-myntra9k"), help="a built run folder (default: the 9.6k bench run)")
    ap.add_argument("--encoder", default="weightfree", help="the embeddings (default: weightfree)")
    ap.add_argument("-k", type=int, default=10, help="related products per product (default: 10)")
    ap.add_argument("--batch-size", type=int, default=512, help="products per batch, in both (default: 512)")
    ap.add_argument("--repeat", type=int, default=2, help="timings of each, the fastest kept (default: 2)")
    a = ap.parse_args()
    from vprec.runfolder import RunFolder
    from vprec.recommend import Recommender
    from vprec.index import exact_search
    from vprec.related import related
    rf = RunFolder(a.run)
    if not rf.catalogue_path.exists() or a.encoder not in rf.encoders():
        sys.path.insert(0, str(ROOT / "bench"))
        from serve import bench_run   # builds the 9.6k run once, as bench/serve.py does
        bench_run(rf.path, a.encoder)
    rec = Recommender.from_run(rf, encoder=a.encoder)
    X, n, B = rec.X, len(rec.ids), a.batch_size
    log(f"run {rf}: {n} products, encoder {rec.embeddings.encoder} ({X.shape[1]}-d), index {rec.index.kind}, {os.cpu_count()} cores")
    def bare():
        for b in range(0, n, B): exact_search(X, X[b:b + B], a.k + 1)
    related(rec, k=a.k, batch_size=B)                                      # warm-up (lazy tables, BLAS threads)
    rows = [("bare batched exact search (top k+1)", best_of(a.repeat, bare)[0], None)]
    for name, kw in [("related (dedup)", {}), ("related (dedup + MMR 0.7)", {"mmr": 0.7}),
                     ("related (dedup, same label)", {"same_label": True})]:
        secs, t = best_of(a.repeat, lambda: related(rec, k=a.k, batch_size=B, **kw))
        rows.append((name, secs, t)); log(name, f"{secs:.2f} s")
    base = n / rows[0][1]
    print(f"\nrelated items on {n} products ({rec.embeddings.encoder}, {X.shape[1]}-d, {rec.index.kind} index), k={a.k}, "
          f"batch {B}, best of {a.repeat}, {os.cpu_count()} cores")
    print(f"{'job':<38} {'seconds':>8} {'rows/s':>9} {'of bare':>8} {'rows out':>9}")
    for name, secs, t in rows:
        print(f"{name:<38} {secs:>8.2f} {n / secs:>9.0f} {n / secs / base:>8.0%} {len(t) if t is not None else n * (a.k + 1):>9}")
    share = n / rows[1][1] / base
    print(f"\ngoal: related (dedup) >= 50% of the bare search's rows/s: {share:.0%}, {'met' if share >= 0.5 else 'not met'}")


if __name__ == "__main__":
    main()
