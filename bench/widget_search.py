"""How snappy the widget is: the time of one Search-tab callback on the 9.6k Myntra catalogue, once embeddings exist.

Measures, on a run folder of ../shared/data/fashion-myntra-9k, side by side in one process:
- the bare `Recommender.recommend` call the widget makes,
- `vprec.widget.search` (the callback: controls -> recommend -> cards), and
- `App.run` (the same, plus copying the cards into the ipywidgets; no browser, so no rendering),
for product, text and photo queries, with and without MMR and a filter; p50/p95 over `--repeats` queries each, and
the bytes of thumbnails a search sends. Also the one-off costs: loading the run (`AppState.from_run`) and the warm-up
(`AppState.warm`: title-text vectors, category similarities, the image encoder) that `app()` starts in a thread.

    python bench/widget_search.py                       # reuses runs/bench-myntra9k (the query bench's run folder) when present,
                                                        # else builds runs/bench-widget-myntra9k (--encoder pixels)
    python bench/widget_search.py --run runs/docs       # any run folder
"""
import argparse, io, os, sys, time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def log(*a): print(f"[{time.strftime('%H:%M:%S')}]", *a, flush=True)


def run_folder(args) -> Path:
    "The run folder to measure: --run, else the query bench's folder, else one built here (through pipeline.ensure)."
    from vprec.runfolder import RunFolder
    if args.run: return Path(args.run)
    for d in (ROOT / "runs" / "bench-myntra9k", ROOT / "runs" / "bench-widget-myntra9k"):
        rf = RunFolder(d)
        if rf.catalogue_path.exists() and "tfidf-title" in rf.encoders(): return d
    src = ROOT.parent / "shared" / "data" / "fashion-myntra-9k"
    if not src.exists(): sys.exit(f"no run folder given and {src} is absent: pass --run DIR")
    from vprec.pipeline import ensure
    d = ROOT / "runs" / "bench-widget-myntra9k"
    log(f"building {d} from {src} with encoder {args.encoder} (once)")
    ensure(d, "embed", source=src, encoder="tfidf-title", set_latest=False)   # title text vectors, as a run makes
    ensure(d, "embed", encoder=args.encoder)    # then the image embeddings (embeddings/latest)
    return d


def pct(ts): return f"p50 {np.percentile(ts, 50):7.1f} ms  p95 {np.percentile(ts, 95):7.1f} ms"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", help="run folder (default: see above)")
    ap.add_argument("--encoder", default="pixels", help="encoder when the run folder must be built")
    ap.add_argument("--repeats", type=int, default=30, help="queries per kind")
    ap.add_argument("--k", type=int, default=12)
    args = ap.parse_args()
    d = run_folder(args)
    from vprec.widget import AppState, App, search
    t0 = time.perf_counter(); st = AppState.from_run(d); t_load = time.perf_counter() - t0
    t_warm = st.warm()
    rec, df = st.rec, st.df
    log(f"run {d}: {len(df):,} products, encoder {getattr(rec.embeddings, 'encoder', '?')}, "
        f"dim {rec.X.shape[1]}; load {t_load:.2f} s, warm-up {t_warm:.2f} s"
        + (f" (warm-up error: {st.warm_error})" if st.warm_error else ""))
    rng = np.random.default_rng(0)
    ids = [str(i) for i in rng.choice(df["id"].astype(str).to_numpy(), args.repeats, replace=False)]
    words = [" ".join(str(t).split()[-2:]) for t in df.set_index(df["id"].astype(str)).loc[ids, "title"]]
    photos = []
    for pid in ids[: max(5, args.repeats // 3)]:   # the catalogue's own photos, uploaded as files
        src = rec.catalogue.image(pid)
        data = bytes(src) if isinstance(src, (bytes, bytearray)) else Path(src).read_bytes()
        photos.append(({"name": f"{pid}.jpg", "content": memoryview(data)},))
    gender = "gender" if "gender" in df else None
    fval = df[gender].value_counts().index[0] if gender else None
    app = App(st)
    app.k.value = args.k
    cases = [
        ("product", dict(mode="product"), [dict(product=i) for i in ids], dict(id=None)),
        ("product + MMR 0.5", dict(mode="product", mmr=0.5), [dict(product=i) for i in ids], dict(id=None, mmr=0.5)),
        ("product + filter", dict(mode="product", filters={gender: fval} if gender else {}), [dict(product=i) for i in ids],
         dict(id=None, filters={gender: fval} if gender else None)),
        ("text", dict(mode="text"), [dict(text=w) for w in words], dict(text=None)),
        ("photo upload", dict(mode="image"), [dict(upload=u) for u in photos], dict(image=None)),
    ]
    print(f"\n{'query':<20} {'recommend (bare)':>32} {'search() callback':>32} {'App.run (widgets)':>32}  ratio search/bare  KB sent")
    for name, ctl, queries, rkw in cases:
        t_bare, t_cb, t_app, kb = [], [], [], []
        app.mmr.value = ctl.get("mmr", 1.0)                     # the widget's controls as the case sets them
        for c, dd in app.filters.items(): dd.value = (ctl.get("filters") or {}).get(c)
        for q in queries:
            # the bare recommend call the callback makes, with the same arguments
            kw = {k: v for k, v in rkw.items() if v is not None}
            if "product" in q: kw["id"] = q["product"]
            elif "text" in q: kw["text"] = q["text"]
            else:
                from vprec.widget import read_upload
                kw["image"] = read_upload(q["upload"])[2]
            t = time.perf_counter(); rec.recommend(k=args.k, **kw); t_bare.append((time.perf_counter() - t) * 1e3)
            t = time.perf_counter(); v = search(st, k=args.k, **ctl, **q); t_cb.append((time.perf_counter() - t) * 1e3)
            assert v.ok, v.message
            kb.append(sum(len(c.thumbnail) for c in v.cards) / 1e3)
            t = time.perf_counter(); app.run(ctl["mode"], **q); t_app.append((time.perf_counter() - t) * 1e3)
        print(f"{name:<20} {pct(t_bare):>32} {pct(t_cb):>32} {pct(t_app):>32}  "
              f"{np.median(t_cb) / np.median(t_bare):15.2f}x  {np.median(kb):7.1f}")


if __name__ == "__main__":
    main()
