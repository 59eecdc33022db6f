"""Weeks 8a and 8b fit the machine in front of them: measured rules for diffusers pipelines, and a real CPU rung.

The planner models a pipeline's weights, not its activations, so each GPU rung of 08a and 08b states a figure
computed by a rule (``helpers.diffusion.need_gib``, ``helpers.sd_lora.need_gib``): the planner's weights plus
activations measured on a CPU with random-weight replicas, plus a stated allowance. These tests hold the ladders to
their rules, the rules to their measurement tool, and 08a's CPU rung (sd-turbo) to its timed replica.
"""

from __future__ import annotations

import pytest
import torch

from helpers import diffusion, ladders, sd_lora

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::DeprecationWarning")

GPU_RUNGS = [(nb, r) for nb in ("08a", "08b") for r in ladders.ladder(nb) if not r.cpu]
RULE = {"08a": diffusion.need_gib, "08b": sd_lora.need_gib}


@pytest.mark.parametrize(("notebook", "rung"), GPU_RUNGS, ids=[f"{nb}-{r.name}" for nb, r in GPU_RUNGS])
def test_each_rung_states_the_figure_its_rule_computes_and_says_it_is_an_estimate(notebook, rung):
    assert rung.plan is None and rung.need_gib == pytest.approx(RULE[notebook](rung.settings), abs=0.01)
    assert rung.rule.startswith(f"estimate (helpers.{'diffusion' if notebook == '08a' else 'sd_lora'}.need_gib)")


def test_the_reference_card_gets_the_course_rungs_and_sdxl_needs_more_than_twelve_gb():
    free_12gb = 10.5  # a 12 GB card beside a desktop, after this process's CUDA context (benchmarks.rehearse)
    assert ladders.choose("08a", free_12gb)[0].name == "sd15-512-batch8"
    assert ladders.choose("08b", free_12gb)[0].name == "512px-batch4"
    assert ladders.choose("08a", 23.0)[0].name == "sdxl-1024" and ladders.choose("08a", 15.0)[0].name == "sdxl-1024-16bit"
    pinned, why = ladders.choose("08a", free_12gb, pin="sdxl-1024-offload")
    assert pinned is not None and "pinned" in why  # the SDXL stretch on a 12 GB card, with model offload
    assert ladders.choose("08a", 0)[0].name == "cpu-sd-turbo" and ladders.choose("08b", 0)[0] is None


def test_sdxl_in_fp32_is_the_twelve_point_nine_gib_of_weights_the_rule_starts_from():
    weights = diffusion.weights_gib("stabilityai/stable-diffusion-xl-base-1.0", bits=32)
    assert sum(weights.values()) == pytest.approx(12.92, abs=0.01)
    assert sum(diffusion.weights_gib("stable-diffusion-v1-5/stable-diffusion-v1-5", bits=16).values()) == \
        pytest.approx(1.99, abs=0.01)


def test_the_rule_grows_with_the_batch_the_size_and_the_bits_and_shrinks_with_offload_and_checkpointing():
    base = {"size": 512, "batch": 1, "techniques": ("half",)}
    assert diffusion.need_gib(base | {"batch": 4}) > diffusion.need_gib(base)
    assert diffusion.need_gib(base | {"big": True}) > diffusion.need_gib(base)
    assert diffusion.need_gib(base | {"techniques": ("fp32",)}) > diffusion.need_gib(base)
    xl = {"model": "stabilityai/stable-diffusion-xl-base-1.0", "size": 1024, "batch": 1}
    assert diffusion.need_gib(xl | {"offload": True, "techniques": ("half+model_cpu_offload",)}) < \
        diffusion.need_gib(xl | {"techniques": ("half",)})
    train = {"size": 512, "batch": 2, "checkpointing": False}
    assert sd_lora.need_gib(train | {"checkpointing": True}) < sd_lora.need_gib(train) < \
        sd_lora.need_gib(train | {"size": 768})


def test_activation_peak_counts_what_a_call_holds_at_once_not_what_it_allocates_in_all():
    def one_at_a_time():
        for _ in range(4):
            torch.ones(2**18)  # 1 MiB each, freed before the next

    def all_at_once():
        kept = [torch.ones(2**18) for _ in range(4)]
        return len(kept)

    mib = 2**20 / 2**30
    assert diffusion.activation_peak_gib(one_at_a_time) == pytest.approx(mib, rel=0.05)
    assert diffusion.activation_peak_gib(all_at_once) == pytest.approx(4 * mib, rel=0.05)


def test_sd_turbo_replica_has_sd_2_1s_published_parameter_counts():
    from benchmarks import cpu_rungs

    counts = cpu_rungs.sd_turbo_params()  # on the meta device: no memory, no download
    assert round(counts["unet"] / 1e6) == 866 and round(counts["text_encoder"] / 1e6) == 340
    assert counts["vae"] == 83_653_863  # the SD VAE, as helpers/presets/sd15-vae.json counts it


def test_cpu_rung_counts_follow_the_notebooks_sections():
    from benchmarks import cpu_rungs

    s = ladders.ladder("08a")[-1].settings
    counts = cpu_rungs._08a_counts(s)
    # images: first 1, seeds 4, guidance 2, steps 3, negative 2, schedulers 3, img2img 3, regenerate 1, batch 2
    assert counts["decodes"] == 21 and counts["encodes"] == 3
    # UNet passes: 1 + 4 + (1 + 2) + (1 + 2 + 4) + 2 + 3 + (1 + 2 + 3) + 1 + 2
    assert counts["unet"] == 29


@pytest.mark.slow
def test_the_cpu_rung_timing_runs_its_workload_on_a_tiny_replica(monkeypatch):
    """The same code as the real measurement, with sd-turbo's configs shrunk (seconds, not minutes)."""
    from benchmarks import cpu_rungs

    tiny = {"unet": dict(sample_size=16, in_channels=4, out_channels=4, block_out_channels=(64, 64),
                         layers_per_block=1, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                         up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=64,
                         attention_head_dim=8, norm_num_groups=16),
            "text_encoder": dict(vocab_size=1000, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                 num_attention_heads=4, max_position_embeddings=77),
            "vae": dict(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(16, 32),
                        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                        layers_per_block=1, norm_num_groups=16)}
    for key, value in tiny.items():
        monkeypatch.setitem(cpu_rungs.SD_TURBO, key, value)
    rung = ladders.ladder("08a")[-1]
    monkeypatch.setattr(cpu_rungs, "cpu_rung", lambda nb: ladders.Rung(
        "cpu-tiny", rung.settings | {"size": 32}, device="cpu", minutes=1, measured_by="test"))
    result = cpu_rungs.measure("08a", threads=1)
    assert result["rung"] == "cpu-tiny" and result["seconds"] > 0 and len(result["parts"]) == 5
    assert all(seconds >= 0 for seconds in result["parts"].values())


def test_the_ladders_rows_are_08as_techniques_in_their_order():
    from helpers import ladders

    assert ladders.EVERY_TECHNIQUE == tuple(diffusion.TECHNIQUES)
