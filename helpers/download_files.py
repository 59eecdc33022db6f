"""What each download of the full profile is made of: the files its notebook loads, and what must be there complete.

``FILES`` is what ``course fetch`` downloads (a Hub repo's ``allow_patterns``: safetensors only, the variant each
notebook loads) and what :mod:`helpers.ready` requires before it calls a download complete. Every download a notebook
or a rung of its ladder names is here (a test checks it); ``course/downloads.py`` says what each one is, its size and
its licence.

Taught in week 1 (01a-the-ml-workflow), with helpers.ready; used by every notebook that downloads.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Files:
    """What the full profile loads from one download (``patterns``: a Hub repo's ``allow_patterns``, ``*`` spans
    folders) and what must be there, complete (``required``: a name, a glob, ``a|b``, or for local data in ``folder``
    of the course data, ``name=BYTES`` or ``name>=BYTES``). ``course fetch`` downloads it; :func:`check` requires it."""

    name: str
    patterns: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    folder: str = ""
    prepared: bool = False  # a data set `load_dataset` reads: offline it needs the copy `datasets` prepared


_WEIGHTS = "model.safetensors|model.safetensors.index.json"  # one file, or an index naming every shard
_LM = ("config.json", "generation_config.json", "model.safetensors", "model.safetensors.index.json",
       "model-*-of-*.safetensors", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
       "added_tokens.json", "chat_template.jinja", "chat_template.json")  # safetensors only, never *.bin or original/
_SD = ("model_index.json", "scheduler/*", "tokenizer/*", "feature_extractor/*")
_SD_MODELS = tuple(f"{m}/{f}" for m, w in (("text_encoder", "model"), ("unet", "diffusion_pytorch_model"),
                                           ("vae", "diffusion_pytorch_model")) for f in ("config.json", f"{w}.fp16.safetensors"))
_SDXL_MODELS = _SD_MODELS + ("text_encoder_2/config.json", "text_encoder_2/model.fp16.safetensors")
_MNIST = tuple(f"MNIST/raw/{n}" for n in ("train-images-idx3-ubyte=47040016", "train-labels-idx1-ubyte=60008",
                                         "t10k-images-idx3-ubyte=7840016", "t10k-labels-idx1-ubyte=10008"))


def _lm(name: str, *extra: str) -> Files:
    """A transformers model: its config, safetensors weights and tokenizer (+ ``extra`` files)."""
    return Files(name, _LM + extra, ("config.json", _WEIGHTS, "tokenizer.json|tokenizer.model|vocab.json|vocab.txt"))


FILES: dict[str, Files] = {
    "hf-model:distilbert/distilbert-base-uncased": _lm("DistilBERT", "vocab.txt"),
    "hf-model:openai-community/gpt2": _lm("GPT-2 small", "vocab.json", "merges.txt"),
    "hf-model:unsloth/Llama-3.1-8B-Instruct": _lm("Llama 3.1 8B Instruct"),
    "hf-model:unsloth/mistral-7b-v0.3": _lm("Mistral 7B v0.3", "tokenizer.model"),
    "hf-model:HuggingFaceTB/SmolLM2-1.7B-Instruct": _lm("SmolLM2 1.7B Instruct", "vocab.json", "merges.txt"),
    "hf-model:llava-hf/llava-interleave-qwen-0.5b-hf": _lm("LLaVA-Interleave Qwen 0.5B", "vocab.json", "merges.txt",
                                                           "preprocessor_config.json", "processor_config.json"),
    "hf-model:stable-diffusion-v1-5/stable-diffusion-v1-5": Files(  # the fp16 variant, without the safety checker
        "Stable Diffusion 1.5 (fp16)", _SD + _SD_MODELS, ("model_index.json", "scheduler/scheduler_config.json",
                                                          "tokenizer/vocab.json", "tokenizer/merges.txt") + _SD_MODELS),
    "hf-model:google/flan-t5-base": _lm("FLAN-T5 base", "spiece.model"),
    # the models that only some rungs of a ladder load (helpers.ladders: a smaller card, or the CPU)
    "hf-model:unsloth/Llama-3.2-3B-Instruct": _lm("Llama 3.2 3B Instruct"),
    "hf-model:HuggingFaceTB/SmolLM2-135M": _lm("SmolLM2 135M", "vocab.json", "merges.txt"),
    "hf-model:HuggingFaceTB/SmolLM2-360M-Instruct": _lm("SmolLM2 360M Instruct", "vocab.json", "merges.txt"),
    "hf-model:HuggingFaceTB/SmolLM2-1.7B": _lm("SmolLM2 1.7B", "vocab.json", "merges.txt"),
    "hf-model:llava-hf/llava-1.5-7b-hf": _lm("LLaVA-1.5 7B", "tokenizer.model", "preprocessor_config.json",
                                             "processor_config.json"),
    "hf-model:stabilityai/sd-turbo": Files(  # SD 2.1 distilled to one step: the fp16 variant, as 08a loads it
        "SD-Turbo (fp16)", _SD + _SD_MODELS, ("model_index.json", "scheduler/scheduler_config.json",
                                              "tokenizer/vocab.json", "tokenizer/merges.txt") + _SD_MODELS),
    "hf-model:stabilityai/stable-diffusion-xl-base-1.0": Files(  # two text encoders; the fp16 variant
        "SDXL base 1.0 (fp16)", _SD + ("tokenizer_2/*",) + _SDXL_MODELS,
        ("model_index.json", "scheduler/scheduler_config.json", "tokenizer/vocab.json", "tokenizer_2/vocab.json")
        + _SDXL_MODELS),
    "hf-dataset:stanfordnlp/sst2": Files("SST-2", ("README.md", "*.parquet"), ("README.md", "*.parquet"), prepared=True),
    "hf-dataset:yahma/alpaca-cleaned": Files("Alpaca (cleaned)", ("README.md", "alpaca_data_cleaned.json"),
                                             ("alpaca_data_cleaned.json",), prepared=True),
    "hf-dataset:roneneldan/TinyStories": Files("TinyStories (validation text)", ("TinyStoriesV2-GPT4-valid.txt",),
                                               ("TinyStoriesV2-GPT4-valid.txt",)),
    "hf-dataset:Helsinki-NLP/opus_books": Files("OPUS books (en-fr)", ("README.md", "*en-fr*"), ("*en-fr*.parquet",),
                                                prepared=True),
    "hf-dataset:FiscalNote/billsum": Files("BillSum", ("README.md", "*.parquet"), ("*.parquet",), prepared=True),
    "torchvision:MNIST": Files("MNIST", folder="torchvision", required=_MNIST),
    "torchvision:CIFAR10": Files("CIFAR-10", folder="torchvision", required=tuple(
        f"cifar-10-batches-py/{n}>=30720000" for n in ("data_batch_1", "data_batch_2", "data_batch_3",
                                                       "data_batch_4", "data_batch_5", "test_batch"))
        + ("cifar-10-batches-py/batches.meta>=100",)),
    "torchvision:OxfordIIITPet": Files("Oxford-IIIT Pets", folder="torchvision", required=(
        "oxford-iiit-pet/annotations/trainval.txt", "oxford-iiit-pet/annotations/test.txt")),  # + every image listed
    "torchvision:PennFudanPed": Files("Penn-Fudan pedestrians", folder="torchvision", required=(
        "PennFudanPed/.built.json", "PennFudanPed/PNGImages/*.png", "PennFudanPed/PedMasks/*.png")),
    "pyg:Cora": Files("Cora", folder="pyg", required=tuple(
        f"Cora/raw/ind.cora.{n}" for n in ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index"))),
    "sklearn:california_housing": Files("California housing", folder="scikit-learn",
                                        required=("cal_housing_py3.pkz>=100000",)),
    "openml:titanic": Files("OpenML titanic (version 1)", folder="scikit-learn",  # fetch --verify reads it all
                            required=("openml/openml.org/api/v1/json/data/list/data_name/titanic/limit/2/data_version/1.gz",)),
}
