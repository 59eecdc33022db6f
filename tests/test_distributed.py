"""Extra e7's helpers: one-process and DDP training agree; devices, TF32, rank reports, torchrun."""

from __future__ import annotations

import pytest
import torch

from helpers import cache, distributed


@pytest.fixture(scope="module")
def digits_file():
    return distributed.prepare_data("digits", cache.data_dir("test-e7"))


def test_one_process_training_repeats_exactly_and_learns(digits_file, tmp_path):
    runs = [distributed.train(distributed.TrainConfig(data=str(digits_file), out=str(tmp_path / f"run{k}"),
                                                      steps=30, threads=1)) for k in range(2)]
    assert runs[0]["losses"] == runs[1]["losses"]
    assert runs[0]["losses"][-1] < 0.6 * runs[0]["losses"][0]
    w0, w1 = (distributed.load_weights(tmp_path / f"run{k}", 0) for k in range(2))
    assert distributed.max_abs_diff(w0, w1) == 0.0
    assert runs[0]["world_size"] == 1 and runs[0]["backend"] == "none"


def test_training_restores_the_callers_thread_count(digits_file, tmp_path):
    before = torch.get_num_threads()
    distributed.train(distributed.TrainConfig(data=str(digits_file), out=str(tmp_path), steps=2, threads=1))
    assert torch.get_num_threads() == before


@pytest.mark.slow
def test_two_gloo_ranks_under_torchrun_agree_and_match_one_process(digits_file, tmp_path):
    cfg = distributed.TrainConfig(data=str(digits_file), out=str(tmp_path / "ddp"), steps=12, global_batch=32,
                                  device="cpu", snapshots=(1, 12))
    seconds = distributed.launch_torchrun(2, cfg, timeout=300)
    reports = distributed.read_reports(cfg.out)
    assert seconds > 0
    assert [r["rank"] for r in reports] == [0, 1]
    assert {r["backend"] for r in reports} == {"gloo"} and {r["per_rank_batch"] for r in reports} == {16}
    assert distributed.compare_ranks(cfg.out) == 0.0
    one = distributed.TrainConfig(data=str(digits_file), out=str(tmp_path / "one"), steps=12, global_batch=32,
                                  device="cpu", threads=reports[0]["threads"], snapshots=(1, 12))
    distributed.train(one)
    diff = distributed.max_abs_diff(distributed.load_weights(cfg.out, 0), distributed.load_weights(one.out, 0))
    assert diff < 1e-4
    ddp_snaps, one_snaps = distributed.load_snapshots(cfg.out), distributed.load_snapshots(one.out)
    assert set(ddp_snaps) == set(one_snaps) == {1, 12}  # DDP's "module." prefix is gone: the keys compare
    assert distributed.max_abs_diff(ddp_snaps[12], distributed.load_weights(cfg.out, 0)) == 0.0
    assert distributed.max_abs_diff(ddp_snaps[1], one_snaps[1]) < 1e-6


@pytest.mark.parametrize(("gpus", "world", "want", "expected"), [
    (1, 2, "auto", ("cpu", "gloo")),  # one GPU, two ranks: the ranks go to the CPU...
    (1, 1, "cpu", ("cpu", "gloo")),  # ...and so must the one-process baseline they are compared with
    (1, 1, "auto", ("cuda", "nccl")),
    (2, 2, "auto", ("cuda", "nccl")),
    (0, 1, "auto", ("cpu", "gloo")),
])
def test_the_baseline_can_be_put_on_the_same_device_as_the_ranks(monkeypatch, gpus, world, want, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpus > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    device, backend = distributed._device_and_backend(0, world, want)
    assert (device.type, backend) == expected


def test_asking_for_more_gpus_than_there_are_says_so(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(RuntimeError, match="one GPU per rank"):
        distributed._device_and_backend(0, 2, "cuda")
    with pytest.raises(ValueError, match="'auto', 'cpu' or 'cuda'"):
        distributed._device_and_backend(0, 1, "gpu")


def test_tf32_is_off_inside_training_and_restored_after():
    cudnn, matmul = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    with distributed.fp32_mode(False):
        assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
    with distributed.fp32_mode(True):
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
    assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == (cudnn, matmul)


def test_compare_ranks_sees_a_rank_that_drifted(tmp_path):
    model = distributed.make_model()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    torch.save(state, tmp_path / "rank0.pt")
    state["0.weight"][0, 0, 0, 0] += 0.5
    torch.save(state, tmp_path / "rank1.pt")
    for r in (0, 1):
        (tmp_path / f"rank{r}.json").write_text(f'{{"rank": {r}}}')
    assert distributed.compare_ranks(tmp_path) == pytest.approx(0.5)


def test_compare_ranks_without_reports_says_to_launch_first(tmp_path):
    with pytest.raises(FileNotFoundError, match="did the launch run"):
        distributed.compare_ranks(tmp_path)


def test_uneven_global_batch_is_refused_with_the_reason(digits_file, tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setattr(torch.distributed, "init_process_group", lambda **kw: None)
    with pytest.raises(ValueError, match="divide evenly"):
        distributed.train(distributed.TrainConfig(data=str(digits_file), out=str(tmp_path), global_batch=64))


def test_torchrun_command_is_standalone_and_runs_this_module():
    cmd = distributed.torchrun_command(4, distributed.TrainConfig(data="d.pt", out="o", threads=2))
    assert cmd[1:3] == ["-m", "torch.distributed.run"] and "--standalone" in cmd
    assert "--nproc-per-node=4" in cmd
    assert cmd[cmd.index("-m", 3) + 1] == "helpers.distributed"
    assert cmd[cmd.index("--threads") + 1] == "2"
    assert cmd[cmd.index("--device") + 1] == "auto" and "--tf32" not in cmd and "--snapshots" not in cmd
    cmd = distributed.torchrun_command(2, distributed.TrainConfig(data="d.pt", out="o", device="cpu", tf32=True,
                                                                  snapshots=(1, 10)))
    assert cmd[cmd.index("--device") + 1] == "cpu" and "--tf32" in cmd
    assert cmd[cmd.index("--snapshots") + 1] == "1,10"


def test_unknown_dataset_names_the_choices(tmp_path):
    with pytest.raises(ValueError, match="'digits' or 'mnist'"):
        distributed.prepare_data("cifar", tmp_path)


def test_distributed_exercises_explain_typical_mistakes(capsys):
    from course.exercises import extras_distributed as ex

    assert not ex.q1.check(256)
    assert "global batch" in capsys.readouterr().out
    assert not ex.q2.check(16.5)
    assert "what DDP needs on every GPU" in capsys.readouterr().out
    assert ex.q2.check(6.0)
    assert not ex.q3.check(12)
    assert "twice" in capsys.readouterr().out
    assert not ex.q3.check(24)
    assert "(N-1)/N" in capsys.readouterr().out
    assert not ex.q3.check(9)
    assert "two phases" in capsys.readouterr().out
    assert ex.q3.check(18)
    assert not ex.q4.check(0.1)
    assert "global batch doubled" in capsys.readouterr().out
    assert not ex.q4.check(0.05)
    assert "larger step" in capsys.readouterr().out


def test_on_native_windows_torchrun_gets_use_libuv_0_and_the_note_says_why():
    note = distributed.windows_note("win32")
    assert "USE_LIBUV=0" in note and "cannot fork" in note and "WSL2" in note
    assert distributed.launch_env("win32")["USE_LIBUV"] == "0"
    assert distributed.windows_note("linux") is None and distributed.windows_note("darwin") is None


def test_on_linux_the_ranks_talk_over_loopback_and_libuv_is_left_alone(monkeypatch):
    monkeypatch.delenv("GLOO_SOCKET_IFNAME", raising=False)
    monkeypatch.delenv("USE_LIBUV", raising=False)
    env = distributed.launch_env("linux")
    assert env["GLOO_SOCKET_IFNAME"] == "lo" and "USE_LIBUV" not in env and env["OMP_NUM_THREADS"]
    monkeypatch.setenv("GLOO_SOCKET_IFNAME", "eth0")  # a learner's own choice is kept
    assert distributed.launch_env("linux")["GLOO_SOCKET_IFNAME"] == "eth0"


def test_the_notebook_launcher_refuses_on_a_faked_windows_with_the_wsl2_advice(monkeypatch, tmp_path):
    import sys

    monkeypatch.setattr(sys, "platform", "win32")
    cfg = distributed.TrainConfig(data=str(tmp_path / "d.pt"), out=str(tmp_path))
    with pytest.raises(RuntimeError, match="WSL2"):
        distributed.launch_accelerate(2, cfg)
    assert distributed.launch_env()["USE_LIBUV"] == "0"  # the platform now, as launch_torchrun passes it
