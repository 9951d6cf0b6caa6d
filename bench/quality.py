"""Quality on products the catalogue never saw: the table of the tuned encoder's goals on fashion-myntra-9k.

Held-out split of product lines (whole lines on one side, `vprec.evaluate.line_split`; `--split random` for photo
groups), articleType, k = 5: raw pixels, the weight-free encoder, LDA on the whitened weight-free vectors, `tuned`
(weight-free descriptors + MLP head) and `tuned` with colour weight 0.4, each fitted on the index part only
(`vprec.tuned.quality_table`). Columns: P@1, P@5 with its 95% bootstrap CI, baseColour P@5 and the look match
(type and colour) of the same result lists, the seconds of fitting. The colour row is the hybrid search on
[type, sqrt(w) colour] (cosine = sim_type + w sim_colour), the way `hybrid_vectors` and the recommender's hybrid
weights combine spaces; once the recommender reads `tuned-colour` through `recommend(weights={"colour": w})`,
this row is what that call returns on the same index.

    nice python bench/quality.py [--catalogue ../shared/data/fashion-myntra-9k] [--run /tmp/vprec-quality-9k]
                                 [--split lines random] [--seed 0] [--colour-weight 0.4] [--min-products 2]

The run folder holds the catalogue and the weight-free descriptors' cache (built on first use: ~20 s catalogue,
then the descriptors, ~15 s on 2 quiet cores). Timings taken while other work loads the cores are not measurements:
the load average is printed beside them.
"""
import argparse, os, sys, time
from pathlib import Path
from vprec.runfolder import RunFolder
from vprec.pipeline import ensure
from vprec.tuned import quality_table


def fmt(tab, k=5) -> str:
    "The table as markdown."
    out = [f"| encoder | split | P@1 | P@{k} [95% CI] | colour P@{k} | look P@{k} | fit s |",
           "|---|---|---|---|---|---|---|"]
    for r in tab.to_dict("records"):
        lo, hi = r[f"P@{k} CI"]
        fit = "" if r["fit s"] is None or r["fit s"] != r["fit s"] else f"{r['fit s']:.1f}"
        out.append(f"| {r['encoder']} | {r['split']} | {r['P@1']:.3f} | {r[f'P@{k}']:.3f} [{lo:.3f}, {hi:.3f}] | "
                   f"{r[f'colour P@{k}']:.3f} | {r[f'look P@{k}']:.3f} | {fit} |")
    return "\n".join(out)


def main(argv=None):
    here = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--catalogue", default=str(here.parent / "shared" / "data" / "fashion-myntra-9k"))
    ap.add_argument("--run", default="/tmp/vprec-quality-9k", help="run folder (made when absent)")
    ap.add_argument("--split", nargs="+", default=["lines"], choices=["lines", "random"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--colour-weight", type=float, default=0.4)
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--min-products", type=int, default=2,
                    help="labels with fewer products never query (vprec's default 2; the research's protocol used 20)")
    a = ap.parse_args(argv)
    if not Path(a.catalogue).exists(): sys.exit(f"{a.catalogue} is absent: the 9k catalogue lives in ../shared/data")
    rf = RunFolder(a.run)
    t = time.time(); ensure(rf, "catalogue", source=a.catalogue, seed=a.seed)
    print(f"catalogue: {time.time() - t:.0f} s", flush=True)
    for sp in a.split:
        load0 = os.getloadavg()[0]; t = time.time()
        tab = quality_table(rf, split=sp, seed=a.seed, colour_weight=a.colour_weight, n_boot=a.n_boot,
                            min_products=a.min_products)
        print(f"\n{sp}: {tab.attrs['n_index']} indexed, {tab.attrs['n_queries']} queries, label {tab.attrs['label']}, "
              f"seed {a.seed}, labels with >= {a.min_products} products query; weight-free descriptors "
              f"{tab.attrs['descriptors_s']} s (0 when cached); "
              f"whole table {time.time() - t:.0f} s; load average {load0:.1f} -> {os.getloadavg()[0]:.1f}")
        print(fmt(tab), flush=True)


if __name__ == "__main__":
    main()
