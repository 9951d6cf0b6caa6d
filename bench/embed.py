"""Embedding pipeline throughput vs the bare model forward, measured side by side in one run.

The pipeline (`vprec.encoders.embed_images`: JPEG decode + preprocess in DataLoader workers, batched forward) should
reach at least 0.9x the images/s of the model's forward alone on tensors that are already decoded and preprocessed.
CLIP ViT-B-32 with random weights (the timing does not depend on the weights), on CPU, on the bundled sample images.

    python bench/embed.py [--n 96] [--batch-size 32] [--reps 3] [--device cpu] [--encoder clip:ViT-B-32:random]
"""
import argparse, os, sys, time
from pathlib import Path
import numpy as np
import torch

from vprec.catalogue import read_image
from vprec.encoders import get_encoder, embed_images, stack_batch, default_workers

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", default=str(Path(__file__).resolve().parents[1] / "data" / "images"), help="folder of images")
    ap.add_argument("--n", type=int, default=96, help="images per measurement")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--reps", type=int, default=3, help="interleaved repetitions; the median is reported")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--encoder", default="clip:ViT-B-32:random")
    ap.add_argument("--num-workers", type=int, default=None, help="DataLoader workers (default: vprec's choice)")
    a = ap.parse_args(argv)

    paths = sorted(Path(a.images).glob("*.jpg"))[: a.n]
    if not paths: sys.exit(f"no .jpg images in {a.images}")
    enc = get_encoder(a.encoder, device=a.device)
    bs = a.batch_size
    nw = default_workers(enc, len(paths), bs) if a.num_workers is None else a.num_workers
    print(f"encoder {enc.name} on {enc.device}; {len(paths)} images from {a.images}; batch {bs}; "
          f"{len(os.sched_getaffinity(0))} cores; torch threads {torch.get_num_threads()}; pipeline workers {nw}")

    prep = enc.preprocessor()
    batches = [stack_batch([prep(read_image(p)) for p in paths[i:i + bs]]) for i in range(0, len(paths), bs)]
    enc.forward(batches[0])                               # warm-up (allocations, kernels)

    def bare():
        t = time.perf_counter()
        for b in batches: enc.forward(b)
        return len(paths) / (time.perf_counter() - t)

    def pipeline():
        t = time.perf_counter()
        X, ok, problems = embed_images(enc, paths, batch_size=bs, num_workers=nw, progress=False)
        assert ok.all() and not problems
        return len(paths) / (time.perf_counter() - t)

    rb, rp = [], []
    for r in range(a.reps):                                # interleaved, so load changes hit both alike
        rb.append(bare()); rp.append(pipeline())
        print(f"rep {r + 1}: bare forward {rb[-1]:7.1f} img/s   pipeline (decode+preprocess+forward) {rp[-1]:7.1f} img/s")
    b, p = float(np.median(rb)), float(np.median(rp))
    print(f"\nmedian  bare forward on decoded tensors: {b:.1f} img/s")
    print(f"median  pipeline from JPEG files:        {p:.1f} img/s")
    print(f"ratio pipeline / bare = {p / b:.3f}  (goal >= 0.9)")

if __name__ == "__main__":
    main()
