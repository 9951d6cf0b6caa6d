"""Throughput and quality of the weight-free encoder, measured side by side in one run.

    python bench/weightfree.py [--source data] [--workers 2] [--n 1000] [--against REV]

Prints images/s (wall clock) for decode alone and for decode + descriptors (the encoder's `preprocess`) in a pool of `--workers`
processes and in one process, the CPU time per image (the load-independent figure on a shared machine), the ratio to the 300 images/s goal, and leave-one-out articleType P@1/P@5 of the encoder
(not whitened, and whitened with 5-fold cross-fitting) on the same images beside the exact random baseline.

`--against REV` (a git revision, e.g. `HEAD` before committing a change, or `HEAD~1`) also loads that revision's
`vprec/weightfree.py` and times it beside this checkout's in one process, in alternating rounds on the same images (so a busy
machine slows both alike), and says whether their raw descriptors are bit-identical.
"""
import argparse, importlib.util, io, os, subprocess, time
from multiprocessing import get_context
from pathlib import Path
import numpy as np, pandas as pd
from PIL import Image
from vprec.runfolder import sha1
from vprec.weightfree import WeightFreeEncoder, raw_descriptors
from vprec.index import exact_search
from vprec.evaluate import precision_at_k, random_precision

def protocol(meta, root, label, min_per_label):
    "The weight-free chapter's protocol: one product per distinct image file (and its path), labels of enough products."
    m = meta.assign(path=[str(Path(root) / p) for p in meta["image"]])
    m["content_hash"] = [sha1(Path(p).read_bytes()) for p in m["path"]]
    m = m[~m["content_hash"].duplicated()]
    counts = m[label].value_counts()
    return m[m[label].isin(counts[counts >= min_per_label].index)].reset_index(drop=True)

def _scores(X, rows, y, k):
    "Labels (len(rows), k) of the k nearest other products of each product at `rows` (exact search), and the queries'."
    y = np.asarray(y, dtype=object)
    R = y[[[j for j in row if j != i][:k] for i, row in zip(rows, exact_search(X, X[rows], k + 1)[1])]]
    return R, y[rows]

def loo(X, y, k=5):
    "Leave-one-out (P@1, P@k): every product queries all the others."
    R, q = _scores(X, np.arange(len(X)), y, k)
    return precision_at_k(q, R[:, :1], 1), precision_at_k(q, R, k)

def crossfit(raw, y, k=5, folds=5, seed=0):
    "Leave-one-out (P@1, P@k) of the whitened encoder, each fold embedded by a whitening fitted on the other folds."
    fold = np.random.default_rng(seed).permutation(len(y)) % folds
    R = np.empty((len(y), k), object)
    for f in range(folds):
        X = WeightFreeEncoder().fit(raw[fold != f]).forward(raw)
        q = np.flatnonzero(fold == f); R[q] = _scores(X, q, y, k)[0]
    y = np.asarray(y, dtype=object)
    return precision_at_k(y, R[:, :1], 1), precision_at_k(y, R, k)

def _decode(p):
    with Image.open(p) as im: return im.convert("RGB").size

def _module_at(rev):
    "vprec/weightfree.py as of git revision `rev`, loaded as a separate module."
    root = Path(__file__).resolve().parents[1]
    src = subprocess.run(["git", "-C", str(root), "show", f"{rev}:vprec/weightfree.py"], capture_output=True, text=True)
    if src.returncode: raise SystemExit(f"--against {rev}: git cannot show vprec/weightfree.py at that revision ({src.stderr.strip()})")
    mod = importlib.util.module_from_spec(importlib.util.spec_from_loader(f"weightfree_at_{rev}", loader=None))
    exec(compile(src.stdout, f"{rev}:vprec/weightfree.py", "exec"), mod.__dict__)
    return mod

def side_by_side(paths, rev, rounds=5):
    "CPU ms per image (1 process, decode included) of this checkout's encoder and of revision `rev`'s, in alternating rounds."
    import vprec.weightfree as here
    there = _module_at(rev)
    mods = {"this checkout": here, rev: there}
    cpu = {k: [] for k in mods}
    for m in mods.values(): m.raw_descriptors(paths[:10], workers=1)          # warm-up: imports, lazily built tables
    for _ in range(rounds):
        for k, m in mods.items():
            c = time.process_time(); m.raw_descriptors(paths, workers=1); cpu[k].append(1000 * (time.process_time() - c) / len(paths))
    a, b = here.raw_descriptors(paths, workers=1)[0], there.raw_descriptors(paths, workers=1)[0]
    same = a.shape == b.shape and np.array_equal(a, b)
    diff = float(np.abs(a - b).max()) if a.shape == b.shape else float("nan")
    print(f"side by side on {len(paths)} images, {rounds} alternating rounds, 1 process (median CPU ms per image, decode included):")
    for k, v in cpu.items(): print(f"  {k:16s} {np.median(v):6.2f} ms   (rounds: {', '.join(f'{x:.2f}' for x in v)})")
    print(f"  {rev} / this checkout: {np.median(cpu[rev]) / np.median(cpu['this checkout']):.2f} x; raw descriptors "
          f"{'bit-identical' if same else f'differ (max abs diff {diff:.2e})'}")

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=str(Path(__file__).resolve().parents[1] / "data"), help="folder with metadata.csv + images/")
    ap.add_argument("--workers", type=int, default=2, help="processes (the goal is stated for 2 cores)")
    ap.add_argument("--n", type=int, default=1000, help="images to time (first n of the protocol's products)")
    ap.add_argument("--label", default="articleType")
    ap.add_argument("--min-per-label", type=int, default=20)
    ap.add_argument("--against", default=None, help="git revision whose vprec/weightfree.py is timed side by side with this checkout's")
    a = ap.parse_args()
    meta = pd.read_csv(Path(a.source) / "metadata.csv", dtype={"id": str})
    prods = protocol(meta, a.source, a.label, a.min_per_label).head(a.n)
    paths = list(prods["path"])
    # warm the file cache so every variant reads from memory
    for p in paths: Path(p).read_bytes()
    print(f"{len(paths)} images from {a.source}; {os.cpu_count()} CPUs visible, load average {os.getloadavg()[0]:.1f}")
    t = time.perf_counter()
    with get_context("fork").Pool(a.workers) as pool: pool.map(_decode, paths, chunksize=32)
    dec = len(paths) / (time.perf_counter() - t)
    t = time.perf_counter(); raw, ok, problems = raw_descriptors(paths, workers=a.workers); par = len(paths) / (time.perf_counter() - t)
    m = min(len(paths), 300)
    t, c = time.perf_counter(), time.process_time(); raw_descriptors(paths[:m], workers=1)
    one, cpu = m / (time.perf_counter() - t), (time.process_time() - c) / m
    print(f"decode only, {a.workers} processes:           {dec:8.1f} images/s")
    print(f"decode + descriptors, {a.workers} processes:  {par:8.1f} images/s   ({par / 300:.2f} x the 300 images/s goal)")
    print(f"decode + descriptors, 1 process:     {one:8.1f} images/s   (pool speed-up {par / one:.2f} x)")
    print(f"CPU time per image (1 process, decode included): {1000 * cpu:.2f} ms -> {2 / cpu:.0f} images/s on 2 free cores "
          f"(what the wall-clock rates above reach when the machine is not shared)")
    if problems: print(f"{len(problems)} unreadable images left out, first: {problems[0]}")
    if a.against: side_by_side(paths[:m], a.against)
    y = prods[a.label].to_numpy()[ok]
    X = WeightFreeEncoder(whiten=False).forward(raw)
    p1, p5 = loo(X, y, 5)
    w1, w5 = crossfit(raw, y, 5)
    print(f"leave-one-out {a.label} on these {len(y)} products: random P@5 {random_precision(y, y, True):.3f} | "
          f"weightfree P@1 {p1:.3f} P@5 {p5:.3f} | whitened (5-fold cross-fitted) P@1 {w1:.3f} P@5 {w5:.3f}")

if __name__ == "__main__":
    main()
