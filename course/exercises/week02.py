"""Exercises for week 2: cross-validation, searches, PCA, importance (02a) and the Titanic project (02b)."""

from __future__ import annotations

import math
from importlib import resources
from typing import Any

from course.exercises import Exercise, choice, fitted_estimator, near, pipeline_steps

NOTEBOOK = "02a-choosing-and-trusting-a-model"

# ---------------------------------------------------------------- 02a: choosing and trusting a model


def _q1_solve() -> float:
    from sklearn.datasets import load_wine
    from sklearn.model_selection import cross_val_score
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_wine(return_X_y=True)
    return float(cross_val_score(DecisionTreeClassifier(random_state=0), X, y, cv=5).mean())


def _q1_check(answer: Any) -> str | None:
    if hasattr(answer, "__len__") and not isinstance(answer, str):
        return f"you gave {len(answer)} numbers, one per fold: answer their mean (scores.mean())."
    problem = near(_q1_solve(), rel=0.005)(answer)
    if problem and isinstance(answer, int | float) and math.isclose(answer, 1.0):
        return ("1.0 is the tree's accuracy on the data it was grown on: it memorised it. "
                "cross_val_score scores each fold on rows the tree never saw.")
    if problem and isinstance(answer, int | float) and answer > 1:
        return "give accuracy as a fraction between 0 and 1."
    return problem


q1 = Exercise(
    "q1",
    "Cross-validate DecisionTreeClassifier(random_state=0) on the wine data (load_wine) with "
    "cross_val_score(..., cv=5). What is the mean accuracy?",
    _q1_check,
    "scores = cross_val_score(model, X, y, cv=5) returns one accuracy per fold; average them.",
    _q1_solve,
)


def _q2_solve() -> Any:
    from sklearn.datasets import load_wine
    from sklearn.model_selection import GridSearchCV
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_wine(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), KNeighborsClassifier())
    grid = {"kneighborsclassifier__n_neighbors": [1, 3, 5, 7, 9, 15]}
    return GridSearchCV(pipe, grid, cv=5).fit(X, y)


def _q2_check(answer: Any) -> str | None:
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
    from sklearn.neighbors import KNeighborsClassifier

    if not isinstance(answer, GridSearchCV | RandomizedSearchCV):
        return (f"expected a GridSearchCV (or RandomizedSearchCV), got {type(answer).__name__}: wrap the "
                "pipeline in GridSearchCV(pipe, param_grid, cv=5) and fit that.")
    problem = fitted_estimator(answer)
    if problem:
        return problem
    steps = pipeline_steps(answer)
    if not isinstance(steps[-1], KNeighborsClassifier):
        return f"the searched model should end in KNeighborsClassifier, not {type(steps[-1]).__name__}."
    if len(steps) < 2:
        return ("search over a Pipeline with a scaler first: scaling inside the pipeline means each CV fold "
                "fits its own scaler, and k-NN needs scaled features.")
    searched = {k.rsplit("__", 1)[-1] for k in answer.cv_results_ if k.startswith("param_")}
    if "param_n_neighbors" not in {f"param_{s}" for s in searched}:
        return "search over the number of neighbours (key 'kneighborsclassifier__n_neighbors')."
    if len(answer.cv_results_["params"]) < 3:
        return "try at least three values of n_neighbors, or the search has nothing to choose from."
    if answer.best_score_ < 0.95:
        return f"best_score_ is {answer.best_score_:.3f}; scaled k-NN on wine should reach about 0.97."
    return None


q2 = Exercise(
    "q2",
    "Fit a GridSearchCV (cv=5) on the whole wine data that tunes n_neighbors of a "
    "make_pipeline(StandardScaler(), KNeighborsClassifier()).",
    _q2_check,
    "Parameter names of a pipeline's steps are 'stepname__param'; make_pipeline names a step after its "
    "class in lower case: 'kneighborsclassifier__n_neighbors'.",
    _q2_solve,
)


def _q3_solve() -> int:
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA

    X, _ = load_digits(return_X_y=True)
    kept = np.cumsum(PCA().fit(X).explained_variance_ratio_)
    return int(np.argmax(kept >= 0.90) + 1)  # index 0 is one component


def _q3_check(answer: Any) -> str | None:
    expected = _q3_solve()
    if isinstance(answer, float) and answer < 1:
        return "answer a number of components (an integer), not a fraction of variance."
    if isinstance(answer, bool) or not isinstance(answer, int | float) or answer != int(answer):
        return f"answer a whole number of components, got {answer!r}."
    if answer == expected - 1:
        return f"{answer} components keep just under 90 %: count from 1 (np.argmax(kept >= 0.9) + 1)."
    if answer == 64:
        return "64 components keep 100 % (they are all the pixels); far fewer reach 90 %."
    if answer != expected:
        return f"{answer} is too {'high' if answer > expected else 'low'}."
    return None


q3 = Exercise(
    "q3",
    "How many principal components of the digits (load_digits, unscaled pixels) keep at least 90 % "
    "of the variance?",
    _q3_check,
    "PCA().fit(X).explained_variance_ratio_ gives each component's share; np.cumsum adds them up.",
    _q3_solve,
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
)

# ---------------------------------------------------------------- 02b: the Titanic mini project


def titanic_local() -> Any:
    """The 1309 passengers shipped with the course (course/data/titanic.csv; see its README)."""
    import pandas as pd

    return pd.read_csv(resources.files("course") / "data" / "titanic.csv")


def _t1_solve() -> float:
    df = titanic_local()
    return float(df["survived"].mean())  # survived is 0/1, so its mean is the fraction


def _t1_check(answer: Any) -> str | None:
    problem = near(_t1_solve(), rel=0.01)(answer)
    if not problem or isinstance(answer, bool) or not isinstance(answer, int | float):
        return problem
    df = titanic_local()
    if answer == int(df["survived"].sum()):
        return f"{answer} is the number of survivors; divide by the number of passengers ({len(df)})."
    if math.isclose(answer, 100 * _t1_solve(), rel_tol=0.01):
        return "that is a percentage; give a fraction between 0 and 1."
    if math.isclose(answer, 1 - _t1_solve(), rel_tol=0.01):
        return "that is the fraction who died (survived == 0)."
    return problem


t1 = Exercise(
    "t1",
    "What fraction of the 1309 passengers survived (a number between 0 and 1)?",
    _t1_check,
    "survived holds 0 or 1, so the mean of that column is the fraction of 1s.",
    _t1_solve,
)


def _t2_solve() -> str:
    return "boat"


t2 = Exercise(
    "t2",
    "One column of the full OpenML Titanic table gives the answer away: which one, 'sex', 'age', 'fare', "
    "'boat' or 'body'?",
    choice("boat", {
        "sex": "sex is a strong signal, but a fair one: it was known when passengers boarded.",
        "age": "age was known at boarding; it is a fair (and noisy) signal.",
        "fare": "fare was paid before the voyage, so it is fair to use.",
        "body": "body (the recovered body's number) leaks too, but it is missing for almost everyone; one "
                "column gives away far more passengers.",
    }),
    "Which column records something that only happened after the ship hit the iceberg, and mostly to "
    "survivors?",
    _t2_solve,
)


def _t3_solve() -> Any:
    from sklearn.compose import make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    prep = make_column_transformer(
        (make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), ["age", "sibsp", "parch"]),
        (OneHotEncoder(handle_unknown="ignore"), ["pclass", "sex"]),
    )  # columns not listed (name) are dropped
    return make_pipeline(prep, LogisticRegression(max_iter=1000))


def _t3_check(answer: Any) -> str | None:
    if not (hasattr(answer, "fit") and hasattr(answer, "get_params")):
        return f"expected a scikit-learn estimator or pipeline, got {type(answer).__name__}."
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    df = titanic_local()
    X, y = df.drop(columns="survived"), df["survived"]
    folds = StratifiedKFold(5, shuffle=True, random_state=0)  # the file is sorted by class: shuffle the folds
    try:
        scores = cross_val_score(answer, X, y, cv=folds, error_score="raise")
    except ValueError as err:
        text = str(err)
        if "NaN" in text or "missing" in text.lower():
            return ("your pipeline chokes on missing ages (263 are NaN): put SimpleImputer(...) before the model "
                    "for the numeric columns.")
        if "string" in text or "convert" in text:
            return ("your pipeline meets text ('male', names): one-hot encode the categorical columns with "
                    "OneHotEncoder inside a ColumnTransformer, and leave 'name' out.")
        raise
    if scores.mean() < 0.77:
        return (f"cross-validated accuracy is {scores.mean():.3f}; the rule 'women survive' alone reaches "
                "about 0.78. Include sex and pclass.")
    return None


t3 = Exercise(
    "t3",
    "Build (no need to fit) a pipeline that takes the raw Titanic DataFrame (pclass, name, sex, age, sibsp, "
    "parch) and predicts survived with at least 0.77 cross-validated accuracy.",
    _t3_check,
    "make_column_transformer((make_pipeline(SimpleImputer(), StandardScaler()), numeric_columns), "
    "(OneHotEncoder(handle_unknown='ignore'), categorical_columns)), then a classifier.",
    _t3_solve,
)


def _t4_solve() -> str:
    return "cv"


t4 = Exercise(
    "t4",
    "Your model scores 0.98 on the passengers it was fitted on and 0.81 in 5-fold cross-validation. Which "
    "number should you expect on a leaderboard of unseen passengers: 'train' or 'cv'?",
    choice("cv", {
        "train": "the 0.98 was measured on rows the model had already seen (and partly memorised); "
                 "unseen passengers will not be as kind.",
    }),
    "Which of the two scores was measured only on rows the model did not train on?",
    _t4_solve,
)
