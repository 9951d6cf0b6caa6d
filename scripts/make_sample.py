"""Cut the bundled sample in `data/` from ../shared/data/fashion-myntra-9k.

Byte-identical photos are dropped (every copy of a repeated photo, so no two sample products share one),
then the 20 most common articleTypes keep 50 products each, drawn with a fixed seed. Images are copied as they are.
Run from the project root: `uv run python scripts/make_sample.py [SRC]`.
"""
import hashlib, shutil, sys
from pathlib import Path
import pandas as pd

src = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/fashion-myntra-9k")
dst = Path("data")
n_labels, per_label, seed = 20, 50, 0

meta = pd.read_csv(src/"metadata.csv")
meta["hash"] = [hashlib.sha1((src/p).read_bytes()).hexdigest() for p in meta["image"]]
meta = meta[~meta["hash"].duplicated(keep=False)]
top = meta["articleType"].value_counts().index[:n_labels]
sample = (meta[meta["articleType"].isin(top)].groupby("articleType")
          .sample(per_label, random_state=seed).sort_values("id"))
(dst/"images").mkdir(parents=True, exist_ok=True)
for p in sample["image"]: shutil.copyfile(src/p, dst/p)
sample.drop(columns="hash").to_csv(dst/"metadata.csv", index=False)
print(f"{len(sample)} products, {sample['articleType'].nunique()} articleTypes, {per_label} each")
