"""Exercises for 02a, "Choosing and trusting a model": cross-validation, searches, PCA, importance."""

from __future__ import annotations

import math
from typing import Any

from course.exercises import (
    Case,
    Exercise,
    as_number,
    choice,
    fitted_estimator,
    learner_call,
    near,
    pipeline_steps,
    same_as,
)
from course.syllabus import objective

NOTEBOOK = "02a-choosing-and-trusting-a-model"
CV = objective(NOTEBOOK, "Replace one noisy")
ZOO = objective(NOTEBOOK, "Compare trees, random")
TUNE = objective(NOTEBOOK, "Tune hyperparameters with")
EXPLAIN = objective(NOTEBOOK, "Explain a model")
UNSUP = objective(NOTEBOOK, "Find structure without")


def _q1_solve() -> float:
    from sklearn.datasets import load_wine
    from sklearn.model_selection import cross_val_score
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_wine(return_X_y=True)
    return float(cross_val_score(DecisionTreeClassifier(random_state=0), X, y, cv=5).mean())


def _q1_known() -> dict[float, str]:
    """Values that typical mistakes give, with what went wrong."""
    import numpy as np
    from sklearn.datasets import load_wine
    from sklearn.model_selection import KFold, cross_val_score
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_wine(return_X_y=True)
    tree = DecisionTreeClassifier(random_state=0)
    scores = cross_val_score(tree, X, y, cv=5)
    return {
        **{float(one): "that is one fold's score: answer the mean over all five folds (scores.mean())." for one in scores},
        float(np.median(scores)): "that is the median of the fold scores (the middle fold's): answer their mean "
                                  "(scores.mean()).",
        float(scores.std()): "that is the spread (standard deviation) of the fold scores: answer their mean.",
        float(cross_val_score(tree, X, y, cv=KFold(5)).mean()):
            "you used unshuffled KFold(5) folds; cv=5 on a classifier uses StratifiedKFold(5): pass cv=5.",
        float(cross_val_score(tree, X, y, cv=10).mean()): "that is 10-fold cross-validation; the question asks for cv=5.",
        float(cross_val_score(tree, X, y, cv=3).mean()): "that is 3-fold cross-validation; the question asks for cv=5.",
    }


def _q1_check(answer: Any) -> str | None:
    if isinstance(answer, list | tuple) or getattr(answer, "ndim", 0) > 0:
        return f"you gave {len(answer)} numbers, one per fold: answer their mean (scores.mean())."
    problem = near(_q1_solve(), rel=0.005)(answer)
    value = as_number(answer)
    for known, why in (_q1_known().items() if value is not None else ()):
        if math.isclose(value, known, rel_tol=1e-6) and not math.isclose(value, _q1_solve(), rel_tol=1e-6):
            return why
    if problem and value is not None and math.isclose(value, 1.0):
        return ("1.0 is the tree's accuracy on the data it was grown on: it memorised it. "
                "cross_val_score scores each fold on rows the tree never saw.")
    if problem and value is not None and math.isclose(value, 5 * _q1_solve(), rel_tol=1e-6):
        return "that is the sum of the five fold scores: divide by 5 (scores.mean())."
    if problem and value is not None and value > 1:
        return "give accuracy as a fraction between 0 and 1."
    return problem


q1 = Exercise(
    "q1",
    "Cross-validate DecisionTreeClassifier(random_state=0) on the wine data (load_wine) with "
    "cross_val_score(..., cv=5). What is the mean accuracy?",
    _q1_check,
    "scores = cross_val_score(model, X, y, cv=5) returns one accuracy per fold; average them.",
    _q1_solve,
    objective=CV,
    wrong=((0.8888888888888888, "median"), (0.8368253968253968, "StratifiedKFold"), (4.438095238095238, "sum"),
           (1.0, "memorised"), (88.76, "fraction"), ([0.94, 0.83, 0.89, 0.91, 0.86], "one per fold")),
    right=(0.89, 0.8876),
)


def wine_split() -> tuple[Any, Any, Any, Any]:
    """The wine data split as q2 asks: X_train, X_test, y_train, y_test (a quarter held out, stratified, seed 0)."""
    from sklearn.datasets import load_wine
    from sklearn.model_selection import train_test_split

    X, y = load_wine(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)


def _q2_solve() -> Any:
    from sklearn.model_selection import GridSearchCV
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X_train, _, y_train, _ = wine_split()
    pipe = make_pipeline(StandardScaler(), KNeighborsClassifier())
    grid = {"kneighborsclassifier__n_neighbors": [1, 3, 5, 7, 9, 15]}
    return GridSearchCV(pipe, grid, cv=5).fit(X_train, y_train)


def _q2_check(answer: Any) -> str | None:
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
    from sklearn.neighbors import KNeighborsClassifier

    if not isinstance(answer, GridSearchCV | RandomizedSearchCV):
        return (f"expected a GridSearchCV (or RandomizedSearchCV), got {type(answer).__name__}: wrap the "
                "pipeline in GridSearchCV(pipe, param_grid, cv=5) and fit that.")
    problem = fitted_estimator(answer)
    if problem:
        return problem
    if not hasattr(answer, "best_estimator_"):
        return ("your search has no best_estimator_ (refit=False?): keep the default refit=True, so that the search "
                "refits the best pipeline on all the training rows.")
    from sklearn.preprocessing import StandardScaler

    steps = pipeline_steps(answer)
    if not isinstance(steps[-1], KNeighborsClassifier):
        return f"the searched model should end in KNeighborsClassifier, not {type(steps[-1]).__name__}."
    if len(steps) < 2:
        return ("search over a Pipeline with a scaler first: scaling inside the pipeline means each CV fold "
                "fits its own scaler, and k-NN needs scaled features.")
    if not isinstance(steps[0], StandardScaler):
        return (f"the pipeline should start with a StandardScaler, as the question asks, not "
                f"{type(steps[0]).__name__}.")
    searched = {k.rsplit("__", 1)[-1]: k for k in answer.cv_results_ if k.startswith("param_")}
    if "n_neighbors" not in searched:
        return "search over the number of neighbours (key 'kneighborsclassifier__n_neighbors')."
    if len({int(k) for k in answer.cv_results_[searched["n_neighbors"]]}) < 3:
        return "try at least three different values of n_neighbors, or the search has nothing to choose from."
    if getattr(answer, "n_splits_", 5) != 5:
        return f"your search used {answer.n_splits_}-fold cross-validation; the question asks for cv=5."
    seen = getattr(steps[-1], "n_samples_fit_", None)
    if seen is not None and seen != len(wine_split()[0]):
        return (f"the search was refitted on {seen} rows, not the {len(wine_split()[0])} training rows: tune on "
                "X_train only and keep the test quarter for one final score (section 5), or the test rows helped "
                "choose the model.")
    import numpy as np

    mean = getattr(steps[0], "mean_", None)
    if mean is not None and not np.allclose(mean, wine_split()[0].mean(0)):
        return ("the search was fitted on other rows than ex.wine_split()'s X_train: split with "
                "X_train, X_test, y_train, y_test = ex.wine_split() and fit on X_train; with another split, test rows "
                "helped choose the model.")
    if answer.best_score_ < 0.92:
        return f"best_score_ is {answer.best_score_:.3f}; scaled k-NN on the wine training rows reaches about 0.95."
    return None


q2 = Exercise(
    "q2",
    "Split the wine data with `X_train, X_test, y_train, y_test = ex.wine_split()` (a quarter held out), then fit "
    "a GridSearchCV (cv=5) on the training rows only that tunes n_neighbors of a "
    "make_pipeline(StandardScaler(), KNeighborsClassifier()). Score the chosen model on the test rows once, after.",
    _q2_check,
    "Parameter names of a pipeline's steps are 'stepname__param'; make_pipeline names a step after its "
    "class in lower case: 'kneighborsclassifier__n_neighbors'.",
    _q2_solve,
    objective=TUNE,
)


def _components_for(share: float, scaled: bool) -> int:
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    X, _ = load_digits(return_X_y=True)
    if scaled:
        X = StandardScaler().fit_transform(X)
    kept = np.cumsum(PCA().fit(X).explained_variance_ratio_)
    return int(np.argmax(kept >= share) + 1)  # index 0 is one component


def _components_for_minmax() -> int:
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import MinMaxScaler

    X, _ = load_digits(return_X_y=True)
    return int(np.argmax(np.cumsum(PCA().fit(MinMaxScaler().fit_transform(X)).explained_variance_ratio_) >= 0.9) + 1)


def _q3_solve() -> int:
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, _ = load_digits(return_X_y=True)
    pca = make_pipeline(StandardScaler(), PCA()).fit(X)[-1]
    kept = np.cumsum(pca.explained_variance_ratio_)
    return int(np.argmax(kept >= 0.90) + 1)  # index 0 is one component


def _q3_check(answer: Any) -> str | None:
    expected = _q3_solve()
    value = as_number(answer)
    if value is not None and value < 1:
        return "answer a number of components (an integer), not a fraction of variance."
    if value is None or value != int(value):
        return f"answer a whole number of components, got {answer!r}."
    answer = int(value)
    if answer == expected:
        return None
    if answer == expected - 1:
        return f"{answer} components keep just under 90 %: count from 1 (np.argmax(kept >= 0.9) + 1)."
    if answer == _components_for(0.90, scaled=False):
        return (f"{answer} is the notebook's count for the raw pixels: standardise first (StandardScaler, then "
                "PCA). Scaling gives the faint border pixels as much weight as the bright centre ones.")
    if answer == _components_for(0.80, scaled=True):
        return "that count keeps 80 % of the scaled variance; the question asks for 90 %."
    if answer in (_components_for(0.95, scaled=True), _components_for(0.99, scaled=True)):
        return "that count keeps more than the 90 % the question asks for (95 % or 99 %?): use kept >= 0.90."
    if answer == _components_for_minmax():
        return ("that count is for pixels rescaled to 0..1 (MinMaxScaler): standardise with StandardScaler, "
                "which also divides by each pixel's spread.")
    if answer == 64:
        return "64 components keep 100 % (they are all the pixels); far fewer reach 90 %."
    return f"{answer} is too {'high' if answer > expected else 'low'}."


q3 = Exercise(
    "q3",
    "Standardise the digits' pixels (StandardScaler), then fit PCA: how many components keep at least 90 % "
    "of the variance? (The notebook counted them for the raw pixels; compute the scaled count.)",
    _q3_check,
    "make_pipeline(StandardScaler(), PCA()).fit(X)[-1].explained_variance_ratio_ gives each component's share; "
    "np.cumsum adds them up.",
    _q3_solve,
    objective=UNSUP,
    wrong=((21, "raw pixels"), (30, "count from 1"), (40, "more than the 90 %"), (22, "MinMaxScaler"), (0.9, "fraction"),
           ("31", "whole number"), (64, "100 %")),
    right=(31.0,),
)


def _q4_solve() -> str:
    return "test"


q4 = Exercise(
    "q4",
    "To learn which features a random forest really relies on for new data, do you compute "
    "permutation importance on the 'train' set or the 'test' set?",
    choice("test", {
        "train": "a forest can memorise noise in its training rows; shuffling a feature there shows what it "
                 "memorised, not what helps on new data.",
    }),
    "Importance should measure how much the score on unseen data drops when a feature is scrambled.",
    _q4_solve,
    objective=EXPLAIN,
)


def _q5_solve() -> str:
    return "svm"


q5 = Exercise(
    "q5",
    "Which of these needs its features scaled to work well: 'random forest' or 'svm'?",
    choice("svm", {
        "random forest": "a tree only asks 'is feature j above a threshold?', which no rescaling changes.",
        "both": "trees are immune to scaling: a threshold moves with the feature.",
    }),
    "Which model measures distances between samples (an RBF kernel), and which only compares one feature "
    "with a threshold?",
    _q5_solve,
    objective=ZOO,
)


# q6 (code): k-fold cross-validation written by hand.
def cross_val_accuracy(model: Any, X: Any, y: Any, k: int) -> float:
    """Mean accuracy over KFold(n_splits=k) folds (no shuffle): fit a fresh copy on k-1 folds, score the left-out one."""
    import numpy as np
    from sklearn.base import clone
    from sklearn.model_selection import KFold

    scores = []
    for train_idx, test_idx in KFold(n_splits=k).split(X):
        fitted = clone(model).fit(X[train_idx], y[train_idx])  # a fresh, unfitted copy for every fold
        scores.append(fitted.score(X[test_idx], y[test_idx]))
    return float(np.mean(scores))


def _q6_data(n: int, seed: int) -> tuple[Any, Any]:
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = (X[:, 0] + X[:, 1] + rng.normal(0, 1.0, n) > 0).astype(int)  # noisy: a memorising model cannot be perfect
    return X, y


def _q6_cases() -> list[Case]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    return [
        Case("logistic regression on 40 rows, k=5", (LogisticRegression(), *_q6_data(40, 1), 5)),
        Case("a decision tree on 60 noisy rows, k=3", (DecisionTreeClassifier(random_state=0), *_q6_data(60, 0), 3)),
        Case("a scaled k-NN pipeline on 50 rows, k=4 (folds of unequal size)",
             (make_pipeline(StandardScaler(), KNeighborsClassifier(3)), *_q6_data(50, 1), 4)),
    ]


def _fitted_on_everything(model, X, y, k):
    from sklearn.model_selection import KFold

    model.fit(X, y)
    return sum(model.score(X[te], y[te]) for _, te in KFold(k).split(X)) / k


def _scored_on_training_folds(model, X, y, k):
    from sklearn.model_selection import KFold

    return sum(model.fit(X[tr], y[tr]).score(X[tr], y[tr]) for tr, _ in KFold(k).split(X)) / k


def _list_of_scores(model, X, y, k):
    from sklearn.model_selection import KFold

    return [model.fit(X[tr], y[tr]).score(X[te], y[te]) for tr, te in KFold(k).split(X)]


def _shuffled_folds(model, X, y, k):
    from sklearn.base import clone
    from sklearn.model_selection import KFold

    folds = KFold(k, shuffle=True, random_state=0).split(X)
    return sum(clone(model).fit(X[tr], y[tr]).score(X[te], y[te]) for tr, te in folds) / k


def _pooled_over_rows(model, X, y, k):
    from sklearn.base import clone
    from sklearn.model_selection import KFold

    hits = sum(int((clone(model).fit(X[tr], y[tr]).predict(X[te]) == y[te]).sum()) for tr, te in KFold(k).split(X))
    return hits / len(y)


def _always_five_folds(model, X, y, k):
    return cross_val_accuracy(model, X, y, 5)


def _remainder_in_last_fold(model, X, y, k):
    import numpy as np
    from sklearn.base import clone

    size, rows, scores = len(X) // k, np.arange(len(X)), []
    for i in range(k):
        test = rows[i * size:(i + 1) * size] if i < k - 1 else rows[i * size:]
        train = np.setdiff1d(rows, test)
        scores.append(clone(model).fit(X[train], y[train]).score(X[test], y[test]))
    return sum(scores) / k


def _fits_the_callers_model(model, X, y, k):
    from sklearn.model_selection import KFold

    return sum(model.fit(X[tr], y[tr]).score(X[te], y[te]) for tr, te in KFold(k).split(X)) / k


def _cv_without_touching(answer: Any) -> str | None:
    """q6's checker: the hidden cases, then whether the learner's code fitted the caller's model itself."""
    problem = _q6_same(answer)
    if problem or not callable(answer):
        return problem
    from sklearn.exceptions import NotFittedError
    from sklearn.linear_model import LogisticRegression
    from sklearn.utils.validation import check_is_fitted

    model = LogisticRegression()
    learner_call(answer, model, *_q6_data(30, 2), 3)
    try:
        check_is_fitted(model)
    except NotFittedError:
        return None
    return ("your function fitted the model it was given: the caller's model is now trained on the last fold. Fit "
            "a fresh copy for each fold, sklearn.base.clone(model), and leave the caller's model untouched.")


def _array_split_folds(model, X, y, k):  # another correct style: the folds by hand, as KFold makes them
    import numpy as np
    from sklearn.base import clone

    rows = np.arange(len(X))
    scores = [clone(model).fit(X[np.setdiff1d(rows, test)], y[np.setdiff1d(rows, test)]).score(X[test], y[test])
              for test in np.array_split(rows, k)]
    return np.mean(scores)


def _with_the_library(model, X, y, k):  # another correct style: the library's own cross-validation, same folds
    from sklearn.model_selection import KFold, cross_val_score

    return float(cross_val_score(model, X, y, cv=KFold(n_splits=k)).mean())


def _stratified_folds(model, X, y, k):
    from sklearn.model_selection import StratifiedKFold

    return sum(model.fit(X[tr], y[tr]).score(X[te], y[te]) for tr, te in StratifiedKFold(k).split(X, y)) / k


_q6_same = same_as(cross_val_accuracy, _q6_cases, mistakes=[
    (_fitted_on_everything, "you fitted the model on all rows, the left-out fold included, so each fold "
                            "is scored by a model that has seen it: fit on the other k-1 folds only."),
    (_scored_on_training_folds, "you scored each model on the folds it was trained on; score it on the "
                                "left-out fold."),
    (_list_of_scores, "you returned the k fold scores: return their mean, one number."),
    (_stratified_folds, "you used StratifiedKFold; the question asks for plain KFold(n_splits=k) folds, "
                        "so your folds differ from the hidden reference."),
    (_pooled_over_rows, "you pooled the correct predictions of all folds and divided by all rows; return the mean "
                        "of the k fold scores (they differ when the folds have unequal sizes)."),
    (_remainder_in_last_fold, "your folds differ from KFold's: when k does not divide the rows, KFold gives the "
                              "first n % k folds one extra row each, not all the remainder to the last fold."),
    (_always_five_folds, "you always made 5 folds: use the k you are given, KFold(n_splits=k)."),
    (_shuffled_folds, "you shuffled the rows (shuffle=True): the question asks for KFold(n_splits=k) without "
                      "shuffling, so your folds differ from the hidden reference."),
], alternatives=[_with_the_library, _array_split_folds])
_q6_same.kind = "code"  # type: ignore[attr-defined]

q6 = Exercise(
    "q6",
    "Write cross_val_accuracy(model, X, y, k) by hand: for each of the KFold(n_splits=k) folds (no shuffle), "
    "fit a fresh copy of the model on the other folds, score it on the left-out fold, and return the mean.",
    _cv_without_touching,
    "from sklearn.model_selection import KFold; for train_idx, test_idx in KFold(n_splits=k).split(X): "
    "m = sklearn.base.clone(model).fit(X[train_idx], y[train_idx]); m.score(X[test_idx], y[test_idx]).",
    lambda: cross_val_accuracy,
    kind="code",
    objective=CV,
    wrong=(*_q6_same.mistakes, (_fits_the_callers_model, "fitted the model it was given")),
    right=_q6_same.alternatives,
)
