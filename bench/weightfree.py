"""Throughput and quality of the weight-free encoder, measured side by side in one run.

    python bench/weightfree.py [--source data] [--workers 2] [--n 1000]

Prints images/s (wall clock) for decode alone and for decode + descriptors (the encoder's `preprocess`) in a pool of `--workers`
processes and in one process, the CPU time per image (the load-independent figure on a shared machine), the ratio to the 300 images/s goal, and leave-one-out articleType P@1/P@5 of the encoder
(not whitened, and whitened with 5-fold cross-fitting) on the same images beside the exact random baseline.
"""
import argparse, io, os, time
from multiprocessing import get_context
from pathlib import Path
import numpy as np, pandas as pd
from PIL import Image
from vprec.weightfree import (WeightFreeEncoder, raw_descriptors, protocol, nearest, label_precision,
                              random_precision, crossfit_loo)

def _decode(p):
    with Image.open(p) as im: return im.convert("RGB").size

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=str(Path(__file__).resolve().parents[1] / "data"), help="folder with metadata.csv + images/")
    ap.add_argument("--workers", type=int, default=2, help="processes (the goal is stated for 2 cores)")
    ap.add_argument("--n", type=int, default=1000, help="images to time (first n of the protocol's products)")
    ap.add_argument("--label", default="articleType")
    ap.add_argument("--min-per-label", type=int, default=20)
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
    y = prods[a.label].to_numpy()[ok]
    X = WeightFreeEncoder(whiten=False).forward(raw)
    p1, p5 = label_precision(nearest(X, X, 5, exclude_self=True), y, y)
    w1, w5 = crossfit_loo(raw, y, lambda: WeightFreeEncoder(), 5)
    print(f"leave-one-out {a.label} on these {len(y)} products: random P@5 {random_precision(y):.3f} | "
          f"weightfree P@1 {p1:.3f} P@5 {p5:.3f} | whitened (5-fold cross-fitted) P@1 {w1:.3f} P@5 {w5:.3f}")

if __name__ == "__main__":
    main()
