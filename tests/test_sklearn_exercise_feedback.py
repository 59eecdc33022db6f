"""Weeks 1-2: typical wrong answers get specific feedback; the Titanic fallback file is the real passenger list."""

from __future__ import annotations

import pytest

from course.exercises import choice, fitted_estimator, week01, week02a, week02b
from helpers import data


def _said(capsys) -> str:
    return capsys.readouterr().out


def test_week01_rmse_mistakes_are_named(capsys):
    assert not week01.q1.check(1.85)
    assert "MSE" in _said(capsys)
    assert not week01.q1.check(1.1)
    assert "MAE" in _said(capsys)
    assert not week01.q1.check(9.25)
    assert "sum of squared errors" in _said(capsys)


def test_week01_recall_mistakes_point_at_precision_the_wrong_class_and_accuracy(capsys):
    assert not week01.q2.check(28 / 36)
    assert "precision" in _said(capsys)
    assert not week01.q2.check(52 / 60)
    assert "pos_label=0" in _said(capsys)
    assert not week01.q2.check(0.8)
    assert "accuracy" in _said(capsys)
    assert not week01.q2.check(70)
    assert "fraction" in _said(capsys)


def test_week01_pipeline_check_catches_unfitted_unscaled_leaky_and_the_notebooks_own_pipeline(capsys):
    from sklearn.datasets import load_breast_cancer
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    X_train, _, y_train, _ = week01.cancer_split()
    knn = KNeighborsClassifier(n_neighbors=11, weights="distance")
    assert not week01.q3.check(make_pipeline(MinMaxScaler(), knn))
    assert "not fitted" in _said(capsys)
    assert not week01.q3.check(KNeighborsClassifier().fit(X_train, y_train))
    assert "Put a scaler before it" in _said(capsys)
    X, y = load_breast_cancer(return_X_y=True)
    assert not week01.q3.check(make_pipeline(MinMaxScaler(), knn).fit(X, y))
    assert "X_train only" in _said(capsys)
    notebooks_own = make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=5)).fit(X_train, y_train)
    assert not week01.q3.check(notebooks_own), "the pipeline the notebook already built is not the answer"
    assert "the notebook's pipeline" in _said(capsys)


def test_week01_pipeline_check_wants_the_neighbours_and_weights_it_asks_for(capsys):
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler

    X_train, _, y_train, _ = week01.cancer_split()
    assert not week01.q3.check(make_pipeline(MinMaxScaler(), KNeighborsClassifier(1)).fit(X_train, y_train))
    assert "1 neighbour(s); the question asks for 11" in _said(capsys)
    assert not week01.q3.check(make_pipeline(MinMaxScaler(), KNeighborsClassifier(11)).fit(X_train, y_train))
    assert 'weights="distance"' in _said(capsys)


def test_week01_choice_questions_explain_each_wrong_option(capsys):
    assert not week01.q4.check("underfitting")
    assert "training data too" in _said(capsys)
    assert not week01.q5.check("Recall")
    assert "real mail wrongly flagged" in _said(capsys)
    assert not week01.q6.check("yes")
    assert "more capacity" in _said(capsys)
    assert not week01.q5.check(3)
    assert "answer with a string" in _said(capsys)


def test_week02_cv_mistakes_fold_list_and_training_accuracy(capsys):
    assert not week02a.q1.check([0.9, 0.8, 0.9, 0.85, 0.9])
    assert "one per fold" in _said(capsys)
    assert not week02a.q1.check(1.0)
    assert "memorised" in _said(capsys)


def test_week02_grid_search_check_wants_a_fitted_scaled_search(capsys):
    from sklearn.datasets import load_wine
    from sklearn.model_selection import GridSearchCV
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_wine(return_X_y=True)
    assert not week02a.q2.check(make_pipeline(StandardScaler(), KNeighborsClassifier()).fit(X, y))
    assert "GridSearchCV" in _said(capsys)
    grid = {"n_neighbors": [1, 3, 5]}
    assert not week02a.q2.check(GridSearchCV(KNeighborsClassifier(), grid))
    assert "not fitted" in _said(capsys)
    assert not week02a.q2.check(GridSearchCV(KNeighborsClassifier(), grid).fit(X, y))
    assert "scaler" in _said(capsys)


def test_week02_pca_question_is_not_the_notebooks_printed_count_and_explains_mistakes(capsys):
    right = week02a.q3.solve()
    assert right != 21, "21 (raw pixels, 90 %) is printed and recorded by the notebook"
    assert not week02a.q3.check(21)
    assert "raw pixels" in _said(capsys)
    assert not week02a.q3.check(right - 1)
    assert "count from 1" in _said(capsys)
    assert not week02a.q3.check(0.9)
    assert "not a fraction" in _said(capsys)
    assert not week02a.q3.check(64)
    assert "100 %" in _said(capsys)


def test_week02_titanic_mistakes_count_percentage_whole_file_and_leaky_column(capsys):
    train_df, _ = week02b.titanic_split()
    kids = train_df[train_df["age"] < 10]
    assert not week02b.t1.check(int(kids["survived"].sum()))
    assert "count of children" in _said(capsys)
    assert not week02b.t1.check(100 * week02b.t1.solve())
    assert "percentage" in _said(capsys)
    df = data.titanic()
    assert not week02b.t1.check(float(df[df["age"] < 10]["survived"].mean()))
    assert "891 training passengers only" in _said(capsys)
    assert not week02b.t1.check(float(train_df[train_df["age"] <= 10]["survived"].mean()))
    assert "age < 10" in _said(capsys)
    assert not week02b.t2.check("income")
    assert "known when the loan is granted" in _said(capsys)
    assert not week02b.t2.check("repaid")
    assert "the target itself" in _said(capsys)


def test_week02_titanic_pipeline_check_explains_missing_values_and_text(capsys):
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    assert not week02b.t3.check(lambda: LogisticRegression())
    assert "text" in _said(capsys)

    def no_imputer():
        return make_pipeline(make_column_transformer((OneHotEncoder(), ["sex"]), ("passthrough", ["age"])),
                             LogisticRegression())

    assert not week02b.t3.check(no_imputer)
    assert "SimpleImputer" in _said(capsys)
    assert not week02b.t3.check(no_imputer())
    assert "without calling it" in _said(capsys)


def test_week02_titanic_pipeline_must_beat_the_women_survive_rule(capsys):
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    def sex_alone():
        return make_pipeline(make_column_transformer((OneHotEncoder(), ["sex"])), LogisticRegression())

    assert not week02b.t3.check(sex_alone)
    said = _said(capsys)
    assert "'women survive' alone scores" in said and "learned only the rule" in said


def test_titanic_fallback_file_is_the_1309_passenger_list():
    df = data.titanic()
    assert len(df) == 1309 and int(df["survived"].sum()) == 500
    assert set(df.columns) == {"pclass", "survived", "name", "sex", "age", "sibsp", "parch"}
    assert int(df["age"].isna().sum()) == 263 and sorted(df["pclass"].unique()) == [1, 2, 3]


def test_choice_checker_ignores_case_quotes_and_spaces():
    check = choice("test", {"train": "no"})
    assert check(" 'Test' ") is None
    assert check("train") == "no"
    assert "not one of the options" in check("valid")


def test_a_non_estimator_is_named_as_such():
    assert fitted_estimator("a string").startswith("expected a scikit-learn estimator")


@pytest.mark.parametrize("ex", [week01.q3, week02a.q2])
def test_estimator_exercises_do_not_crash_on_a_non_estimator(ex, capsys):
    assert not ex.check("my model")
    said = _said(capsys)
    assert "got str" in said and ("estimator" in said or "GridSearchCV" in said)
