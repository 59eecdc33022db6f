"""Exercises for 02b, the Titanic mini project: explore the training passengers, spot the leak, build a pipeline."""

from __future__ import annotations

import math
from typing import Any

from course.exercises import Exercise, as_number, choice, learner_call, near
from course.syllabus import objective
from helpers import data

NOTEBOOK = "02b-titanic-mini-project"
PROJECT = objective(NOTEBOOK, "Take a raw")
PIPELINE = objective(NOTEBOOK, "Handle missing values")
TRAPS = objective(NOTEBOOK, "Spot a leaking")
CHOOSE = objective(NOTEBOOK, "Choose a model")


def titanic_split(frame: Any = None) -> tuple[Any, Any]:
    """02b's split: 418 passengers held out like Kaggle's test set, stratified, random_state=0."""
    from sklearn.model_selection import train_test_split

    frame = data.titanic() if frame is None else frame
    return train_test_split(frame, test_size=418, random_state=0, stratify=frame["survived"])


def _children(frame: Any, under: float = 10) -> Any:
    return frame[frame["age"] < under]  # a missing age compares False: unknown ages are not counted


def _t1_solve() -> float:
    train_df, _ = titanic_split()
    return float(_children(train_df)["survived"].mean())


def _t1_check(answer: Any) -> str | None:
    problem = near(_t1_solve(), rel=0.005)(answer)
    answer = as_number(answer)
    if not problem or answer is None:
        return problem
    train_df, _ = titanic_split()
    kids = _children(train_df)
    if answer == int(kids["survived"].sum()) or answer == len(kids):
        return f"{answer} is a count of children; give the fraction who survived (between 0 and 1)."
    if math.isclose(answer, 100 * _t1_solve(), rel_tol=0.01):
        return "that is a percentage; give a fraction between 0 and 1."
    if math.isclose(answer, float(_children(data.titanic())["survived"].mean()), rel_tol=0.005):
        return ("that is for all 1309 passengers: explore the 891 training passengers only (train_df), so "
                "nothing you learn comes from the held-out ones.")
    if math.isclose(answer, float(train_df[train_df["age"] <= 10]["survived"].mean()), rel_tol=0.005):
        return "'under 10' means age < 10; you included the 10-year-olds."
    unknown_as_child = train_df[train_df["age"].isna() | (train_df["age"] < 10)]
    if math.isclose(answer, float(unknown_as_child["survived"].mean()), rel_tol=0.005):
        return "you counted the passengers of unknown age as children; keep only known ages below 10."
    if math.isclose(answer, float(train_df["survived"].mean()), rel_tol=0.005):
        return "that is the survival rate of all training passengers; keep only those under 10."
    _, test_df = titanic_split()
    if math.isclose(answer, float(_children(test_df)["survived"].mean()), rel_tol=0.005):
        return ("that is for the 418 held-out passengers: explore the 891 training passengers (train_df) only, and "
                "keep the held-out ones for the final score.")
    if math.isclose(answer, 1 - _t1_solve(), rel_tol=0.005):
        return "that is the fraction of the children who died; give the fraction who survived."
    if math.isclose(answer, float(_children(train_df, 18)["survived"].mean()), rel_tol=0.005):
        return "that is for everyone under 18; the question asks for the children under 10."
    if math.isclose(answer, float(kids["survived"].sum() / len(train_df)), rel_tol=0.005):
        return ("you divided the surviving children by all training passengers; divide by the number of children "
                "(the mean of 'survived' over the children).")
    return problem


t1 = Exercise(
    "t1",
    "Among the 891 training passengers (train_df), what fraction of the children (age known and under 10) "
    "survived? Compare it with the overall rate the notebook printed.",
    _t1_check,
    "train_df[train_df['age'] < 10]['survived'].mean(): a missing age compares False, so it drops out.",
    _t1_solve,
    objective=PROJECT,
    wrong=((100 * _t1_solve(), "percentage"), (0.2, "too low"), ("0.6", "expected a number"), (0.64, "held-out"),
           (1 - 0.5965, "died"), (0.5259, "under 18"), (0.0382, "divided the surviving children by all")),
)


def _t2_solve() -> str:
    return "late_payments"


t2 = Exercise(
    "t2",
    "A bank asks you to predict, when a loan is granted, whether it will be repaid. Its table has one row per past "
    "loan with the columns 'income', 'loan_amount', 'years_employed', 'late_payments' (how many payments of that "
    "loan came late) and 'repaid'. Which column leaks the answer?",
    choice("late_payments", {
        "income": "income is known when the loan is granted: a fair signal.",
        "loan_amount": "the amount is decided when the loan is granted: a fair signal.",
        "years_employed": "known when the applicant applies: a fair signal.",
        "repaid": "repaid is the target itself, what the model predicts; the question asks which input column leaks.",
    }),
    "Section 4's question, for each column: would I know this at the moment I must predict, when the loan is granted?",
    _t2_solve,
    objective=TRAPS,
)


# t3 (code): a pipeline from the raw columns that beats the "women survive" rule in cross-validation.
def build_model() -> Any:
    """An unfitted Pipeline: raw Titanic columns (pclass, name, sex, age, sibsp, parch) in, survived out."""
    from sklearn.compose import make_column_transformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    prep = make_column_transformer(
        (make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), ["age", "sibsp", "parch"]),
        (OneHotEncoder(handle_unknown="ignore"), ["pclass", "sex"]),
    )  # columns not listed (name) are dropped
    # Trees can say "a woman in third class" or "a boy": interactions a linear model on these columns misses.
    return make_pipeline(prep, HistGradientBoostingClassifier(max_depth=4, learning_rate=0.05, random_state=0))


MARGIN = 0.005  # the model must beat the rule by at least this much


def _a_tree() -> Any:
    from sklearn.compose import make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OrdinalEncoder
    from sklearn.tree import DecisionTreeClassifier

    prep = make_column_transformer((SimpleImputer(strategy="median"), ["age", "sibsp", "parch"]),
                                   (OrdinalEncoder(), ["pclass", "sex"]))  # a tree needs no scaling, no one-hot
    return make_pipeline(prep, DecisionTreeClassifier(max_depth=5, min_samples_leaf=5, random_state=0))


def _no_imputer() -> Any:
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    prep = make_column_transformer((StandardScaler(), ["age", "sibsp", "parch"]),
                                   (OneHotEncoder(handle_unknown="ignore"), ["pclass", "sex"]))
    return make_pipeline(prep, LogisticRegression(max_iter=1000))


def _raw_text() -> Any:
    from sklearn.compose import make_column_transformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline

    prep = make_column_transformer((SimpleImputer(strategy="median"), ["age", "sibsp", "parch", "pclass"]),
                                   ("passthrough", ["sex"]))
    return make_pipeline(prep, HistGradientBoostingClassifier(random_state=0))


def _sex_only() -> Any:
    from sklearn.compose import make_column_transformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder
    from sklearn.tree import DecisionTreeClassifier

    return make_pipeline(make_column_transformer((OneHotEncoder(), ["sex"])), DecisionTreeClassifier(random_state=0))


def _linear() -> Any:
    from sklearn.compose import make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    prep = make_column_transformer((make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
                                    ["age", "sibsp", "parch"]), (OneHotEncoder(handle_unknown="ignore"), ["pclass", "sex"]))
    return make_pipeline(prep, LogisticRegression(max_iter=1000))


def _fitted() -> Any:
    train_df, _ = titanic_split()
    return build_model().fit(train_df.drop(columns="survived"), train_df["survived"])


_ONE_MODEL: list[Any] = []


def _the_same_model() -> Any:
    if not _ONE_MODEL:
        _ONE_MODEL.append(build_model())
    return _ONE_MODEL[0]


def _women_rule_accuracy(X: Any, y: Any, folds: Any) -> float:
    import numpy as np

    rule = (X["sex"] == "female").astype(int)
    return float(np.mean([(rule.iloc[test] == y.iloc[test]).mean() for _, test in folds.split(X, y)]))


def _t3_check(answer: Any) -> str | None:
    if not callable(answer) or hasattr(answer, "fit"):
        return "pass your function build_model itself (without calling it): it returns a new, unfitted pipeline."
    model = learner_call(answer)
    if not (hasattr(model, "fit") and hasattr(model, "get_params")):
        return f"build_model() should return a scikit-learn pipeline, got {type(model).__name__}."
    if learner_call(answer) is model:
        return ("build_model() returned the same object twice: build a new pipeline inside the function at each "
                "call, so that every model starts from scratch.")
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(model)
    except NotFittedError:
        pass
    else:
        return ("build_model() returned a fitted pipeline: return it unfitted (no .fit inside), so that "
                "cross-validation fits it on each fold's training rows only.")
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    train_df, _ = titanic_split()  # the 891 training passengers of the notebook
    X, y = train_df.drop(columns="survived"), train_df["survived"]
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    try:
        scores = cross_val_score(model, X, y, cv=folds, error_score="raise")
    except ValueError as err:
        text = str(err)
        if "NaN" in text or "missing" in text.lower():
            return ("your pipeline chokes on missing ages (263 are NaN): put SimpleImputer(...) before the model "
                    "for the numeric columns.")
        if "string" in text or "convert" in text:
            return ("your pipeline meets text ('male', names): one-hot encode the categorical columns with "
                    "OneHotEncoder inside a ColumnTransformer, and leave 'name' out.")
        raise
    rule = _women_rule_accuracy(X, y, folds)
    if scores.mean() < rule + MARGIN:
        same = " It scores exactly what the rule does: it has learned only the rule." if abs(
            scores.mean() - rule) < 0.002 else ""
        return (f"cross-validated accuracy is {scores.mean():.3f}, and the rule 'women survive' alone scores "
                f"{rule:.3f} on the same folds; beat it by at least {MARGIN:g}.{same} Use class and age too, "
                "and a model that can combine them (a linear model cannot say 'a woman in third class' or "
                "'a boy'; trees can).")
    return None


t3 = Exercise(
    "t3",
    "Write build_model(): it returns a new, unfitted pipeline that takes the raw Titanic columns (pclass, name, "
    "sex, age, sibsp, parch) and predicts survived, beating the 'women survive' rule by at least 0.005 in "
    "5-fold cross-validation on the 891 training passengers.",
    _t3_check,
    "make_column_transformer((make_pipeline(SimpleImputer(), StandardScaler()), numeric_columns), "
    "(OneHotEncoder(handle_unknown='ignore'), categorical_columns)), then a classifier that combines "
    "features, e.g. HistGradientBoostingClassifier(max_depth=4).",
    lambda: build_model,
    kind="code",
    objective=PIPELINE,
    wrong=((_no_imputer, "missing ages"), (_raw_text, "one-hot encode"), (_sex_only, "learned only the rule"),
           (_linear, "a linear model cannot say"), (build_model(), "without calling it"),
           (_fitted, "returned a fitted pipeline"), (_the_same_model, "the same object twice")),
    right=(_a_tree,),
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
    objective=CHOOSE,
)
