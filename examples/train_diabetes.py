"""Train a small example pipeline on data that ships with scikit-learn (no download), save it with
joblib, and write a few held-out rows as a prediction request.

    python examples/train_diabetes.py [OUTDIR]
"""

import json
import sys
from pathlib import Path

import joblib
from sklearn.datasets import load_diabetes
from sklearn.ensemble import RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

out = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
out.mkdir(parents=True, exist_ok=True)
X, y = load_diabetes(return_X_y=True, as_frame=True)
X_train, X_test, y_train, _ = train_test_split(X, y, test_size=5, random_state=0)
pipeline = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(),
                         RandomForestRegressor(n_estimators=50, max_depth=8, random_state=0))
pipeline.fit(X_train, y_train)
joblib.dump(pipeline, out / "model.joblib")
(out / "input.json").write_text(json.dumps({"instances": X_test.to_dict(orient="records")}, indent=1))
print(f"trained {type(pipeline[-1]).__name__} on {len(X_train)} rows; "
      f"expected predictions: {[round(float(v), 2) for v in pipeline.predict(X_test)]}")
