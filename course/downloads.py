"""What each download of the full profile is: the files it brings, their sizes, its licence, and the USB question.

``helpers.ready.FILES`` says which files each notebook *loads* (what ``course fetch`` downloads and what counts
as complete); this table says what a workshop needs to know about them: what the download is, the size of
each file as recorded from the Hub's file listing (used by ``course fetch --dry-run`` offline and by the doctor's
disk check; online, ``course fetch`` asks the Hub for the exact sizes), the licence on its card, and whether a
copy may be handed out on a USB stick.

Sizes in bytes, rounded, transcribed from each repository's file list and card by the course's authors (the machine
that keeps this table cannot reach the Hub, so they are not re-read there): ``course fetch --dry-run`` marks them
with "~" and, online, asks the Hub for the exact sizes. Licences change: read the card (``url``) before copying
anything. ``docs/LICENCES.md`` is generated from this table
(``python -m course.guide``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from helpers.ready import FILES

MB, GB = 1_000_000, 1_000_000_000

# What "usb" says: may a copy go on a stick handed to participants?
USB = {
    "yes": "yes: the licence allows copies; keep its notice with it",
    "yes-licence": "yes, with the licence file and its use restrictions passed on",
    "check": "check first: no licence stated (widely mirrored for research and teaching); cite the source",
    "no": "no: each participant must accept the terms and download it",
}


@dataclass(frozen=True)
class Download:
    """One syllabus download: what it is, its files with recorded sizes, licence, and USB redistribution."""

    what: str
    files: dict[str, int] = field(default_factory=dict)  # file -> bytes (recorded; small files summed as "...")
    licence: str = ""
    usb: str = "check"  # a key of USB
    url: str = ""  # the card or page that states the licence
    note: str = ""
    config: str | None = None  # a Hub data set's configuration, as the notebook's load_dataset names it

    @property
    def bytes(self) -> int:
        """Recorded size of everything it brings."""
        return sum(self.files.values())


_LM_SMALL = "config, generation config, tokenizer files"

DOWNLOADS: dict[str, Download] = {
    "hf-model:distilbert/distilbert-base-uncased": Download(
        "DistilBERT base (uncased), 66M parameters, fp32", {"model.safetensors": 268 * MB, _LM_SMALL: 1 * MB},
        "Apache-2.0", "yes", "https://huggingface.co/distilbert/distilbert-base-uncased"),
    "hf-model:openai-community/gpt2": Download(
        "GPT-2 small, 124M parameters, fp32", {"model.safetensors": 548 * MB, _LM_SMALL: 3 * MB},
        "MIT", "yes", "https://huggingface.co/openai-community/gpt2"),
    "hf-dataset:stanfordnlp/sst2": Download(
        "SST-2 movie-review sentences (67k train), Parquet, plus the copy `datasets` prepares",
        {"data/train-00000-of-00001.parquet": 3_100_000, "data/validation-00000-of-00001.parquet": 72_000,
         "data/test-00000-of-00001.parquet": 148_000, "README.md": 6_000, "prepared copy (Arrow)": 5 * MB},
        "unknown on its card (Stanford Sentiment Treebank)", "check", "https://huggingface.co/datasets/stanfordnlp/sst2"),
    "hf-model:unsloth/Llama-3.1-8B-Instruct": Download(
        "Llama 3.1 8B Instruct (ungated copy), bf16 shards, quantised to 4-bit on load",
        {"model-00001-of-00004.safetensors": 4_976 * MB, "model-00002-of-00004.safetensors": 5_000 * MB,
         "model-00003-of-00004.safetensors": 4_915 * MB, "model-00004-of-00004.safetensors": 1_168 * MB,
         "model.safetensors.index.json": 24_000, _LM_SMALL: 9 * MB},
        "Llama 3.1 Community License", "yes-licence", "https://huggingface.co/unsloth/Llama-3.1-8B-Instruct",
        "copies must carry the licence and \"Built with Llama\"; recipients accept the Acceptable Use Policy"),
    "hf-model:unsloth/mistral-7b-v0.3": Download(
        "Mistral 7B v0.3 base, bf16 shards, quantised to 4-bit on load (QLoRA)",
        {"model-00001-of-00003.safetensors": 4_950 * MB, "model-00002-of-00003.safetensors": 5_000 * MB,
         "model-00003-of-00003.safetensors": 4_546 * MB, "model.safetensors.index.json": 24_000,
         "tokenizer.model": 587_000, _LM_SMALL: 4 * MB},
        "Apache-2.0", "yes", "https://huggingface.co/unsloth/mistral-7b-v0.3"),
    "hf-dataset:yahma/alpaca-cleaned": Download(
        "Alpaca instructions, cleaned (51.8k pairs), JSON, plus the copy `datasets` prepares",
        {"alpaca_data_cleaned.json": 44_300_000, "README.md": 3_000, "prepared copy (Arrow)": 40 * MB},
        "CC BY 4.0 on its card (from Stanford Alpaca, released CC BY-NC 4.0)", "yes",
        "https://huggingface.co/datasets/yahma/alpaca-cleaned", "a non-commercial workshop is safe under both"),
    "hf-model:stable-diffusion-v1-5/stable-diffusion-v1-5": Download(
        "Stable Diffusion 1.5, the fp16 files only, without the safety checker",
        {"unet/diffusion_pytorch_model.fp16.safetensors": 1_720 * MB, "text_encoder/model.fp16.safetensors": 246 * MB,
         "vae/diffusion_pytorch_model.fp16.safetensors": 167 * MB, "configs, tokenizer, scheduler": 2 * MB},
        "CreativeML OpenRAIL-M", "yes-licence", "https://huggingface.co/stable-diffusion-v1-5/stable-diffusion-v1-5",
        "copies must pass on the licence and its use-based restrictions"),
    "hf-model:llava-hf/llava-interleave-qwen-0.5b-hf": Download(
        "LLaVA-Interleave (SigLIP + Qwen1.5 0.5B), 0.9B parameters, fp16",
        {"model.safetensors": 1_790 * MB, "tokenizer and processor files": 12 * MB},
        "see its card (its language model is Qwen1.5 0.5B: Tongyi Qianwen research licence)", "check",
        "https://huggingface.co/llava-hf/llava-interleave-qwen-0.5b-hf"),
    "hf-model:HuggingFaceTB/SmolLM2-1.7B-Instruct": Download(
        "SmolLM2 1.7B Instruct, bf16", {"model.safetensors": 3_420 * MB, _LM_SMALL: 4 * MB},
        "Apache-2.0", "yes", "https://huggingface.co/HuggingFaceTB/SmolLM2-1.7B-Instruct"),
    # the models that only some rungs of a ladder load (helpers.ladders): smaller cards, and the CPU rungs
    "hf-model:unsloth/Llama-3.2-3B-Instruct": Download(
        "Llama 3.2 3B Instruct (ungated copy), bf16 shards: 06a's rungs for 6-8 GB, quantised to 4-bit on load",
        {"model-00001-of-00002.safetensors": 4_966 * MB, "model-00002-of-00002.safetensors": 1_460 * MB,
         "model.safetensors.index.json": 21_000, _LM_SMALL: 9 * MB},
        "Llama 3.2 Community License", "yes-licence", "https://huggingface.co/unsloth/Llama-3.2-3B-Instruct",
        "copies must carry the licence and \"Built with Llama\"; recipients accept the Acceptable Use Policy"),
    "hf-model:HuggingFaceTB/SmolLM2-135M": Download(
        "SmolLM2 135M (base), bf16: 07a's CPU rung", {"model.safetensors": 269 * MB, _LM_SMALL: 3 * MB},
        "Apache-2.0", "yes", "https://huggingface.co/HuggingFaceTB/SmolLM2-135M"),
    "hf-model:HuggingFaceTB/SmolLM2-360M-Instruct": Download(
        "SmolLM2 360M Instruct, bf16: the CPU rungs of 06a and e6", {"model.safetensors": 724 * MB, _LM_SMALL: 3 * MB},
        "Apache-2.0", "yes", "https://huggingface.co/HuggingFaceTB/SmolLM2-360M-Instruct"),
    "hf-model:HuggingFaceTB/SmolLM2-1.7B": Download(
        "SmolLM2 1.7B (base), bf16: 07a's rung for 6 GB", {"model.safetensors": 3_422 * MB, _LM_SMALL: 3 * MB},
        "Apache-2.0", "yes", "https://huggingface.co/HuggingFaceTB/SmolLM2-1.7B"),
    "hf-model:llava-hf/llava-1.5-7b-hf": Download(
        "LLaVA-1.5 7B (CLIP ViT-L + Vicuna 7B), fp16 shards: e3's rung for 16-24 GB",
        {"model-00001-of-00003.safetensors": 4_990 * MB, "model-00002-of-00003.safetensors": 4_960 * MB,
         "model-00003-of-00003.safetensors": 4_180 * MB, "tokenizer and processor files": 2 * MB},
        "Llama 2 Community License (its language model, Vicuna 7B v1.5, is fine-tuned Llama 2)", "yes-licence",
        "https://huggingface.co/llava-hf/llava-1.5-7b-hf", "copies must carry the Llama 2 licence and its use policy"),
    "hf-model:stabilityai/sd-turbo": Download(
        "SD-Turbo (SD 2.1 distilled to one step), the fp16 files: 08a's CPU rung",
        {"unet/diffusion_pytorch_model.fp16.safetensors": 1_731 * MB, "text_encoder/model.fp16.safetensors": 681 * MB,
         "vae/diffusion_pytorch_model.fp16.safetensors": 167 * MB, "configs, tokenizer, scheduler": 2 * MB},
        "Stability AI Community License (free below US$1M annual revenue)", "yes-licence",
        "https://huggingface.co/stabilityai/sd-turbo", "copies must carry the licence; read its use policy"),
    "hf-model:stabilityai/stable-diffusion-xl-base-1.0": Download(
        "Stable Diffusion XL base 1.0, the fp16 files: 08a's rungs for 16-24 GB and its offload rung",
        {"unet/diffusion_pytorch_model.fp16.safetensors": 5_135 * MB, "text_encoder_2/model.fp16.safetensors": 1_390 * MB,
         "text_encoder/model.fp16.safetensors": 246 * MB, "vae/diffusion_pytorch_model.fp16.safetensors": 167 * MB,
         "configs, tokenizers, scheduler": 3 * MB},
        "CreativeML Open RAIL++-M", "yes-licence", "https://huggingface.co/stabilityai/stable-diffusion-xl-base-1.0",
        "copies must pass on the licence and its use-based restrictions"),
    "torchvision:MNIST": Download(
        "MNIST handwritten digits (60k + 10k), the archives and their unpacked IDX files",
        {"four .gz archives": 11_600_000, "four IDX files": 54_950_048},
        "CC BY-SA 3.0 (Yann LeCun, Corinna Cortes)", "yes", "http://yann.lecun.com/exdb/mnist/"),
    "torchvision:CIFAR10": Download(
        "CIFAR-10 (50k + 10k images, 32x32), the archive and its unpacked batches",
        {"cifar-10-python.tar.gz": 170_498_071, "cifar-10-batches-py/ (6 batches + meta)": 186_214_000},
        "no licence stated; cite Krizhevsky (2009)", "check", "https://www.cs.toronto.edu/~kriz/cifar.html"),
    "torchvision:OxfordIIITPet": Download(
        "Oxford-IIIT Pets (37 breeds, 7,349 photos) and its annotations",
        {"images.tar.gz": 791_918_971, "annotations.tar.gz": 19_173_078, "unpacked copies": 810 * MB},
        "CC BY-SA 4.0 (images' copyright stays with their owners)", "yes",
        "https://www.robots.ox.ac.uk/~vgg/data/pets/"),
    "torchvision:PennFudanPed": Download(
        "Penn-Fudan pedestrians (170 images, 345 people), unpacked", {"PennFudanPed.zip (unpacked)": 53_700_000},
        "no licence stated; for research use, cite Wang et al. (2007)", "check",
        "https://www.cis.upenn.edu/~jshi/ped_html/"),
    "torchvision:ResNet18_Weights.IMAGENET1K_V1": Download(
        "ResNet-18 trained on ImageNet-1k (torchvision's weights, in TORCH_HOME)", {"resnet18-f37072fd.pth": 46_830_571},
        "BSD-3-Clause (torchvision); trained on ImageNet, whose terms are for non-commercial research", "check",
        "https://pytorch.org/vision/stable/models/generated/torchvision.models.resnet18.html"),
    "torchvision:FasterRCNN_MobileNet_V3_Large_FPN_Weights.COCO_V1": Download(
        "Faster R-CNN, MobileNetV3-Large FPN, trained on COCO (torchvision's weights, in TORCH_HOME)",
        {"fasterrcnn_mobilenet_v3_large_fpn-fb6a3cc7.pth": 74_239_103},
        "BSD-3-Clause (torchvision); trained on COCO (annotations CC BY 4.0, images under Flickr terms)", "check",
        "https://pytorch.org/vision/stable/models/generated/torchvision.models.detection."
        "fasterrcnn_mobilenet_v3_large_fpn.html"),
    "hf-dataset:roneneldan/TinyStories": Download(
        "TinyStories: only the validation text of its GPT-4 version", {"TinyStoriesV2-GPT4-valid.txt": 22 * MB},
        "CDLA-Sharing-1.0", "yes", "https://huggingface.co/datasets/roneneldan/TinyStories",
        "copies must carry the same licence"),
    "hf-model:google/flan-t5-base": Download(
        "FLAN-T5 base (encoder-decoder, 248M parameters), fp32", {"model.safetensors": 990 * MB,
                                                                  "tokenizer files (spiece.model, tokenizer.json)": 3 * MB},
        "Apache-2.0", "yes", "https://huggingface.co/google/flan-t5-base"),
    "hf-dataset:Helsinki-NLP/opus_books": Download(
        "OPUS books, the English-French pairs (127k), Parquet, plus the copy `datasets` prepares",
        {"en-fr Parquet": 12 * MB, "prepared copy (Arrow)": 30 * MB},
        "see its card (OPUS: texts of books in the public domain, aligned)", "check",
        "https://huggingface.co/datasets/Helsinki-NLP/opus_books", config="en-fr"),
    "hf-dataset:FiscalNote/billsum": Download(
        "BillSum: US Congressional and California bills with summaries, Parquet, plus the copy `datasets` prepares",
        {"Parquet (train, test, ca_test)": 95 * MB, "prepared copy (Arrow)": 270 * MB},
        "CC0-1.0", "yes", "https://huggingface.co/datasets/FiscalNote/billsum"),
    "pyg:Cora": Download(
        "Cora citation graph (2,708 papers), Planetoid split, raw and processed",
        {"Cora/raw (8 files)": 4_200_000, "Cora/processed": 15 * MB},
        "no licence stated (LINQS, McCallum et al.)", "check", "https://linqs.org/datasets/#cora"),
    "sklearn:california_housing": Download(
        "California housing (20,640 districts, 1990 census), scikit-learn's cached copy",
        {"cal_housing_py3.pkz": 500_000},
        "no licence stated (StatLib, Pace and Barry 1997)", "check",
        "https://scikit-learn.org/stable/datasets/real_world.html#california-housing-dataset"),
    "openml:titanic": Download(
        "Titanic passengers (1,309 x 14), OpenML data set 40945 (Frank Harrell's titanic3)",
        {"the listing, description, features and ARFF data (gzip)": 100_000},
        "Public on OpenML", "yes", "https://www.openml.org/d/40945",
        "offline, the notebook uses the copy that ships with the course (helpers/coursedata, GPL-2+)"),
}


def has_files(spec: str) -> bool:
    """True when helpers.ready knows which files its notebook loads (FILES; torchvision weights by their name)."""
    return spec in FILES or (spec.startswith("torchvision:") and "_Weights." in spec)


def known(spec: str) -> bool:
    """True when both tables know it: which files its notebook loads (helpers.ready) and what it is (here)."""
    return has_files(spec) and spec in DOWNLOADS


def missing_line(spec: str) -> str:
    """The one line for a download the course has no file list for."""
    where = [t for t, ok in (("FILES in helpers/ready.py", has_files(spec)), ("DOWNLOADS in course/downloads.py",
                                                                               spec in DOWNLOADS)) if not ok]
    return f"{spec}: no file list known: add it to {' and '.join(where)}"


def recorded_bytes(spec: str) -> int | None:
    """The recorded size of a download in bytes, or None when the table does not know it."""
    return DOWNLOADS[spec].bytes if spec in DOWNLOADS else None


def human(n: float | None) -> str:
    """Bytes in words: '16.1 GB', '548 MB', '0.5 MB', '24 kB', or '?' when unknown."""
    if n is None:
        return "?"
    if n >= GB:
        return f"{n / GB:.1f} GB"
    return f"{n / MB:.0f} MB" if n >= 10 * MB else f"{n / MB:.1f} MB" if n >= MB / 10 else f"{n / 1000:.0f} kB"
