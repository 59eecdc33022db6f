"""Week 0's exercises: the weights-in-GiB function runs on hidden cases and names the typical mistakes."""

from __future__ import annotations

from course.exercises import week00


def test_the_reference_weights_function_passes_and_the_stub_is_not_answered(capsys):
    assert week00.q4.check(week00.q4.solve())
    assert "q4: correct!" in capsys.readouterr().out

    def stub(n_params, dtype):
        raise NotImplementedError

    assert not week00.q4.check(stub)
    assert "not answered yet" in capsys.readouterr().out


def test_four_bytes_for_every_dtype_is_named(capsys):
    assert not week00.q4.check(lambda n, dtype: n * 4 / 2**30)
    assert "4 bytes for every dtype" in capsys.readouterr().out


def test_gigabytes_instead_of_gibibytes_is_named(capsys):
    assert not week00.q4.check(lambda n, dtype: n * dtype.itemsize / 1e9)
    assert "that is GB (10^9 bytes)" in capsys.readouterr().out


def test_counting_bits_is_named(capsys):
    assert not week00.q4.check(lambda n, dtype: n * dtype.itemsize * 8 / 2**30)
    assert "that counts bits" in capsys.readouterr().out


def test_the_tensor_core_question_refuses_the_data_centre_answer(capsys):
    assert not week00.q3.check("large")
    out = capsys.readouterr().out
    assert "80.2 vs 40.1" in out and "A100" in out
    assert week00.q3.check("small")
