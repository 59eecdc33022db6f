"""helpers.diffusion: the tiny offline pipeline, seeds, PNG metadata, memory techniques, UNet LoRA."""

from __future__ import annotations

import gc
import weakref

import pytest
import torch

from helpers import diffusion, gpu, models, sd_lora

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::DeprecationWarning")


def add_unet_lora(pipe, rank: int = 4) -> int:
    """What week 8b's section 2 does: freeze the pipeline, add LoRA to the UNet's attention, LoRA weights in fp32."""
    from diffusers.training_utils import cast_training_params
    from peft import LoraConfig

    for module in (pipe.unet, pipe.vae, pipe.text_encoder):
        module.requires_grad_(False)
    pipe.unet.add_adapter(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights="gaussian",
                                     target_modules=["to_k", "to_q", "to_v", "to_out.0"]))
    cast_training_params(pipe.unet, dtype=torch.float32)
    return sum(p.numel() for p in pipe.unet.parameters() if p.requires_grad)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tiny models run faster on one thread (and do not fight other tests for the cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return models.tiny_pipeline(tmp_path_factory.mktemp("sd") / "tiny-sd")


@pytest.fixture(scope="module")
def pipe(tiny_dir):
    return diffusion.load_pipeline(tiny_dir, device="cpu")


def test_tiny_tokenizer_gives_words_their_own_ids_instead_of_the_silent_endoftext_trap():
    tok = models.tiny_tokenizer()
    ids = tok("a red cat")["input_ids"]
    eos = tok.convert_tokens_to_ids("<|endoftext|>")
    assert ids[0] == tok.convert_tokens_to_ids("<|startoftext|>") and ids[-1] == eos
    words = ids[1:-1]
    assert len(words) == 3 and eos not in words and len(set(words)) == 3  # one merged token per known word
    assert eos not in tok("zebra")["input_ids"][1:-1]  # unknown words fall back to characters, not to <|endoftext|>
    assert tok.model_max_length == 77


def test_tiny_pipeline_is_saved_once_and_loads_back_with_from_pretrained(tiny_dir, pipe):
    assert {"model_index.json", "unet", "vae", "text_encoder", "tokenizer", "scheduler"} <= {p.name for p in tiny_dir.iterdir()}
    stamp = (tiny_dir / "model_index.json").stat().st_mtime_ns
    assert models.tiny_pipeline(tiny_dir) == tiny_dir
    assert (tiny_dir / "model_index.json").stat().st_mtime_ns == stamp  # cached: not rebuilt
    sizes = diffusion.component_gib(pipe)
    assert set(sizes) == {"unet", "vae", "text_encoder"} and sizes["unet"] > sizes["text_encoder"]


def test_same_seed_gives_the_same_image_and_another_seed_a_different_one(pipe):
    a = diffusion.generate(pipe, "a red circle", seed=3, steps=2)[0]
    b = diffusion.generate(pipe, "a red circle", seed=3, steps=2)[0]
    c = diffusion.generate(pipe, "a red circle", seed=4, steps=2)[0]
    assert diffusion.pixel_difference(a, b) == 0.0
    assert diffusion.pixel_difference(a, c) > 1.0


def test_images_come_out_at_the_requested_size_with_their_settings_attached(pipe):
    images = diffusion.generate(pipe, ["a cat", "a dog"], seed=0, steps=1, size=(96, 64), guidance=3.0)
    assert [im.size for im in images] == [(96, 64), (96, 64)]
    assert images[0].info["seed"] == "0" and images[0].info["guidance"] == "3.0"
    assert images[0].info["prompt"] == "a cat | a dog" and images[0].info["size"] == "96x64"


def test_png_metadata_round_trips_and_regenerates_the_same_image(pipe, tmp_path):
    image = diffusion.generate(pipe, "a blue square", seed=7, steps=2, negative_prompt="blurry")[0]
    path = diffusion.save_png(image, tmp_path / "out" / "x.png", note="made in a test")
    meta = diffusion.read_png(path)
    assert meta["prompt"] == "a blue square" and meta["seed"] == 7 and meta["steps"] == 2
    assert meta["negative_prompt"] == "blurry" and meta["note"] == "made in a test"
    assert meta["model"] == str(pipe.name_or_path) and meta["scheduler"] == "DDIMScheduler"
    again = diffusion.generate(pipe, meta["prompt"], seed=meta["seed"], steps=meta["steps"],
                               guidance=meta["guidance"], negative_prompt=meta["negative_prompt"])[0]
    assert diffusion.pixel_difference(again, image) == 0.0


def test_scheduler_swap_keeps_the_config_and_unknown_names_list_the_choices(tiny_dir):
    pipe = diffusion.load_pipeline(tiny_dir, device="cpu")
    diffusion.use_scheduler(pipe, "DPM++ 2M")
    assert type(pipe.scheduler).__name__ == "DPMSolverMultistepScheduler"
    assert pipe.scheduler.config.beta_schedule == "scaled_linear"
    with pytest.raises(ValueError, match="Euler a"):
        diffusion.use_scheduler(pipe, "euler-ancestral")


def test_cpu_offload_is_skipped_on_a_cpu_with_a_reason_and_unknown_techniques_are_refused(tiny_dir):
    pipe = diffusion.load_pipeline(tiny_dir)
    assert "CUDA" in diffusion.apply_technique(pipe, "half+model_cpu_offload", "cpu")
    assert diffusion.apply_technique(pipe, "half+vae_tiling", "cpu") is None and pipe.vae.use_tiling
    with pytest.raises(ValueError, match="attention_slicing"):
        diffusion.apply_technique(pipe, "xformers", "cpu")


def test_technique_table_measures_each_row_and_marks_the_skipped_ones(tiny_dir):
    rows = diffusion.measure_techniques(tiny_dir, ["fp32", "half+attention_slicing", "half+sequential_cpu_offload"],
                                        "a cat", device="cpu", size=64, steps=1, batch=2)
    by_name = {r["technique"]: r for r in rows}
    assert by_name["fp32"]["dtype"] == "float32" and by_name["half+attention_slicing"]["dtype"] == "bfloat16"
    for name in ("fp32", "half+attention_slicing"):
        assert by_name[name]["peak_gib"] > 0 and by_name[name]["s_per_image"] > 0
        assert by_name[name]["note"] == "2 image(s) of 64x64"
    assert by_name["half+sequential_cpu_offload"]["note"].startswith("skipped")
    for name in ("fp32", "half+attention_slicing"):  # the peak is what was resident plus the rise above it
        row = by_name[name]
        assert row["peak_gib"] == pytest.approx(row["resident_gib"] + row["rise_gib"], abs=0.002)
        assert (row["size"], row["batch"]) == (64, 2)
    # the planner's weights: fp32 is twice 16-bit for the same pipeline
    assert by_name["fp32"]["planner_weights_gib"] == pytest.approx(2 * by_name["half+attention_slicing"]["planner_weights_gib"], rel=0.01)


def test_a_row_whose_weights_do_not_fit_while_moving_to_the_gpu_is_an_out_of_memory_row(tiny_dir, monkeypatch):
    """SDXL's fp32 row (12.9 GiB of weights) runs out of memory in pipe.to("cuda"): a result, not a crash."""
    real_load, alive = diffusion.load_pipeline, []

    def load(model, dtype=torch.float32, device=None, variant=None):
        pipe = real_load(model, dtype=dtype, device=device, variant=variant)
        if dtype == torch.float32:
            def to(*args, **kwargs):
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 12.92 GiB")

            pipe.to = to  # what a 12 GB card does with SDXL in fp32
            alive.append(weakref.ref(pipe.unet))
        return pipe

    monkeypatch.setattr(diffusion, "load_pipeline", load)
    rows = diffusion.measure_techniques(tiny_dir, ["fp32", "half"], "a cat", device="cpu", size=64, steps=1)
    assert rows[0]["note"] == "out of memory" and "peak_gib" not in rows[0]
    assert rows[1]["peak_gib"] > 0 and rows[1]["note"] == "1 image(s) of 64x64"  # the table went on
    gc.collect()
    assert alive and alive[0]() is None  # the half-moved pipeline was let go before the next row loaded


def test_a_failure_that_is_not_out_of_memory_still_stops_the_table(tiny_dir, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(diffusion, "apply_technique", broken)
    with pytest.raises(RuntimeError, match="illegal memory access"):
        diffusion.measure_techniques(tiny_dir, ["half"], "a cat", device="cpu", size=64, steps=1)


def test_encoding_one_image_at_a_time_gives_the_latents_of_one_batch(pipe):
    images, captions = sd_lora.style_images(3, 64, seed=4)
    together = sd_lora.encode_examples(pipe, images, captions, chunk=3)
    apart = sd_lora.encode_examples(pipe, images, captions)
    for key in ("mean", "std", "text"):
        torch.testing.assert_close(apart[key], together[key], rtol=1e-4, atol=1e-5)


def test_planner_counts_only_the_largest_model_under_model_offload(pipe):
    whole = diffusion.planner_gib(pipe, "fp32")
    assert whole == pytest.approx(sum(diffusion.component_gib(pipe).values()), rel=1e-6)
    assert diffusion.planner_gib(pipe, "half+model_cpu_offload") == pytest.approx(diffusion.component_gib(pipe)["unet"] / 2)
    assert diffusion.planner_gib(pipe, "half+sequential_cpu_offload") == 0.0


def test_style_images_are_deterministic_and_captioned_with_the_trigger():
    a, caps = sd_lora.style_images(3, 48, seed=1, trigger="zwx")
    b, _ = sd_lora.style_images(3, 48, seed=1, trigger="zwx")
    assert [im.size for im in a] == [(48, 48)] * 3
    assert all(diffusion.pixel_difference(x, y) == 0 for x, y in zip(a, b))
    assert all(c.startswith("a picture in zwx style of ") for c in caps)
    assert "a orange" not in " ".join(caps)


def test_own_images_are_cropped_square_and_an_empty_folder_says_what_to_do(tmp_path):
    from PIL import Image

    Image.new("RGB", (120, 80), (255, 0, 0)).save(tmp_path / "wide.jpg")
    Image.new("RGB", (50, 90), (0, 0, 255)).save(tmp_path / "tall.png")
    (tmp_path / "notes.txt").write_text("not an image")
    images, captions = sd_lora.load_images(tmp_path, 10, 32, trigger="sks")
    assert [im.size for im in images] == [(32, 32), (32, 32)]
    assert captions == ["a picture in sks style"] * 2
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="shapes"):
        sd_lora.load_images(empty, 4, 32)


@pytest.mark.slow
def test_unet_lora_trains_only_the_adapter_lowers_the_eval_loss_and_reloads_identically(tiny_dir, tmp_path):
    pipe = diffusion.load_pipeline(tiny_dir, device="cpu")
    frozen = {k: v.clone() for k, v in pipe.unet.state_dict().items() if "lora" not in k}
    trainable = add_unet_lora(pipe, rank=4)
    assert 0 < trainable < 0.1 * sum(p.numel() for p in pipe.unet.parameters())
    images, captions = sd_lora.style_images(4, 64, seed=0)
    examples = sd_lora.encode_examples(pipe, images, captions)
    before = sd_lora.eval_loss(pipe, examples)
    assert sd_lora.eval_loss(pipe, examples) == before  # fixed noise and timesteps: a steady yardstick
    losses = sd_lora.train_unet_lora(pipe, examples, steps=15, lr=3e-3, batch_size=4)
    assert len(losses) == 15
    assert sd_lora.eval_loss(pipe, examples) < before
    base = {k.replace(".base_layer", ""): v for k, v in pipe.unet.state_dict().items() if "lora" not in k}
    assert all(torch.equal(base[k], v) for k, v in frozen.items())  # the original weights did not move
    after = diffusion.generate(pipe, "a cat in sks style", seed=0, steps=2)[0]
    folder = sd_lora.save_unet_lora(pipe, tmp_path / "lora")
    fresh = diffusion.load_pipeline(tiny_dir, device="cpu")
    fresh.load_lora_weights(str(folder))
    assert diffusion.pixel_difference(diffusion.generate(fresh, "a cat in sks style", seed=0, steps=2)[0], after) == 0.0


def test_training_without_an_adapter_says_to_add_one(tiny_dir):
    pipe = diffusion.load_pipeline(tiny_dir, device="cpu")
    pipe.unet.requires_grad_(False)
    with pytest.raises(RuntimeError, match="add a LoRA adapter first"):
        sd_lora.train_unet_lora(pipe, {"mean": torch.zeros(1, 4, 16, 16)}, steps=1)


def test_gradient_checkpointing_still_trains_every_adapter_weight(tiny_dir):
    pipe = diffusion.load_pipeline(tiny_dir, device="cpu")
    add_unet_lora(pipe, rank=4)
    images, captions = sd_lora.style_images(2, 64, seed=2)
    examples = sd_lora.encode_examples(pipe, images, captions)
    lora = [p for p in pipe.unet.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in lora]
    sd_lora.train_unet_lora(pipe, examples, steps=2, lr=1e-2, batch_size=2, checkpointing=True)
    assert all(not torch.equal(a, b) for a, b in zip(before, lora))


def test_lora_weights_stay_fp32_in_a_16_bit_unet_and_the_scaled_step_still_trains(tiny_dir):
    pipe = diffusion.load_pipeline(tiny_dir, dtype=torch.bfloat16, device="cpu")
    add_unet_lora(pipe, rank=4)
    lora = [p for p in pipe.unet.parameters() if p.requires_grad]
    assert lora and all(p.dtype == torch.float32 for p in lora)
    assert all(p.dtype == torch.bfloat16 for p in pipe.unet.parameters() if not p.requires_grad)
    pipe.to(torch.float32)  # CPU kernels: train in fp32, but through a real GradScaler (fp16's path)
    images, captions = sd_lora.style_images(2, 64, seed=3)
    examples = sd_lora.encode_examples(pipe, images, captions)
    before = [p.detach().clone() for p in lora]
    scaled = gpu.Precision(torch.float32, torch.bfloat16, False, True, "test: the scaler path on a CPU")
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    losses = sd_lora.train_unet_lora(pipe, examples, steps=2, lr=1e-2, batch_size=2, precision=scaled, scaler=scaler)
    assert len(losses) == 2 and all(loss == loss for loss in losses)
    assert scaler.get_scale() >= 2.0**10 / 2  # no overflow: the steps were taken, not skipped
    assert all(not torch.equal(a, b) for a, b in zip(before, lora))


def test_week_8a_noising_reference_is_the_schedulers_add_noise():
    from diffusers import DDPMScheduler

    from course.exercises import week08a

    sched = DDPMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")
    g = torch.Generator().manual_seed(0)
    x0, eps, t = torch.randn(3, 4, 8, 8, generator=g), torch.randn(3, 4, 8, 8, generator=g), torch.tensor([0, 400, 999])
    ours = week08a.add_noise(x0, eps, t, week08a.sd_betas())
    torch.testing.assert_close(ours, sched.add_noise(x0, eps, t), rtol=1e-5, atol=1e-5)
