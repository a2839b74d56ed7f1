"""Train the tiny real models of the engine tests and write each in the layout its MLServer runtime reads.

Run by the engine environment's own Python (the libraries the engine loads the model with):
`python train.py OUTDIR FORMAT...`; writes OUTDIR/FORMAT/ with the files the storage-initializer would
download into /mnt/models. Layouts, from the runtimes at the pinned MLServer version
(`WELLKNOWN_MODEL_FILENAMES` in mlserver_sklearn/sklearn.py, mlserver_xgboost/xgboost.py,
mlserver_lightgbm/lightgbm.py; mlserver_mlflow/runtime.py loads the MLmodel directory at the URI):
sklearn `model.joblib`, xgboost `model.json`, lightgbm `model.bst` (a Booster's saved model), mlflow an
`mlflow.sklearn.save_model` directory with a signature. Every model maps two features to a class, and is
deterministic (fixed data, fixed seeds, one thread).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

X = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0], [0.2, 0.1], [0.9, 0.8], [0.1, 0.9], [0.8, 0.2]])
Y = np.array([0, 1, 0, 1, 0, 1, 0, 1])  # the class is the first feature, rounded


def sklearn(out: Path) -> None:
    import joblib
    from sklearn.linear_model import LogisticRegression

    joblib.dump(LogisticRegression(random_state=0).fit(X, Y), out / "model.joblib")


def xgboost(out: Path) -> None:
    import xgboost as xgb

    model = xgb.XGBClassifier(n_estimators=4, max_depth=2, random_state=0, n_jobs=1)
    model.fit(X, Y)
    model.save_model(out / "model.json")


def lightgbm(out: Path) -> None:
    import lightgbm as lgb

    data = lgb.Dataset(X, label=Y, params={"min_data_in_bin": 1, "verbose": -1})
    params = {"objective": "binary", "num_leaves": 3, "min_data_in_leaf": 1, "seed": 0, "num_threads": 1,
              "deterministic": True, "verbose": -1}
    lgb.train(params, data, num_boost_round=4).save_model(str(out / "model.bst"))


def mlflow(out: Path) -> None:
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(random_state=0).fit(X, Y)
    out.rmdir()  # save_model creates the directory itself
    mlflow.sklearn.save_model(model, str(out), signature=infer_signature(X, model.predict(X)))


def main() -> None:
    root = Path(sys.argv[1])
    for fmt in sys.argv[2:]:
        out = root / fmt
        out.mkdir(parents=True)
        {"sklearn": sklearn, "xgboost": xgboost, "lightgbm": lightgbm, "mlflow": mlflow}[fmt](out)


if __name__ == "__main__":
    main()
