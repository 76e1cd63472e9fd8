"""The cheap baseline: TF-IDF (word and character n-grams) + logistic regression, trained on the golden
set's own gold labels and graded fairly: every item is predicted by a model that never saw it.

- Items whose gold label has at least two gold items get cross-validated predictions
  (`cross_val_predict`, stratified K-fold, shuffled with a fixed seed). K is the configured number of
  folds, lowered to the size of the smallest label when that is smaller (reported in `notes`).
- Items without a gold label, and items whose label has a single gold item (it could not be in a
  training fold and a test fold at once), are predicted by the model fitted on all the others.
- Policy areas: one binary classifier per area (one-vs-rest), cross-validated the same way, for areas
  with enough gold positives and negatives (`min_area_positives`); the others are never cited and are
  reported. Areas whose gold status is unknown for an item are left out of that area's training.
  An item cites the areas with P >= 0.5, and only when its predicted label is not the policy's "allow"
  label; `area_scores` keeps every P.

Seeded: the same golden set and config give the same judgements.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from calibration.models import Item, Judgement, Policy
from calibration.raters.base import Rater, RaterConfig

MODEL_NAME = "tfidf-logreg"


def _text(item: Item) -> str:
    return f"{item.context}\n{item.text}" if item.context else item.text


class BaselineRater(Rater):
    """`rate(items, policy)`: cross-validated TF-IDF + logistic regression. `notes` says what was adapted."""

    def __init__(self, config: RaterConfig | None = None, *, seed: int | None = None):
        self.config = config or RaterConfig(kind="baseline", id="baseline-tfidf-lr")
        self.seed = seed if seed is not None else (self.config.seed if self.config.seed is not None else 0)
        self.notes: list[str] = []

    def _features(self, texts: list[str]):
        """Word and character n-gram counts, hashed: stateless (nothing is learned from the texts, so
        computing them once for every item leaks nothing), which saves refitting a vocabulary per fold."""
        import scipy.sparse as sp
        from sklearn.feature_extraction.text import HashingVectorizer

        s = self.config.baseline
        kw = {"n_features": s.hash_features, "alternate_sign": False, "norm": None}
        word = HashingVectorizer(analyzer="word", ngram_range=tuple(s.word_ngrams), **kw).transform(texts)
        char = HashingVectorizer(analyzer="char_wb", ngram_range=tuple(s.char_ngrams), **kw).transform(texts)
        X = sp.hstack([word, char]).tocsr()
        # Drop hashed columns no item uses: same model (their weights would stay 0), far smaller vectors.
        return X[:, np.flatnonzero(X.getnnz(axis=0))]

    def _pipeline(self):
        """TF-IDF weighting (the IDF learned on the training fold only) + logistic regression."""
        from sklearn.feature_extraction.text import TfidfTransformer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline

        s = self.config.baseline
        # newton-cg: an order of magnitude faster than lbfgs on these small, wide TF-IDF matrices.
        clf = LogisticRegression(
            C=s.C, solver="newton-cg", max_iter=1000, class_weight="balanced", random_state=self.seed
        )
        return Pipeline([("tfidf", TfidfTransformer(sublinear_tf=True)), ("logreg", clf)])

    def _cv_and_fit(
        self, X: Any, y: np.ndarray, cv_mask: np.ndarray, predict_mask: np.ndarray, folds: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """P(class) for every item: cross-validated where `cv_mask`, from the model fitted on all `cv_mask`
        items where `predict_mask`. Returns (classes, probabilities[n_items, n_classes])."""
        from sklearn.model_selection import StratifiedKFold, cross_val_predict

        cv_idx = np.flatnonzero(cv_mask)
        classes = np.unique(y[cv_idx])
        probs = np.full((X.shape[0], len(classes)), np.nan)
        cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)
            probs[cv_idx] = cross_val_predict(
                self._pipeline(), X[cv_idx], y[cv_idx], cv=cv, method="predict_proba"
            )
            rest = np.flatnonzero(predict_mask)
            if len(rest):
                model = self._pipeline().fit(X[cv_idx], y[cv_idx])
                probs[rest] = model.predict_proba(X[rest])
        return classes, probs

    def rate(self, items: Sequence[Item], policy: Policy) -> list[Judgement]:
        self.notes = []
        items = list(items)
        n = len(items)
        X = self._features([_text(it) for it in items]) if n else None
        policy_hash = policy.content_hash()
        folds_wanted = self.config.baseline.folds

        def judgement(i: int, **values: Any) -> Judgement:
            return Judgement(
                item_id=items[i].item_id, rater_id=self.config.id, rater_kind="model", model=MODEL_NAME,
                policy_hash=policy_hash, cost=0.0, **values,
            )  # fmt: skip

        # ---- the decision label ----
        gold = np.array(
            [it.gold.label if it.gold and it.gold.label in policy.labels else "" for it in items],
            dtype=object,
        )
        counts = Counter(g for g in gold if g)
        trainable = {lab for lab, c in counts.items() if c >= 2}
        if len(trainable) < 2:
            msg = (f"the baseline needs gold labels for at least two labels with two or more items each; "
                   f"gold label counts: {dict(counts) or 'none'}")  # fmt: skip
            self.notes.append(msg)
            return [judgement(i, status="error", error=msg) for i in range(n)]
        for lab, c in sorted(counts.items()):
            if c < 2:
                self.notes.append(
                    f"label {lab!r} has 1 gold item: it cannot be cross-validated and is never predicted; "
                    "that item is predicted by the model trained on all the others"
                )
        cv_mask = np.array([g in trainable for g in gold])
        k = min(folds_wanted, min(counts[lab] for lab in trainable))
        if k < folds_wanted:
            smallest = min(trainable, key=lambda lab: counts[lab])
            self.notes.append(
                f"folds lowered from {folds_wanted} to {k}: label {smallest!r} has only {counts[smallest]} gold items"
            )
        classes, probs = self._cv_and_fit(X, gold, cv_mask, ~cv_mask, k)
        label_idx = probs.argmax(axis=1)
        labels = [str(classes[j]) for j in label_idx]
        confidence = probs.max(axis=1)

        # ---- policy areas, one-vs-rest ----
        area_p: dict[str, np.ndarray] = {}
        for area in policy.area_ids:
            known = np.array([it.gold is not None and area not in it.gold.unknown_areas for it in items])
            y = np.array([int(it.gold is not None and area in it.gold.areas) for it in items])
            pos = int(y[known].sum())
            neg = int(known.sum()) - pos
            need = max(self.config.baseline.min_area_positives, 2)
            if pos < need or neg < need:
                self.notes.append(
                    f"area {area!r}: {pos} gold positives and {neg} negatives (fewer than {need}); no classifier, "
                    "never cited"
                )
                continue
            ka = min(folds_wanted, pos, neg)
            cls, p = self._cv_and_fit(X, y, known, ~known, ka)
            area_p[area] = p[:, list(cls).index(1)]

        out = []
        for i in range(n):
            scores = {a: round(float(p[i]), 6) for a, p in area_p.items()}
            cited = [] if labels[i] == policy.negative_label else [a for a, s in scores.items() if s >= 0.5]
            how = (
                f"{k}-fold cross-validated"
                if cv_mask[i]
                else "model trained on all cross-validated gold items"
            )
            out.append(judgement(
                i, label=labels[i], areas=cited, confidence=round(float(confidence[i]), 6),
                rationale=f"TF-IDF + logistic regression, {how}", area_scores=scores or None,
            ))  # fmt: skip
        return out
