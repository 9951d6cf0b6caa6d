"""The HTTP API's speed: `vprec serve` under N concurrent clients, beside the in-process `recommend` call.

On a run folder (default: the 9.6k Myntra catalogue embedded with the weight-free encoder in `runs/bench-myntra9k`,
built once when absent, as `bench/query.py` does), this script

1. measures the in-process call `Recommender.recommend(id=..., k=10)` (near-duplicates removed, explanations) from one
   thread, and from N threads at once (the same work the server does, without HTTP);
2. starts `vprec serve` on a free localhost port (`vprec.serve.serving`: a child process) and sends `POST /recommend`
   with the same queries from N client threads (one keep-alive `httpx.Client` each), each level for `--seconds`
   seconds or `--max-requests` requests, whichever comes first;
3. prints requests, errors, p50/p99 latency and throughput of every line, and the goal: p50 over HTTP at 8 clients
   <= in-process p50 + 3 ms.

The clients run in this process, so on a small machine they share the cores with the server: the numbers are what a
client on the same machine sees.

    python bench/serve.py                          # 1 and 8 clients, 10 s each
    python bench/serve.py --clients 1 4 8 16 --seconds 20
"""
import argparse, os, sys, threading, time, warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def log(*a): print(f"[{time.strftime('%H:%M:%S')}]", *a, flush=True)


def bench_run(run, encoder):
    "The run folder to serve: built once from ../shared's 9.6k catalogue when absent (through pipeline.ensure)."
    from vprec.runfolder import RunFolder
    from vprec.pipeline import ensure
    rf, shared = RunFolder(run), ROOT.parent / "shared" / "data" / "fashion-myntra-9k"
    if not rf.catalogue_path.exists() and not shared.exists():
        sys.exit(f"{shared} is absent: give --run RUN, a built run folder")
    log(f"run folder {run} (its catalogue and {encoder} embeddings are made once, then reused)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore"); ensure(rf, "embed", source=shared, encoder=encoder)
    return rf


def stats(lat, n_err, secs, mode, clients):
    lat = np.array(lat) * 1000
    return dict(mode=mode, clients=clients, requests=len(lat) + n_err, errors=n_err,
                p50_ms=float(np.percentile(lat, 50)) if len(lat) else float("nan"),
                p99_ms=float(np.percentile(lat, 99)) if len(lat) else float("nan"),
                per_s=len(lat) / secs if secs > 0 else float("nan"))


def drive(n_threads, seconds, max_requests, one):
    "Call `one(rng)` from n threads until the time or the request budget runs out: (latencies, errors, wall seconds)."
    lat, errs, lock, stop = [], [0], threading.Lock(), threading.Event()
    budget = [max_requests]
    def worker(seed):
        rng = np.random.default_rng(seed)
        local, bad = [], 0
        while not stop.is_set():
            with lock:
                if budget[0] <= 0: break
                budget[0] -= 1
            t = time.perf_counter()
            ok = one(rng)
            dt = time.perf_counter() - t
            if ok: local.append(dt)
            else: bad += 1
        with lock: lat.extend(local); errs[0] += bad
    ts = [threading.Thread(target=worker, args=(s,)) for s in range(n_threads)]
    t0 = time.perf_counter()
    for t in ts: t.start()
    timer = threading.Timer(seconds, stop.set); timer.start()
    for t in ts: t.join()
    timer.cancel()
    return lat, errs[0], time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", default=str(ROOT / "runs" / "bench-myntra9k"), help="a built run folder (default: the 9.6k bench run)")
    ap.add_argument("--encoder", default="weightfree", help="the embeddings to serve (default: weightfree)")
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 8], help="concurrency levels (default: 1 8)")
    ap.add_argument("--seconds", type=float, default=10, help="seconds per level and mode (default: 10)")
    ap.add_argument("--max-requests", type=int, default=20000, help="requests per level and mode at most (default: 20000)")
    ap.add_argument("-k", type=int, default=10, help="results per query (default: 10)")
    ap.add_argument("--blas-threads", type=int, default=1, help="BLAS threads per call, in-process and in the server (default: 1, as `vprec serve`)")
    a = ap.parse_args()
    if not 1 <= max(a.clients) <= 64: sys.exit("--clients: between 1 and 64 clients")
    if not 0 < a.seconds <= 120: sys.exit("--seconds: between 0 and 120")
    import httpx
    from vprec.recommend import Recommender
    from vprec.serve import serving
    from threadpoolctl import threadpool_limits
    limits = threadpool_limits(a.blas_threads)   # the in-process calls run as the server runs them
    rf = bench_run(Path(a.run), a.encoder)
    rec = Recommender.from_run(rf, encoder=a.encoder)
    ids = rec.ids
    log(f"run {rf}: {len(ids)} products, encoder {rec.embeddings.encoder} ({rec.X.shape[1]}-d), index {rec.index.kind}, "
        f"{os.cpu_count()} cores")
    rec.recommend(id=ids[0], k=a.k)                                # warm-up
    rows = []
    def in_process(rng):
        rec.recommend(id=ids[rng.integers(len(ids))], k=a.k); return True
    for n in a.clients:
        lat, err, secs = drive(n, a.seconds, a.max_requests, in_process)
        rows.append(stats(lat, err, secs, "in-process", n)); log(rows[-1])
    with serving(rf, encoder=a.encoder, blas_threads=a.blas_threads) as url:
        local = threading.local()
        def http(rng):
            c = getattr(local, "c", None)
            if c is None: c = local.c = httpx.Client(base_url=url, timeout=30)
            r = c.post("/recommend", json={"id": ids[rng.integers(len(ids))], "k": a.k})
            return r.status_code == 200 and len(r.json()["results"]) == a.k
        http(np.random.default_rng(0))                             # the connection and the server warm
        for n in a.clients:
            lat, err, secs = drive(n, a.seconds, a.max_requests, http)
            rows.append(stats(lat, err, secs, "HTTP", n)); log(rows[-1])
    print(f"\nvprec serve on {len(ids)} products ({rec.embeddings.encoder}, {rec.X.shape[1]}-d, {rec.index.kind} index), "
          f"POST /recommend id query k={a.k} (dedup on), {a.seconds:g} s per line, {a.blas_threads} BLAS thread(s), "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print(f"{'mode':<11} {'clients':>7} {'requests':>9} {'errors':>6} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}")
    for r in rows:
        print(f"{r['mode']:<11} {r['clients']:>7} {r['requests']:>9} {r['errors']:>6} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['per_s']:>8.1f}")
    one = next((r for r in rows if r["mode"] == "in-process" and r["clients"] == 1), None)
    for r in rows:
        if r["mode"] == "HTTP" and r["clients"] == 8 and one:
            same = next((q for q in rows if q["mode"] == "in-process" and q["clients"] == 8), None)
            print(f"\ngoal: p50 over HTTP at 8 clients {r['p50_ms']:.2f} ms <= in-process p50 {one['p50_ms']:.2f} + 3 ms: "
                  f"{'met' if r['p50_ms'] <= one['p50_ms'] + 3 else 'not met'}; errors {r['errors']}"
                  + (f"; in-process at 8 threads p50 {same['p50_ms']:.2f} ms (HTTP adds {r['p50_ms'] - same['p50_ms']:.2f} ms)" if same else ""))


if __name__ == "__main__":
    main()
