"""The heaviest step of each GPU notebook at real size, for ``benchmarks.rehearse`` (random weights, no download).

Each ``step_<notebook>(device, tiny)`` returns ``(run, planner_bytes, what)``: ``run()`` builds the models on the
device and runs the step; ``planner_bytes`` is the planner's figure for PyTorch's allocator (None where the planner
does not model the step); ``what`` says what runs. ``tiny=True`` shrinks every shape for a CPU test of the same
code. LLM notebooks use :func:`llm_step` with their 12 GiB rung's ``plan`` (``helpers.ladders``) or the ``plan =
{...}`` table of their syllabus entry; 08a and 08b run their 12 GiB rung's settings (a rung with a measured rule,
``need_gib``, which the rehearsal compares with). 04a's, 04b's and 05b's networks come from the notebooks themselves
(``course.notebook_code``); the other steps mirror each notebook's full-profile defaults: keep them in step when a
notebook changes. The steps of 04c, 04d, 05b and 05c are in ``benchmarks.rehearse_steps_more``.

The 04c, 04d, 05b, 05c steps and the 08a/08b steps at their new rungs were written without a GPU: only their tiny
versions have run (tests/test_rehearse.py, on a CPU).
"""

from __future__ import annotations

from collections.abc import Callable

from benchmarks.rehearse_steps_more import STEPS_MORE

PLAN_KEYS = ("model", "method", "bits", "batch", "seq", "checkpointing", "lora_rank", "precision", "optimizer")
TINY_LLAMA = dict(model_type="llama", hidden_size=64, intermediate_size=192, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, vocab_size=256, max_position_embeddings=512)

def _resnet9(w: int):  # noqa: ANN202
    """04a's ResNet-9, built by the notebook's own code (``course.notebook_code``), at width ``w``."""
    from course import notebook_code

    return notebook_code.definitions("04a", "resnet9", WIDTH=w).resnet9(w)


def _speedrun_net(widths: tuple[int, int, int]):  # noqa: ANN202
    """04b's speedrun net (identity init, frozen BatchNorm scales, Scale(1/9)), built by the notebook's own code."""
    from course import notebook_code

    return notebook_code.definitions("04b", "speedrun_net", WIDTHS=widths).speedrun_net(widths)


def _image_classifier_steps(net, x_all, batch: int, device: str, opt_fn: Callable, steps: int = 2) -> None:  # noqa: ANN001
    """A few SGD steps on random CIFAR-sized batches under 16-bit autocast, channels_last (04a, 04b)."""
    import torch
    import torch.nn.functional as F

    from helpers import gpu

    net = net.to(device, memory_format=torch.channels_last)
    opt = opt_fn(net.parameters())
    dtype = gpu.precision(device).half  # the course's 16-bit type: bf16 where native, fp16 on a T4 (and a CPU: bf16)
    for _ in range(steps):
        idx = torch.randint(0, x_all.shape[0], (batch,), device=device)
        x = x_all[idx].float().div(255).contiguous(memory_format=torch.channels_last)
        y = torch.randint(0, 10, (batch,), device=device)
        with torch.autocast(device, dtype=dtype):
            loss = F.cross_entropy(net(x), y, label_smoothing=0.2)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)


def step_04a(device: str, tiny: bool) -> tuple[Callable, int | None, str]:
    """ResNet-9 (width 64) on CIFAR-10 at batch 512, bf16 autocast, channels_last, SGD with Nesterov momentum."""
    import torch

    w, batch, n = (8, 16, 64) if tiny else (64, 512, 50_000)

    def run() -> None:
        x_all = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, device=device)
        _image_classifier_steps(_resnet9(w), x_all, batch, device,
                                lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4))

    return run, None, f"ResNet-9 width {w}, batch {batch} x 3x32x32, bf16 autocast, SGD"


def step_04b(device: str, tiny: bool) -> tuple[Callable, int | None, str]:
    """The speedrun net (widths 64/256/256) at batch 1024 with all 50,000 training images held on the GPU."""
    import torch

    widths, batch, n = ((16, 32, 32), 16, 64) if tiny else ((64, 256, 256), 1024, 50_000)

    def run() -> None:
        x_all = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, device=device)
        _image_classifier_steps(_speedrun_net(widths), x_all, batch, device,
                                lambda p: torch.optim.SGD(p, lr=0.2, momentum=0.85, nesterov=True))

    return run, None, f"speedrun net {widths}, batch {batch}, dataset on the device"


def step_05a(device: str, tiny: bool) -> tuple[Callable, int | None, str]:
    """DistilBERT fine-tune as Trainer(bf16=True) runs it: fp32 weights, AdamW, bf16 autocast, batch 32 x 128."""
    import torch

    from helpers import gpu, planner, planner_check

    cfg = (dict(model_type="distilbert", vocab_size=512, dim=64, n_layers=2, n_heads=4, hidden_dim=128,
                max_position_embeddings=128) if tiny else "distilbert")
    batch, seq = (4, 32) if tiny else (32, 128)

    def run() -> None:
        from transformers import AutoModelForSequenceClassification

        config = planner_check.hf_config(cfg, num_labels=2)
        torch.manual_seed(0)
        net = AutoModelForSequenceClassification.from_config(config).to(device).train()
        opt = torch.optim.AdamW(net.parameters(), lr=5e-5)
        for _ in range(2):
            ids = torch.randint(0, config.vocab_size, (batch, seq), device=device)
            with torch.autocast(device, dtype=gpu.precision(device).half):  # Trainer(bf16=True), or fp16 on a T4
                loss = net(input_ids=ids, labels=torch.randint(0, 2, (batch,), device=device)).loss
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

    est = planner.estimate(cfg, method="full", bits=16, batch=batch, seq=seq, precision="mixed")
    return run, est.total - est.components["overhead"], f"DistilBERT full fine-tune (mixed), batch {batch} x {seq}"


def _sd_parts(device: str, tiny: bool, dtype):  # noqa: ANN001, ANN202 - SD 1.5's text encoder, UNet and VAE
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel

    from helpers import planner_check
    from helpers.presets import preset_config

    def conf(name: str) -> dict:
        return {k: v for k, v in preset_config(name).items() if not k.startswith("_")}

    if tiny:
        unet = UNet2DConditionModel(sample_size=16, block_out_channels=(64, 64), layers_per_block=1,
                                    down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=64,
                                    attention_head_dim=8, norm_num_groups=16)
        vae = AutoencoderKL(block_out_channels=(16, 32), down_block_types=("DownEncoderBlock2D",) * 2,
                            up_block_types=("UpDecoderBlock2D",) * 2, layers_per_block=1, norm_num_groups=16)
        text = planner_check.build(dict(model_type="clip_text_model", vocab_size=512, hidden_size=64, intermediate_size=128,
                                        num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=77), device="cpu")
    else:
        torch.manual_seed(0)
        unet, vae = UNet2DConditionModel.from_config(conf("sd15-unet")), AutoencoderKL.from_config(conf("sd15-vae"))
        text = planner_check.build("sd15-text-encoder", device="cpu")
    return text.to(device, dtype), unet.to(device, dtype), vae.to(device, dtype)


def _sd_weights(tiny: bool) -> str:
    """The planner's SD 1.5 weights (it does not model diffusers activations, so the verdict uses the syllabus)."""
    from helpers import planner

    if tiny:
        return ""
    gib = sum(planner.estimate(n).components["weights"] for n in ("sd15-unet", "sd15-vae", "sd15-text-encoder")) / 2**30
    return f"; planner: {gib:.2f} GiB of fp16 weights, activations not modelled"


def _rung_settings(nb: str) -> tuple[str, dict, float | None]:
    """The 12 GiB rung of a ladder notebook: its name, settings and measured rule (``benchmarks.rehearse``)."""
    from benchmarks.rehearse import twelve_gib_rung

    rung = twelve_gib_rung(nb)
    return rung.name, dict(rung.settings), rung.need_gib


def step_08a(device: str, tiny: bool) -> tuple[Callable, int | None, str]:
    """08a's heaviest row at its 12 GiB rung (sd15-512-batch8): the batch table's 16-bit row without VAE slicing.

    SD 1.5's text encoder, UNet and VAE in the course's 16-bit type: 8 prompts and 8 empty ones encoded, two UNet
    steps on the doubled batch of 16 latents (guidance), then all 8 latents decoded at once.
    """
    import torch

    from helpers import gpu

    name, settings, need = _rung_settings("08a")
    size, batch = (64, 2) if tiny else (settings["size"], settings["batch"])

    def run() -> None:
        dtype = gpu.precision(device).half  # the "half" row (diffusion.measure_techniques): bf16, fp16 on older GPUs
        text, unet, vae = _sd_parts(device, tiny, dtype)
        scale = 2 ** (len(vae.config.block_out_channels) - 1)
        with torch.no_grad():
            ids = torch.randint(0, text.config.vocab_size, (2 * batch, 77), device=device)  # prompts + empty (CFG)
            emb = text(input_ids=ids)[0]
            lat = torch.randn(batch, 4, size // scale, size // scale, device=device, dtype=dtype)
            for t in (999, 500):
                eps = unet(torch.cat([lat, lat]), t, encoder_hidden_states=emb).sample
                lat = lat - 0.1 * (eps[:batch] + 7.5 * (eps[batch:] - eps[:batch]))
            images = vae.decode(lat / vae.config.scaling_factor).sample  # the whole batch at once: no VAE slicing
            (images / 2 + 0.5).clamp(0, 1).float().cpu()  # the pipeline's post-processing

    stated = f"; rung {name} needs {need} GiB (helpers.diffusion.need_gib)" if not tiny else ""
    return run, None, f"SD 1.5 16-bit at {size} px, batch {batch} with guidance, decoded at once{_sd_weights(tiny)}{stated}"


def step_08b(device: str, tiny: bool) -> tuple[Callable, int | None, str]:
    """08b's LoRA training at its 12 GiB rung (512px-batch4): rank-8 adapters on a frozen 16-bit SD 1.5 UNet.

    As the notebook: every model resident in the course's 16-bit type, LoRA weights cast to fp32, AdamW, the
    images encoded one at a time beforehand, then training steps of 4 latents at 512 px under autocast with a
    GradScaler, clipping to 1, gradient checkpointing as the rung says (off at 512px-batch4).
    """
    import torch

    from helpers import gpu

    name, settings, need = _rung_settings("08b")
    size, batch = (64, 2) if tiny else (settings["size"], settings["batch"])
    checkpointing = bool(settings.get("checkpointing"))

    def run() -> None:
        from diffusers.training_utils import cast_training_params
        from peft import LoraConfig

        prec = gpu.precision(device)
        text, unet, vae = _sd_parts(device, tiny, prec.compute)  # diffusion.load_pipeline(dtype=PREC.compute)
        for model in (unet, vae, text):
            model.requires_grad_(False)
        unet.add_adapter(LoraConfig(r=8, lora_alpha=8, init_lora_weights="gaussian",
                                    target_modules=["to_k", "to_q", "to_v", "to_out.0"]))
        cast_training_params(unet, dtype=torch.float32)  # only the LoRA weights go to fp32
        params = [p for p in unet.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=1e-2)
        scaler = torch.amp.GradScaler(device, enabled=prec.scaler)
        if checkpointing:
            unet.enable_gradient_checkpointing()
        with torch.no_grad():  # sd_lora.encode_examples: one image at a time, the captions at once
            lat = torch.cat([vae.encode(torch.randn(1, 3, size, size, device=device, dtype=vae.dtype)).latent_dist.mean
                             for _ in range(batch)]) * vae.config.scaling_factor
            emb = text(input_ids=torch.randint(0, text.config.vocab_size, (batch, 77), device=device))[0]
        unet.train()
        for _ in range(2):
            noise = torch.randn_like(lat)
            with torch.autocast(device, dtype=prec.compute, enabled=prec.autocast):
                pred = unet(lat + noise, torch.randint(0, 1000, (batch,), device=device), emb).sample
            loss = torch.nn.functional.mse_loss(pred.float(), noise.float())
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            scaler.step(opt)
            scaler.update()
            opt.zero_grad(set_to_none=True)

    stated = f"; rung {name} needs {need} GiB (helpers.sd_lora.need_gib)" if not tiny else ""
    return run, None, (f"SD 1.5 UNet LoRA r8 training at {size} px, batch {batch}, checkpointing "
                       f"{'on' if checkpointing else 'off'}{_sd_weights(tiny)}{stated}")


def _llava_config(tiny: bool):  # noqa: ANN202
    """llava-hf/llava-interleave-qwen-0.5b-hf's shapes: SigLIP-so400m (384 px, patch 14, the 26 layers LLaVA
    keeps) and Qwen1.5-0.5B (24 layers of 1024, vocabulary 152,000); transcribed, so check them against the
    model's config.json when e3 changes model."""
    from transformers import LlavaConfig

    if tiny:
        vision = dict(model_type="siglip_vision_model", hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, image_size=32, patch_size=8)
        text = dict(model_type="qwen2", hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                    num_attention_heads=4, num_key_value_heads=4, vocab_size=600)
        return LlavaConfig(vision_config=vision, text_config=text, image_token_index=599,
                           vision_feature_select_strategy="full", vision_feature_layer=-1)
    vision = dict(model_type="siglip_vision_model", hidden_size=1152, intermediate_size=4304, num_hidden_layers=26,
                  num_attention_heads=16, image_size=384, patch_size=14)
    text = dict(model_type="qwen2", hidden_size=1024, intermediate_size=2816, num_hidden_layers=24, num_attention_heads=16,
                num_key_value_heads=16, vocab_size=152000, max_position_embeddings=32768, tie_word_embeddings=True)
    return LlavaConfig(vision_config=vision, text_config=text, image_token_index=151646,
                       vision_feature_select_strategy="full", vision_feature_layer=-1)


def step_e3(device: str, tiny: bool) -> tuple[Callable, int | None, str]:
    """A LLaVA-interleave-0.5B-sized VLM in fp16: one image (729 patches) plus a question, then 8 new tokens."""
    import torch

    from helpers import gpu

    def run() -> None:
        from transformers import LlavaForConditionalGeneration

        config = _llava_config(tiny)
        dtype = gpu.precision(device).compute  # as multimodal.load_vlm: 16-bit on a GPU, fp32 on a CPU
        torch.manual_seed(0)  # built on the CPU, then moved in 16-bit: only the fp16 copy touches the GPU
        net = LlavaForConditionalGeneration(config).to(device, dtype).eval()
        v = config.vision_config
        patches = (v.image_size // v.patch_size) ** 2
        ids = torch.randint(0, config.image_token_index, (1, patches + 32), device=device)
        ids[0, 4:4 + patches] = config.image_token_index
        pixels = torch.randn(1, 3, v.image_size, v.image_size, device=device, dtype=dtype)
        with torch.no_grad():
            net.generate(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=pixels, max_new_tokens=8,
                         min_new_tokens=8, do_sample=False)

    return run, None, "LLaVA-interleave-0.5B shapes, fp16, one 384 px image + 32 tokens, 8 new tokens"


def step_e4(device: str, tiny: bool) -> tuple[Callable, int | None, str]:
    """e4's DDPM U-Net (width 64) training at batch 128 on 28x28 images, fp32, Adam."""
    import torch

    from helpers import generative as gm

    width, batch = (8, 8) if tiny else (64, 128)

    def run() -> None:
        torch.manual_seed(0)
        unet = gm.TinyUNet(width=width).to(device)
        opt = torch.optim.Adam(unet.parameters(), lr=2e-4)
        schedule = {k: v.to(device) for k, v in gm.linear_schedule(1000).items()}
        for _ in range(2):
            x0 = torch.rand(batch, 1, 28, 28, device=device) * 2 - 1
            t = torch.randint(0, 1000, (batch,), device=device)
            noise = torch.randn_like(x0)
            loss = torch.nn.functional.mse_loss(unet(gm.add_noise(x0, t, noise, schedule["alpha_bar"]), t), noise)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

    return run, None, f"DDPM U-Net width {width}, batch {batch} x 1x28x28, Adam"


def step_e6(device: str, tiny: bool) -> tuple[Callable, int | None, str]:
    """SmolLM2-1.7B-Instruct in bf16 answering 4 concurrent requests as one batch (256 new tokens each)."""
    return llm_step({"model": "smollm2-1.7b", "method": "inference", "bits": 16, "batch": 4, "seq": 512},
                     device, tiny)


def llm_step(plan: dict, device: str, tiny: bool) -> tuple[Callable, int | None, str]:
    """A syllabus ``plan`` table as a rehearsal: the planner's estimate and a run of that configuration."""
    from helpers import planner, planner_check

    kw = {k: plan[k] for k in PLAN_KEYS if k in plan}
    ignored = sorted(set(plan) - set(PLAN_KEYS))
    model = kw.pop("model")
    if tiny:
        model, kw["batch"], kw["seq"] = dict(TINY_LLAMA), 1, 32
    est = planner.estimate(model, **kw)
    result: dict = {}

    def run() -> dict:
        result.update(planner_check.rehearse(model, device=device, cap_gib=None, steps=2, **kw))
        return result

    what = f"{plan['model']} {est.label}, batch {est.batch} x {est.seq}"
    if kw.get("optimizer") or est.knobs.get("checkpointing"):
        what += f", {est.knobs['optimizer']}, checkpointing {'on' if est.knobs['checkpointing'] else 'off'}"
    if ignored:
        what += f" (plan keys not rehearsed: {', '.join(ignored)})"
    return run, est.total - est.components["overhead"], what


STEPS: dict[str, Callable[[str, bool], tuple[Callable, int | None, str]]] = {
    "04a-cnns-on-cifar10": step_04a, "04b-cifar10-speedrun": step_04b, "05a-transformers-for-nlp": step_05a,
    "08a-text-to-image": step_08a, "08b-teach-it-a-style": step_08b, "e3-multimodal": step_e3,
    "e4-generative-models": step_e4, "e6-serving-a-local-llm": step_e6,
} | STEPS_MORE  # 04c, 04d, 05b, 05c: benchmarks/rehearse_steps_more.py
